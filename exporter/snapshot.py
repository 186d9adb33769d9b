"""One full read of the swarm into a model, for a one-shot view (``swarm-sentinel status``).

The watcher keeps a model up to date over time (events, polls, relists in
slices); this reads everything once, in order, and is done.
"""

from __future__ import annotations

import contextlib

from exporter import planning
from exporter.engine import Engine
from exporter.errors import NotFound, Refused
from exporter.model import SwarmModel


async def read_once(engine: Engine, model: SwarmModel) -> None:
    """Fill ``model`` from ``engine``. Raises what ``Engine`` raises; /info is in the
    model even when what it says (a worker, no leader) is raised."""
    info = await engine.info()
    model.set_info(info)
    engine.require_manager(info)
    model.replace_nodes(await engine.nodes())
    model.replace_services(await engine.services())
    model.replace_tasks(await engine.tasks(), None, whole=True)
    planning.explain_placements(model)
    # The networks, secrets and configs, unless refused or not found (a proxy allowing
    # only some endpoints): the report then says nothing of them.
    with contextlib.suppress(Refused, NotFound):
        model.replace_networks(await engine.networks())
    for kind, listed in (("secret", engine.secrets), ("config", engine.configs)):
        with contextlib.suppress(Refused, NotFound):
            model.replace_inventory(kind, await listed())
