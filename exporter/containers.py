"""What this node's own engine says of its task containers, counted once each.

The managers' task lists say a task failed, late and not always (a task that dies
and is replaced between two polls leaves no trace); they never say that the kernel's
OOM killer did it, nor how often a health check failed. Every engine tells that of
its own containers, at once, in its event stream: ``die`` with the exit code,
``oom``, ``health_status: unhealthy``, ``start``. Each instance of swarm-sentinel
counts its own node's, per service: summed across instances, they are the swarm's.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import TypeVar

from exporter.types import ContainerEvent, ServiceKey

EXIT_REASONS = ("completed", "nonzero_exit", "oom", "healthcheck", "stopped")
"""Why a task's container ended: exit 0; another exit code; killed by the OOM
killer; killed after its health check turned unhealthy; stopped by the engine (a
scale down, a rolling update, a drain, a removal, a force: a ``kill`` before the
``die``), whatever code it then exited with."""

NOT_STOPPING_SIGNALS = frozenset({"1", "10", "12", "28"})
"""Signals a ``docker kill -s`` sends to a running program without meaning to end it
(HUP, USR1, USR2, WINCH: reload, reopen logs, resize): after one, a death is its own."""

K = TypeVar("K")


@dataclass
class ServiceContainers:
    """One service's containers on this node, since this instance started."""

    exits: Counter[str] = field(default_factory=Counter)  # reason -> count
    starts: int = 0
    unhealthy: int = 0  # health checks turning unhealthy
    last_exit_code: int | None = None
    last_exit_at: float = 0.0  # the engine's time, epoch seconds


class NodeContainers:
    """The counts of this node's task containers by service, each event counted once
    however often a reconnect's replay delivers it."""

    def __init__(self, remember: int = 20_000) -> None:
        self.node_id = ""
        self.hostname = ""
        """Which node: its engine's /info, the container watcher's first call."""
        self.services: dict[ServiceKey, ServiceContainers] = {}
        self._remember = remember
        self._seen: OrderedDict[tuple[str, str, int], None] = OrderedDict()
        # Containers whose next death has a known cause.
        self._oom: OrderedDict[str, None] = OrderedDict()
        self._unhealthy: OrderedDict[str, None] = OrderedDict()
        self._stopping: OrderedDict[str, None] = OrderedDict()
        self._changed: set[ServiceKey] = set()

    def apply(self, event: ContainerEvent) -> bool:
        """Count ``event``; whether a count changed (not for a replay, nor a ``kill``)."""
        if event.key in self._seen:
            return False
        self._remember_key(self._seen, event.key)
        key = (event.service_name, event.stack)
        counts = self.services.setdefault(key, ServiceContainers())
        cid = event.container_id
        if event.action == "start":
            counts.starts += 1
        elif event.action == "oom":
            self._remember_key(self._oom, cid)
        elif event.action == "kill":
            # Says why the ``die`` that follows happened; nothing to show by itself.
            if event.signal not in NOT_STOPPING_SIGNALS:
                self._remember_key(self._stopping, cid)
            return False
        elif event.action == "health_status":
            if event.health == "unhealthy":
                counts.unhealthy += 1
                self._remember_key(self._unhealthy, cid)
            else:
                self._unhealthy.pop(cid, None)
        elif event.action == "die":
            counts.exits[self._why(event)] += 1
            counts.last_exit_code = event.exit_code
            counts.last_exit_at = event.time_nano / 1e9
            self._oom.pop(cid, None)
            self._unhealthy.pop(cid, None)
            self._stopping.pop(cid, None)
        else:
            return False
        self._changed.add(key)
        return True

    def _why(self, event: ContainerEvent) -> str:
        if event.container_id in self._oom:
            return "oom"  # the kernel killed it: exit 137, say why
        if event.container_id in self._unhealthy:
            return "healthcheck"  # swarm killed it for its failing health check
        if event.container_id in self._stopping:
            return "stopped"  # the engine stopped it: a deploy, not a failure
        return "completed" if event.exit_code == 0 else "nonzero_exit"

    def _remember_key(self, into: OrderedDict[K, None], key: K) -> None:
        into[key] = None
        if len(into) > self._remember:
            into.popitem(last=False)  # the oldest: no replay reaches back that far

    def take_changes(self) -> frozenset[ServiceKey]:
        changed = frozenset(self._changed)
        self._changed.clear()
        return changed
