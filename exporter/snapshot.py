"""One full read of the swarm into a model, for a one-shot view (``swarm-sentinel status``).

The watcher keeps a model up to date over time (events, polls, relists in
slices); this reads everything once, in order, and is done.
"""

from __future__ import annotations

from exporter import planning
from exporter.engine import Engine
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
