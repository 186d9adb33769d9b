"""What this node's own engine says of its task containers, counted once each.

The managers' task lists say a task failed, late and not always (a task that dies
and is replaced between two polls leaves no trace); they never say that the kernel's
OOM killer did it, nor how often a health check failed. Every engine tells that of
its own containers, at once, in its event stream: ``die`` with the exit code,
``oom``, ``health_status: unhealthy``, ``start``. Each instance of swarm-sentinel
counts its own node's, per service: summed across instances, they are the swarm's.

A service's counts live as long as it has containers on this node, and a while after
(``forget_after``): a swarm that deploys short-lived stacks would otherwise keep the
series of every service it ever ran. The while after keeps a crash loop's counts when
swarm removes each dead container before the next starts (task history limit 0).
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from exporter.types import ContainerEvent, ServiceKey, TaskContainer

EXIT_REASONS = ("completed", "nonzero_exit", "oom", "healthcheck", "stopped")
"""Why a task's container ended: exit 0; another exit code; killed by the OOM
killer; killed after its health check turned unhealthy; stopped by the engine (a
scale down, a rolling update, a drain, a removal, a force: a ``kill`` before the
``die``), whatever code it then exited with."""

NOT_STOPPING_SIGNALS = frozenset({"1", "10", "12", "28"})
"""Signals a ``docker kill -s`` sends to a running program without meaning to end it
(HUP, USR1, USR2, WINCH: reload, reopen logs, resize): after one, a death is its own."""

FORGET_AFTER = 300.0
"""Seconds a service's counts outlive its last container on the node, by default."""

MAX_SERVICES = 10_000
"""Services whose counts a node keeps at most; past it, a new one's events are dropped
(counted) unless a service with no container left can make room."""

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

    def __init__(
        self,
        remember: int = 20_000,
        *,
        forget_after: float = FORGET_AFTER,
        max_services: int = MAX_SERVICES,
    ) -> None:
        self.node_id = ""
        self.hostname = ""
        """Which node: its engine's /info, the container watcher's first call."""
        self.services: dict[ServiceKey, ServiceContainers] = {}
        self.forget_after = forget_after
        self.max_services = max_services
        self.dropped = 0
        """Events not counted: their service was new and ``max_services`` full."""
        self._remember = remember
        self._seen: OrderedDict[tuple[str, str, int], None] = OrderedDict()
        # Containers whose next death has a known cause.
        self._oom: OrderedDict[str, None] = OrderedDict()
        self._unhealthy: OrderedDict[str, None] = OrderedDict()
        self._stopping: OrderedDict[str, None] = OrderedDict()
        # The containers the engine holds (created, not destroyed), and for each
        # service with counts but none of those, since when (epoch seconds; oldest first).
        self._live: dict[str, ServiceKey] = {}
        self._live_count: Counter[ServiceKey] = Counter()
        self._idle_since: dict[ServiceKey, float] = {}
        self._changed: set[ServiceKey] = set()
        self._removed: set[ServiceKey] = set()

    def apply(self, event: ContainerEvent) -> bool:
        """Count ``event``; whether a count changed (not for a replay, nor a ``kill``)."""
        if event.key in self._seen:
            return False
        self._remember_key(self._seen, event.key)
        key, cid, action = event.service, event.container_id, event.action
        if action in ("create", "start"):
            self._hold(cid, key, event.time_nano / 1e9)
        if action == "destroy":
            self._let_go(cid, event.time_nano / 1e9)
            return False
        if action == "kill":
            # Says why the ``die`` that follows happened; nothing to show by itself.
            if event.signal not in NOT_STOPPING_SIGNALS:
                self._remember_key(self._stopping, cid)
            return False
        if action == "oom":
            self._remember_key(self._oom, cid)  # the ``die`` that follows says it
            return False
        if action == "health_status":
            if event.health != "unhealthy":
                self._unhealthy.pop(cid, None)
                return False
            self._remember_key(self._unhealthy, cid)
        why = ""
        if action == "die":
            why = self._why(event)
            self._oom.pop(cid, None)
            self._unhealthy.pop(cid, None)
            self._stopping.pop(cid, None)
        elif action not in ("start", "health_status"):
            return False  # create: counted by nothing
        counts = self._record(key, event.time_nano / 1e9)
        if counts is None:
            return False
        if action == "start":
            counts.starts += 1
        elif action == "health_status":
            counts.unhealthy += 1
        else:
            counts.exits[why] += 1
            counts.last_exit_code = event.exit_code
            counts.last_exit_at = event.time_nano / 1e9
        self._changed.add(key)
        return True

    def reconcile(self, containers: Iterable[TaskContainer], now: float) -> None:
        """The task containers the engine holds now (its list, at each stream opening):
        what a lost stream's destroys, or those before this instance, did not say."""
        self._live = {}
        for c in containers:
            if len(self._live) < self._remember:
                self._live[c.container_id] = c.service
        self._live_count = Counter(self._live.values())
        for key in self.services:
            if key in self._live_count:
                self._idle_since.pop(key, None)
            else:
                self._idle_since.setdefault(key, now)

    def forget_idle(self, now: float) -> int:
        """Forget the services with no container here for ``forget_after``: their
        series go (``take_changes``). Returns how many."""
        gone = [k for k, since in self._idle_since.items() if now - since >= self.forget_after]
        for key in gone:
            self._forget(key)
        return len(gone)

    def take_changes(self) -> tuple[frozenset[ServiceKey], frozenset[ServiceKey]]:
        """The services whose counts changed, and those forgotten, since the last call."""
        changed, removed = frozenset(self._changed), frozenset(self._removed)
        self._changed.clear()
        self._removed.clear()
        return changed, removed

    def _record(self, key: ServiceKey, at: float) -> ServiceContainers | None:
        counts = self.services.get(key)
        if counts is not None:
            return counts
        if len(self.services) >= self.max_services:
            idle = next(iter(self._idle_since), None)  # the longest without a container
            if idle is None:
                self.dropped += 1
                return None
            self._forget(idle)
        counts = self.services[key] = ServiceContainers()
        self._removed.discard(key)
        if key not in self._live_count:
            self._idle_since[key] = at  # a container it never saw held: counts go in time
        return counts

    def _hold(self, cid: str, key: ServiceKey, at: float) -> None:
        if cid in self._live:
            return
        if len(self._live) >= self._remember:
            self._let_go(next(iter(self._live)), at)  # past any real node's count
        self._live[cid] = key
        self._live_count[key] += 1
        self._idle_since.pop(key, None)

    def _let_go(self, cid: str, at: float) -> None:
        key = self._live.pop(cid, None)
        if key is None:
            return
        self._live_count[key] -= 1
        if self._live_count[key] <= 0:
            del self._live_count[key]
            if key in self.services:
                self._idle_since.pop(key, None)
                self._idle_since[key] = at  # last in the order: the newest idle

    def _forget(self, key: ServiceKey) -> None:
        self.services.pop(key, None)
        self._idle_since.pop(key, None)
        self._changed.discard(key)
        self._removed.add(key)

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
