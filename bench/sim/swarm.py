"""The simulated swarm: generated from a seed, changed by churn and on request, with
the events a manager emits for each change and counters of what it did."""

from __future__ import annotations

import asyncio
import functools
import heapq
import random
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bench.sim.filters import event_matches
from bench.sim.objects import SimNode, SimService, SimTask
from bench.sim.shapes import event_line, rfc3339, service_spec, task_spec

EVENT_REPLAY = 256  # dockerd keeps its last 256 events for ``since``
_ALNUM = "0123456789abcdefghijklmnopqrstuvwxyz"
_TRI = [a + b + c for a in _ALNUM for b in _ALNUM for c in _ALNUM]
PROBE_LABEL = "bench.probe"


@dataclass(frozen=True, slots=True)
class SimConfig:
    nodes: int = 100
    managers: int = 3
    services: int = 500
    tasks_per_service: int = 10
    history: int = 5
    seed: int = 1
    task_churn: float = 0.0
    service_churn: float = 0.0
    node_flaps: float = 0.0
    flap_seconds: float = 10.0
    restart_delay: float = 5.0
    broken_fraction: float = 0.01
    probe_services: int = 16
    probe_nodes: int = 8
    api_version: str = "1.41"
    """Whose answers to give: one of shapes.API_VERSIONS."""
    min_api_version: str = ""
    """Refuse clients below this, as Engine 29 refuses < 1.44; empty: refuse none."""


class Swarm:
    """The simulated swarm: its objects, churn, events and counters (its JSON is
    ``shapes``'s, what is asked of it the server's)."""

    def __init__(self, cfg: SimConfig) -> None:
        if cfg.nodes < 1 or not 1 <= cfg.managers <= cfg.nodes:
            raise ValueError("need at least one node and 1..nodes managers")
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)
        self.task_churn = cfg.task_churn
        self.service_churn = cfg.service_churn
        self.node_flaps = cfg.node_flaps
        self.raft_index = 10
        self.nodes: dict[str, SimNode] = {}
        self.services: dict[str, SimService] = {}
        self.by_name: dict[str, SimService] = {}
        self.tasks: dict[str, SimTask] = {}
        self.node_services: dict[str, set[SimService]] = {}
        self.counters: dict[str, int] = {
            "task_changes": 0,
            "service_updates": 0,
            "node_flaps": 0,
            "events": 0,
            "burst_events": 0,
        }
        self.started = time.monotonic()
        self.events: deque[tuple[int, dict[str, Any], bytes]] = deque(maxlen=EVENT_REPLAY)
        self.subscribers: list[tuple[Mapping[str, set[str]], asyncio.Queue[bytes]]] = []
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = 0
        self.burst: dict[str, float] = {}
        t0 = time.time()
        self._build(t0)

    # -- ids and clocks
    def _id(self) -> str:
        r = self.rng.getrandbits(128)
        t = _TRI
        return (
            t[r % 46656]
            + t[(r >> 16) % 46656]
            + t[(r >> 32) % 46656]
            + t[(r >> 48) % 46656]
            + t[(r >> 64) % 46656]
            + t[(r >> 80) % 46656]
            + t[(r >> 96) % 46656]
            + t[(r >> 112) % 46656]
            + _ALNUM[(r >> 3) % 36]
        )

    def _cid(self) -> str:
        return f"{self.rng.getrandbits(256):064x}"

    def _next_version(self) -> int:
        self.raft_index += 1
        return self.raft_index

    # -- generation
    def _build(self, now: float) -> None:
        cfg = self.cfg
        created = rfc3339(now - 86400)
        for i in range(cfg.nodes):
            manager = i < cfg.managers
            pool = "" if manager else f"pool-{(i - cfg.managers) // max(cfg.tasks_per_service, 1)}"
            node = SimNode(
                id=self._id(),
                hostname=f"node-{i:05d}",
                role="manager" if manager else "worker",
                addr=f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}",
                labels={"pool": pool, "zone": f"zone-{i % 3}"} if pool else {},
                created=created,
                updated=created,
                version=self._next_version(),
                leader=i == 0,
            )
            self.nodes[node.id] = node
        workers = [n for n in self.nodes.values() if n.role == "worker"]
        # The last k workers are for node probes (no probe service runs there), the k
        # before them host the probe services: both are kept out of the node flaps.
        k = min(cfg.probe_nodes, len(workers) // 4)
        for n in workers[len(workers) - k :]:
            n.probe = True
        self.quiet_nodes = workers[len(workers) - 2 * k : len(workers) - k] if k else []
        self.leader = next(iter(self.nodes.values()))
        pools: dict[str, list[SimNode]] = {}
        for n in workers:
            pools.setdefault(n.labels["pool"], []).append(n)
        pool_names = sorted(pools)
        placeable = workers or list(self.nodes.values())
        n_probe = min(cfg.probe_services, cfg.services // 10)
        for i in range(cfg.services):
            stack = f"stack-{i // 10:04d}"
            glob = i % 20 == 19 and bool(pool_names)
            pool = pool_names[(i // 20) % len(pool_names)] if glob else ""
            probe = i < n_probe and not glob
            labels = {"com.docker.stack.namespace": stack}
            if probe:
                labels[PROBE_LABEL] = "true"
            svc = SimService(
                id=self._id(),
                name=f"{stack}_svc-{i:05d}",
                stack=stack,
                image=f"bench/app-{i % 50}:1.{i % 7}",
                mode="global" if glob else "replicated",
                replicas=0 if glob else cfg.tasks_per_service,
                constraints=[f"node.labels.pool=={pool}"]
                if glob
                else (["node.role==worker"] if i % 4 == 0 and workers else []),
                labels=labels,
                created=created,
                updated=created,
                version=self._next_version(),
                restart_delay=cfg.restart_delay,
                probe=probe,
            )
            svc.task_spec = task_spec(svc)
            self.services[svc.id] = svc
            self.by_name[svc.name] = svc
            broken = not probe and self.rng.random() < cfg.broken_fraction
            if glob:
                for node in pools[pool]:
                    self._fill_slot(svc, node.id, 0, node, now, broken=False)
            else:
                for slot in range(1, cfg.tasks_per_service + 1):
                    if probe and self.quiet_nodes:
                        node = self.quiet_nodes[slot % len(self.quiet_nodes)]
                    else:
                        node = placeable[self.rng.randrange(len(placeable))]
                    last = broken and slot == cfg.tasks_per_service
                    self._fill_slot(svc, slot, slot, node, now, broken=last)
        self.churn_services = [s for s in self.services.values() if not s.probe]
        quiet = set(map(id, self.quiet_nodes))
        self.churn_nodes = [n for n in workers if not n.probe and id(n) not in quiet]

    def _fill_slot(
        self, svc: SimService, key: int | str, slot: int, node: SimNode, now: float, *, broken: bool
    ) -> None:
        tasks: list[SimTask] = []
        for h in range(self.cfg.history - 1, -1, -1):
            at = rfc3339(now - 3600 * (h + 1) + self.rng.random() * 60)
            if h:
                failed = self.rng.random() < 0.3
                t = SimTask(
                    id=self._id(),
                    service=svc,
                    slot=slot,
                    node_id=node.id,
                    spec=svc.task_spec,
                    created=at,
                    updated=at,
                    timestamp=at,
                    state="failed" if failed else "shutdown",
                    desired="shutdown",
                    message="started" if failed else "shutdown",
                    version=self._next_version(),
                    err="task: non-zero exit (1)" if failed else "",
                    container_id=self._cid(),
                    exit_code=1 if failed else 0,
                )
            elif broken:
                t = SimTask(
                    id=self._id(),
                    service=svc,
                    slot=slot,
                    node_id="",
                    spec=svc.task_spec,
                    created=at,
                    updated=at,
                    timestamp=at,
                    state="pending",
                    desired="running",
                    message="pending task scheduling",
                    version=self._next_version(),
                    err=f"no suitable node (insufficient resources on {len(self.nodes)} nodes)",
                )
            else:
                t = SimTask(
                    id=self._id(),
                    service=svc,
                    slot=slot,
                    node_id=node.id,
                    spec=svc.task_spec,
                    created=at,
                    updated=at,
                    timestamp=at,
                    state="running",
                    desired="running",
                    message="started",
                    version=self._next_version(),
                    container_id=self._cid(),
                    pid=1000 + self.rng.randrange(60000),
                )
            tasks.append(t)
            self.tasks[t.id] = t
        svc.slots[key] = tasks
        self.node_services.setdefault(node.id, set()).add(svc)

    # -- events
    def emit(self, typ: str, action: str, actor: str, attributes: dict[str, str]) -> float:
        ns = time.time_ns()
        ev: dict[str, Any] = {
            "Type": typ,
            "Action": action,
            "Actor": {"ID": actor, "Attributes": attributes},
            "scope": "swarm",
            "time": ns // 1_000_000_000,
            "timeNano": ns,
        }
        line = event_line(ev)
        self.events.append((ns, ev, line))
        self.counters["events"] += 1
        for filters, queue in self.subscribers:
            if event_matches(ev, filters):
                queue.put_nowait(line)
        return time.monotonic()

    # -- timers
    def after(self, delay: float, fn: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._timers, (time.monotonic() + delay, self._seq, fn))

    def run_timers(self) -> None:
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            _, _, fn = heapq.heappop(self._timers)
            fn()

    # -- mutations
    def _touch_task(self, t: SimTask, now: float) -> None:
        t.version = self._next_version()
        t.updated = t.timestamp = rfc3339(now)
        t.raw = None
        self.counters["task_changes"] += 1

    def _add_task(
        self, svc: SimService, key: int | str, node_id: str, state: str, now: float
    ) -> SimTask:
        at = rfc3339(now)
        t = SimTask(
            id=self._id(),
            service=svc,
            slot=key if isinstance(key, int) else 0,
            node_id=node_id,
            spec=svc.task_spec,
            created=at,
            updated=at,
            timestamp=at,
            state=state,
            desired=state,
            message="prepared" if state == "ready" else "started",
            version=self._next_version(),
        )
        hist = svc.slots.setdefault(key, [])
        hist.append(t)
        self.tasks[t.id] = t
        while len(hist) > self.cfg.history:
            old = hist.pop(0)
            self.tasks.pop(old.id, None)
        self.node_services.setdefault(node_id, set()).add(svc)
        svc.changed()
        return t

    def _start(self, svc: SimService, key: int | str, t: SimTask) -> None:
        hist = svc.slots.get(key)
        if not hist or hist[-1] is not t or t.state != "ready":
            return
        t.state = t.desired = "running"
        t.message = "started"
        t.container_id = self._cid()
        t.pid = 1000 + self.rng.randrange(60000)
        self._touch_task(t, time.time())
        svc.changed()

    def _pick_node(self, svc: SimService) -> str:
        if svc.mode == "global":
            return ""
        pool = (self.quiet_nodes if svc.probe else self.churn_nodes) or list(self.nodes.values())
        return pool[self.rng.randrange(len(pool))].id

    def restart(self, svc: SimService, key: int | str | None = None, exit_code: int = 1) -> bool:
        """The current task of a slot fails; a replacement runs after the restart delay."""
        keys = list(svc.slots)
        if not keys:
            return False
        if key is None:
            key = keys[self.rng.randrange(len(keys))]
        hist = svc.slots.get(key)
        if not hist or hist[-1].state != "running":
            return False
        cur = hist[-1]
        now = time.time()
        cur.state, cur.desired = "failed", "shutdown"
        cur.err, cur.exit_code, cur.pid = f"task: non-zero exit ({exit_code})", exit_code, 0
        self._touch_task(cur, now)
        node_id = cur.node_id if svc.mode == "global" else self._pick_node(svc)
        new = self._add_task(svc, key, node_id, "ready", now)
        self.counters["task_changes"] += 1
        self.after(svc.restart_delay, functools.partial(self._start, svc, key, new))
        return True

    def update_service(
        self,
        svc: SimService,
        *,
        labels: dict[str, str] | None = None,
        replicas: int | None = None,
        image: str | None = None,
        force_update: int | None = None,
    ) -> float:
        """A spec update with the events dockerd emits; returns the event's monotonic time."""
        now = time.time()
        svc.previous_spec = service_spec(svc)
        attrs = {"name": svc.name}
        if labels is not None:
            svc.labels = labels
        rolling = False
        if image is not None and image != svc.image:
            attrs["image.new"], attrs["image.old"] = image, svc.image
            svc.image = image
            rolling = True
        if force_update is not None and force_update != svc.force_update:
            svc.force_update = force_update
            rolling = True
        if replicas is not None and svc.mode == "replicated" and replicas != svc.replicas:
            attrs["replicas.new"], attrs["replicas.old"] = str(replicas), str(svc.replicas)
            for slot in range(svc.replicas + 1, replicas + 1):
                t = self._add_task(svc, slot, self._pick_node(svc), "ready", now)
                self.after(1.0, functools.partial(self._start, svc, slot, t))
            for slot in range(replicas + 1, svc.replicas + 1):
                for t in svc.slots.pop(slot, []):
                    self.tasks.pop(t.id, None)
            svc.replicas = replicas
            svc.changed()
        svc.task_spec = task_spec(svc)
        svc.version = self._next_version()
        svc.updated = rfc3339(now)
        svc.raw = None
        self.counters["service_updates"] += 1
        t_emit = self.emit("service", "update", svc.id, attrs)
        if rolling:
            self._roll(svc, now)
        return t_emit

    def _roll(self, svc: SimService, now: float) -> None:
        svc.update_state, svc.update_started = "updating", rfc3339(now)
        svc.update_completed, svc.update_message = "", "update in progress"
        svc.version = self._next_version()
        svc.raw = None
        self.emit("service", "update", svc.id, {"name": svc.name, "updatestate.new": "updating"})
        for key, hist in list(svc.slots.items()):
            cur = hist[-1]
            if cur.desired == "running":
                cur.state = cur.desired = "shutdown"
                cur.message, cur.exit_code, cur.pid = "shutdown", 0, 0
                self._touch_task(cur, now)
            new = self._add_task(svc, key, cur.node_id or self._pick_node(svc), "ready", now)
            self.after(1.0, functools.partial(self._start, svc, key, new))

        def done() -> None:
            svc.update_state, svc.update_completed = "completed", rfc3339(time.time())
            svc.update_message = "update completed"
            svc.version = self._next_version()
            svc.raw = None
            self.emit(
                "service",
                "update",
                svc.id,
                {"name": svc.name, "updatestate.new": "completed", "updatestate.old": "updating"},
            )

        self.after(1.5, done)

    def set_node_state(self, node: SimNode, state: str) -> float:
        old = node.state
        if old == state:
            return time.monotonic()
        now = time.time()
        node.state = state
        node.message = "heartbeat failure" if state == "down" else ""
        if node.role == "manager":
            node.reachability = "unreachable" if state == "down" else "reachable"
        node.version = self._next_version()
        node.updated = rfc3339(now)
        node.raw = None
        for svc in self.node_services.get(node.id, ()):
            svc.status = None
        return self.emit(
            "node", "update", node.id, {"name": node.hostname, "state.new": state, "state.old": old}
        )

    def touch_node(self, node: SimNode) -> float:
        """A node label update (as ``docker node update --label-add``)."""
        node.labels = {**node.labels, "bench.rev": str(self.raft_index)}
        node.version = self._next_version()
        node.updated = rfc3339(time.time())
        node.raw = None
        return self.emit("node", "update", node.id, {"name": node.hostname})

    # -- churn
    def churn_step(self, budgets: dict[str, float], dt: float) -> None:
        budgets["task"] += self.task_churn / 2 * dt
        budgets["service"] += self.service_churn * dt
        budgets["flap"] += self.node_flaps * dt
        svcs, nodes = self.churn_services, self.churn_nodes
        while budgets["task"] >= 1 and svcs:
            budgets["task"] -= 1
            for _ in range(3):
                if self.restart(svcs[self.rng.randrange(len(svcs))]):
                    break
        while budgets["service"] >= 1 and svcs:
            budgets["service"] -= 1
            svc = svcs[self.rng.randrange(len(svcs))]
            self.update_service(svc, labels={**svc.labels, "bench.rev": str(self.raft_index)})
        while budgets["flap"] >= 1 and nodes:
            budgets["flap"] -= 1
            node = nodes[self.rng.randrange(len(nodes))]
            if node.state == "ready":
                self.counters["node_flaps"] += 1
                self.set_node_state(node, "down")
                self.after(self.cfg.flap_seconds, functools.partial(self._node_back, node))
        for k in budgets:
            if self._paused(k):
                budgets[k] = 0.0

    def _paused(self, kind: str) -> bool:
        rate = {"task": self.task_churn, "service": self.service_churn, "flap": self.node_flaps}
        return rate[kind] <= 0

    def _node_back(self, node: SimNode) -> None:
        self.set_node_state(node, "ready")

    async def run_churn(self, stop: asyncio.Event) -> None:
        budgets = {"task": 0.0, "service": 0.0, "flap": 0.0}
        last = time.monotonic()
        while not stop.is_set():
            await asyncio.sleep(0.02)
            now = time.monotonic()
            self.run_timers()
            self.churn_step(budgets, now - last)
            last = now

    async def run_burst(self, events: int, seconds: float) -> None:
        """``events`` real changes (9 in 10 service updates, 1 in 10 node label updates)."""
        t0 = time.monotonic()
        self.burst = {"started": t0, "events": float(events), "done": 0.0}
        svcs, nodes = self.churn_services, self.churn_nodes or list(self.nodes.values())
        sent = 0
        while sent < events:
            due = min(events, int(events * min((time.monotonic() - t0) / seconds, 1.0)) + 1)
            while sent < due:
                if sent % 10 == 9:
                    self.touch_node(nodes[self.rng.randrange(len(nodes))])
                else:
                    svc = svcs[self.rng.randrange(len(svcs))]
                    self.update_service(
                        svc, labels={**svc.labels, "bench.rev": str(self.raft_index)}
                    )
                sent += 1
                self.counters["burst_events"] += 1
            await asyncio.sleep(0.005)
        self.burst["done"] = time.monotonic()
        self.burst["last_event"] = self.burst["done"]

    # -- what it is and did (for /_sim/stats and /_sim/meta)
    def churn_json(self) -> dict[str, float]:
        return {
            "task_churn": self.task_churn,
            "service_churn": self.service_churn,
            "node_flaps": self.node_flaps,
        }

    def state_json(self) -> dict[str, Any]:
        return {
            "counters": dict(self.counters),
            "churn": self.churn_json(),
            "size": {
                "nodes": len(self.nodes),
                "managers": sum(1 for n in self.nodes.values() if n.role == "manager"),
                "services": len(self.services),
                "tasks": len(self.tasks),
                "current_tasks": sum(len(s.slots) for s in self.services.values()),
            },
            "subscribers": len(self.subscribers),
            "burst": dict(self.burst),
        }

    def meta_json(self) -> dict[str, Any]:
        return {
            "probe_services": [
                {"id": s.id, "name": s.name, "stack": s.stack, "replicas": s.replicas}
                for s in self.services.values()
                if s.probe
            ],
            "probe_nodes": [
                {"id": n.id, "hostname": n.hostname} for n in self.nodes.values() if n.probe
            ],
            "leader": {"id": self.leader.id, "hostname": self.leader.hostname},
            "config": {k: getattr(self.cfg, k) for k in SimConfig.__dataclass_fields__},
        }
