"""The simulated swarm's objects: records, with their rendered JSON cached on them.

The swarm changes them and drops the caches of what changed (``raw``, ``blob``,
``status``); ``shapes`` fills them on the next answer that needs them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True, eq=False)
class SimNode:
    id: str
    hostname: str
    role: str
    addr: str
    labels: dict[str, str]
    created: str
    updated: str
    version: int
    availability: str = "active"
    state: str = "ready"
    message: str = ""
    leader: bool = False
    reachability: str = "reachable"
    probe: bool = False
    raw: bytes | None = None


@dataclass(slots=True, eq=False)
class SimTask:
    id: str
    service: SimService
    slot: int  # 0 for global tasks (they have no Slot key)
    node_id: str
    spec: str  # the task template it was created from, compact JSON
    created: str
    updated: str
    timestamp: str
    state: str
    desired: str
    message: str
    version: int
    err: str = ""
    container_id: str = ""
    pid: int = 0
    exit_code: int = 0
    raw: bytes | None = None


@dataclass(slots=True, eq=False)
class SimService:
    id: str
    name: str
    stack: str
    image: str
    mode: str  # replicated | global
    replicas: int
    constraints: list[str]
    labels: dict[str, str]
    created: str
    updated: str
    version: int
    restart_delay: float
    force_update: int = 0
    update_state: str = ""
    update_started: str = ""
    update_completed: str = ""
    update_message: str = ""
    previous_spec: dict[str, Any] | None = None
    probe: bool = False
    # slot number (replicated) or node id (global) -> its tasks, oldest first
    slots: dict[int | str, list[SimTask]] = field(default_factory=dict)
    task_spec: str = ""
    raw: bytes | None = None  # without ServiceStatus
    blob: bytes | None = None  # its tasks, rendered and joined with ","
    status: bytes | None = None  # ',"ServiceStatus":{...}}'

    def changed(self) -> None:
        """Its tasks changed: drop the rendered list and counts."""
        self.blob = None
        self.status = None
