"""One full read of the swarm into a model, for a one-shot view (``swarm-sentinel status``),
or of some of its services (``swarm-sentinel wait``).

The watcher keeps a model up to date over time (events, polls, relists in
slices); this reads everything once, in order, and is done.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping

from exporter import planning
from exporter.engine import Engine
from exporter.errors import NotFound, Refused
from exporter.model import SwarmModel
from exporter.types import Service, Task


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


async def read_services(
    engine: Engine, filters: Mapping[str, list[str]], selects: Callable[[Service], bool]
) -> tuple[SwarmModel, list[Task]]:
    """A model of the services the engine's ``filters`` give and ``selects`` keeps (the
    engine's name filter matches prefixes), with the nodes and their tasks' whole
    histories; and those tasks. Where a pending task could go is not explained: the
    other services' tasks, which hold the nodes' resources, are not read."""
    model = SwarmModel()
    info = await engine.info()
    model.set_info(info)
    engine.require_manager(info)
    model.replace_nodes(await engine.nodes())
    services = [s for s in await engine.services(filters=filters) if selects(s)]
    model.replace_services(services)
    tasks = await engine.tasks([s.id for s in services]) if services else []
    model.replace_tasks(tasks, None, whole=True)
    return model, tasks
