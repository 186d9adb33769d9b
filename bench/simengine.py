"""A simulated Docker Engine (a swarm manager) on a unix socket.

It answers the calls swarm-sentinel, docker-py and a typical exporter make
(``/_ping``, ``/version``, ``/info``, ``/nodes``, ``/nodes/{id}``,
``/services[?status=true]``, ``/services/{id}``, ``POST /services/{id}/update``,
``/tasks``, ``/tasks/{id}``, ``/events``), with or without a ``/v1.NN``
prefix, in the JSON shapes of a real engine (``engine-samples/<API version>/``,
captured from a real swarm: key order, optional keys per task state, compact
encoding, chunked lists, one JSON line per event). ``--api-version`` picks the
engine: 1.41 (dockerd 20.10) or 1.51 (Engine 28.5); with ``--min-api-version``
it refuses older clients with the engine's own words, as Engine 29 does below 1.44.

The swarm is generated from a seed: ``nodes`` (the first ``managers`` of them
managers), ``services`` (1 in 20 global, on a pool of ``tasks-per-service``
nodes; the rest replicated with ``tasks-per-service`` replicas), and per slot
``history`` tasks (the current one and older shut down or failed ones, as
swarm's TaskHistoryRetentionLimit keeps them). Churn, per second:

- ``task-churn``: task state changes. Each is half a restart: the running task
  of a random slot fails (``task: non-zero exit (1)``) and its replacement,
  created at once in ``ready``, turns ``running`` after the restart delay.
  /tasks and the ``RunningTasks`` of /services?status=true follow.
- ``service-churn``: service updates (a label changes, the version moves), each
  one ``service update`` event.
- ``node-flaps``: a worker goes ``down`` (heartbeat failure) and comes back
  ``ready`` ``flap-seconds`` later, one ``node update`` event each way.

A few services (label ``bench.probe=true``) and workers are kept out of the
churn; ``POST /_sim/probe`` changes them on request and answers the
``time.monotonic()`` of the change, for event -> metric latencies.
``GET /_sim/stats`` answers the requests and bytes served per endpoint.

Standalone::

    python -m bench.simengine --socket /tmp/sim.sock --nodes 1000 --services 5000 \\
        --tasks-per-service 10 --history 5 --task-churn 200 --service-churn 20
    DOCKER_HOST=unix:///tmp/sim.sock docker node ls
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import heapq
import json
import random
import re
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from common.apiversion import ApiVersion

SAMPLES = Path(__file__).resolve().parents[1] / "engine-samples"
API_VERSIONS = ("1.41", "1.51")
"""The engines whose answers engine-samples/ holds: dockerd 20.10 and Engine 28.5."""
EVENT_REPLAY = 256  # dockerd keeps its last 256 events for ``since``
CHUNK = 256 * 1024
GO_MAX_HEADER_BYTES = 1 << 20  # write lists in chunks: the loop stays responsive
_PREFIX = re.compile(r"^/v(\d+\.\d+)(?=/)")
_ALNUM = "0123456789abcdefghijklmnopqrstuvwxyz"
_TRI = [a + b + c for a in _ALNUM for b in _ALNUM for c in _ALNUM]
# Task states that carry a ContainerStatus (the samples: none for pending and ready).
_CONTAINER_STATES = frozenset(
    {"starting", "running", "complete", "failed", "shutdown", "rejected", "remove", "orphaned"}
)
PROBE_LABEL = "bench.probe"


def rfc3339(ts: float) -> str:
    """Go's RFC3339Nano: nanoseconds with trailing zeros trimmed."""
    sec = int(ts)
    ns = round((ts - sec) * 1e9)
    if ns >= 1_000_000_000:
        sec, ns = sec + 1, ns - 1_000_000_000
    frac = f".{ns:09d}".rstrip("0") if ns else ""
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + (frac if frac != "." else "") + "Z"
    )


def _q(text: str) -> str:
    return json.dumps(text)


def _compact(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _load(name: str, api: str) -> Any:
    return json.loads((SAMPLES / api / name).read_text())


def headers(api: str) -> dict[str, str]:
    """What every answer of that engine carries (Api-Version: its newest version)."""
    version = _load("version.json", api)["Version"]
    return {
        "Api-Version": api,
        "Docker-Experimental": "false",
        "Ostype": "linux",
        "Server": f"Docker/{version} (linux)",
    }


def version_refusal(asked: str, api: str, minimum: str) -> str | None:
    """The engine's answer to a client version it does not speak, or None."""
    v = ApiVersion.parse(asked)
    if minimum and v < ApiVersion.parse(minimum):
        return (
            f"client version {asked} is too old. Minimum supported API version is {minimum}, "
            "please upgrade your client to a newer version"
        )
    if v > ApiVersion.parse(api):
        return f"client version {asked} is too new. Maximum supported API version is {api}"
    return None


# ---- the objects ------------------------------------------------------------


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

    def spec(self) -> dict[str, Any]:
        template: dict[str, Any] = {
            "ContainerSpec": {
                "Image": self.image,
                "Args": ["sleep", "1000000"],
                "Init": False,
                "DNSConfig": {},
                "Isolation": "default",
            },
            "Resources": {"Limits": {}, "Reservations": {}},
            "RestartPolicy": {
                "Condition": "any",
                "Delay": int(self.restart_delay * 1e9),
                "MaxAttempts": 0,
            },
            "Placement": {"Constraints": list(self.constraints)} if self.constraints else {},
            "ForceUpdate": self.force_update,
            "Runtime": "container",
        }
        mode: dict[str, Any] = (
            {"Global": {}} if self.mode == "global" else {"Replicated": {"Replicas": self.replicas}}
        )
        return {
            "Name": self.name,
            "Labels": dict(self.labels),
            "TaskTemplate": template,
            "Mode": mode,
            "EndpointSpec": {"Mode": "vip"},
        }

    def refresh_task_spec(self) -> None:
        template = self.spec()["TaskTemplate"]
        template.pop("Runtime", None)  # tasks' Spec has no Runtime (samples)
        self.task_spec = _compact(template)

    def changed(self) -> None:
        """Its tasks changed: drop the rendered list and counts."""
        self.blob = None
        self.status = None


# ---- the swarm --------------------------------------------------------------


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
    """Whose answers to give: one of API_VERSIONS."""
    min_api_version: str = ""
    """Refuse clients below this, as Engine 29 refuses < 1.44; empty: refuse none."""


@dataclass(slots=True)
class EndpointStats:
    requests: int = 0
    bytes: int = 0
    seconds: float = 0.0


class Swarm:
    """The simulated swarm: its objects, their JSON, churn, events and counters."""

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
        self.stats: dict[str, EndpointStats] = {}
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
        if cfg.api_version not in API_VERSIONS:
            raise ValueError(f"no samples of API {cfg.api_version}: one of {API_VERSIONS}")
        self.headers = headers(cfg.api_version)
        self._node_tmpl = _load("nodes.json", cfg.api_version)
        self._info_tmpl = _load("info.json", cfg.api_version)
        version = _load("version.json", cfg.api_version)
        if cfg.min_api_version:
            version["MinAPIVersion"] = cfg.min_api_version
        self.version_body = (_compact(version) + "\n").encode()
        # Engines since 1.42 list a task's cluster volumes (null when none).
        self._task_tail = b',"Volumes":null}' if cfg.api_version != "1.41" else b"}"
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
            svc.refresh_task_spec()
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

    # -- JSON
    def node_json(self, n: SimNode) -> bytes:
        if n.raw is None:
            tmpl = self._node_tmpl[0]["Description"]
            status: dict[str, Any] = {"State": n.state}
            if n.message:
                status["Message"] = n.message
            status["Addr"] = n.addr
            d: dict[str, Any] = {
                "ID": n.id,
                "Version": {"Index": n.version},
                "CreatedAt": n.created,
                "UpdatedAt": n.updated,
                "Spec": {"Labels": n.labels, "Role": n.role, "Availability": n.availability},
                "Description": {
                    "Hostname": n.hostname,
                    "Platform": tmpl["Platform"],
                    "Resources": tmpl["Resources"],
                    "Engine": tmpl["Engine"],
                    "TLSInfo": tmpl["TLSInfo"],
                },
                "Status": status,
            }
            if n.role == "manager":
                ms: dict[str, Any] = {"Leader": True} if n.leader else {}
                ms["Reachability"] = n.reachability
                ms["Addr"] = f"{n.addr}:2377"
                d["ManagerStatus"] = ms
            n.raw = _compact(d).encode()
        return n.raw

    def service_json(self, s: SimService) -> bytes:
        if s.raw is None:
            d: dict[str, Any] = {
                "ID": s.id,
                "Version": {"Index": s.version},
                "CreatedAt": s.created,
                "UpdatedAt": s.updated,
                "Spec": s.spec(),
            }
            if s.previous_spec is not None:
                d["PreviousSpec"] = s.previous_spec
            d["Endpoint"] = {"Spec": {}}
            if s.update_state:
                us: dict[str, Any] = {"State": s.update_state, "StartedAt": s.update_started}
                if s.update_completed:
                    us["CompletedAt"] = s.update_completed
                us["Message"] = s.update_message
                d["UpdateStatus"] = us
            s.raw = _compact(d).encode()
        return s.raw

    def service_status(self, s: SimService) -> bytes:
        if s.status is None:
            running = desired = 0
            for hist in s.slots.values():
                t = hist[-1]
                node = self.nodes.get(t.node_id)
                up = node is not None and node.state != "down"
                if t.desired == "running" and (up or not t.node_id):
                    desired += 1
                if t.state == "running" and up:
                    running += 1
            if s.mode == "replicated":
                desired = s.replicas
            s.status = (
                f',"ServiceStatus":{{"RunningTasks":{running},"DesiredTasks":{desired},'
                f'"CompletedTasks":0}}}}'
            ).encode()
        return s.status

    def service_json_status(self, s: SimService) -> bytes:
        return self.service_json(s)[:-1] + self.service_status(s)

    def task_json(self, t: SimTask) -> bytes:
        if t.raw is None:
            p = [
                '{"ID":"',
                t.id,
                '","Version":{"Index":',
                str(t.version),
                '},"CreatedAt":"',
                t.created,
                '","UpdatedAt":"',
                t.updated,
                '","Labels":{},"Spec":',
                t.spec,
                ',"ServiceID":"',
                t.service.id,
                '"',
            ]
            if t.slot:
                p += [',"Slot":', str(t.slot)]
            if t.node_id:
                p += [',"NodeID":"', t.node_id, '"']
            p += [
                ',"Status":{"Timestamp":"',
                t.timestamp,
                '","State":"',
                t.state,
                '","Message":',
                _q(t.message),
            ]
            if t.err:
                p += [',"Err":', _q(t.err)]
            if t.state in _CONTAINER_STATES:
                p += [
                    ',"ContainerStatus":{"ContainerID":"',
                    t.container_id,
                    '","PID":',
                    str(t.pid),
                    ',"ExitCode":',
                    str(t.exit_code),
                    "}",
                ]
            p += [',"PortStatus":{}},"DesiredState":"', t.desired, '"']
            t.raw = "".join(p).encode() + self._task_tail
        return t.raw

    def service_tasks_blob(self, s: SimService) -> bytes:
        if s.blob is None:
            s.blob = b",".join(self.task_json(t) for hist in s.slots.values() for t in hist)
        return s.blob

    def info_json(self) -> bytes:
        d = json.loads(json.dumps(self._info_tmpl))
        sw = d["Swarm"]
        sw["NodeID"] = self.leader.id
        sw["NodeAddr"] = self.leader.addr
        managers = [n for n in self.nodes.values() if n.role == "manager"]
        sw["RemoteManagers"] = [{"NodeID": n.id, "Addr": f"{n.addr}:2377"} for n in managers]
        sw["Nodes"] = len(self.nodes)
        sw["Managers"] = len(managers)
        d["Name"] = self.leader.hostname
        d["SystemTime"] = rfc3339(time.time())
        d["Containers"] = d["ContainersRunning"] = 10
        d["ContainersStopped"] = 0
        return (_compact(d) + "\n").encode()

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
        line = (_compact(ev) + "\n").encode()
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
        svc.previous_spec = svc.spec()
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
        svc.refresh_task_spec()
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

    # -- listing
    def count(self, endpoint: str, nbytes: int, seconds: float = 0.0) -> None:
        st = self.stats.get(endpoint)
        if st is None:
            st = self.stats[endpoint] = EndpointStats()
        st.requests += 1
        st.bytes += nbytes
        st.seconds += seconds

    def stats_json(self) -> dict[str, Any]:
        eps = {k: {"requests": v.requests, "bytes": v.bytes} for k, v in sorted(self.stats.items())}
        return {
            "uptime_seconds": round(time.monotonic() - self.started, 3),
            "endpoints": eps,
            "total": {
                "requests": sum(v.requests for v in self.stats.values()),
                "bytes": sum(v.bytes for v in self.stats.values()),
            },
            "counters": dict(self.counters),
            "churn": {
                "task_churn": self.task_churn,
                "service_churn": self.service_churn,
                "node_flaps": self.node_flaps,
            },
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


# ---- filters -----------------------------------------------------------------


class BadFilter(ValueError):
    pass


def parse_filters(raw: str | None, allowed: Iterable[str]) -> dict[str, set[str]]:
    """Docker's ``filters`` parameter: ``{"key":["v",...]}`` or the old ``{"key":{"v":true}}``."""
    if not raw:
        return {}
    try:
        obj = json.loads(raw)
    except ValueError as exc:
        raise BadFilter(f"invalid filter: {exc}") from None
    if not isinstance(obj, dict):
        raise BadFilter("invalid filter: not an object")
    out: dict[str, set[str]] = {}
    ok = set(allowed)
    for key, value in obj.items():
        if key not in ok:
            raise BadFilter(f"invalid filter '{key}'")
        if isinstance(value, list):
            out[key] = {str(v) for v in value}
        elif isinstance(value, dict):
            out[key] = {str(k) for k, v in value.items() if v}
        else:
            raise BadFilter(f"invalid filter '{key}'")
    return out


def event_matches(ev: Mapping[str, Any], filters: Mapping[str, set[str]]) -> bool:
    actor = ev["Actor"]
    for key, values in filters.items():
        if key == "type" and ev["Type"] not in values:
            return False
        if key == "scope" and ev["scope"] not in values:
            return False
        if key == "event" and ev["Action"] not in values:
            return False
        if key in ("node", "service") and (
            ev["Type"] != key
            or (actor["ID"] not in values and actor["Attributes"].get("name") not in values)
        ):
            return False
        if key == "label":
            attrs = actor["Attributes"]
            if not any(
                (v.partition("=")[0] in attrs)
                and (not v.partition("=")[1] or attrs[v.partition("=")[0]] == v.partition("=")[2])
                for v in values
            ):
                return False
    return True


def _since(raw: str | None) -> int | None:
    """``since``/``until``: Unix seconds with an optional fraction, or RFC 3339."""
    if not raw:
        return None
    try:
        sec, _, frac = raw.partition(".")
        return int(sec) * 1_000_000_000 + int((frac + "000000000")[:9] or 0)
    except ValueError:
        pass
    from datetime import datetime

    try:
        return int(datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp() * 1e9)
    except ValueError:
        raise BadFilter(f"invalid time {raw!r}") from None


# ---- HTTP ---------------------------------------------------------------------


class SimServer:
    def __init__(self, swarm: Swarm, stop: asyncio.Event) -> None:
        self.swarm = swarm
        self.stop = stop
        self._bg: set[asyncio.Task[None]] = set()

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.dispatch)
        return app

    # helpers
    def _json(
        self, endpoint: str | None, body: bytes, status: int = 200, t0: float | None = None
    ) -> web.Response:
        if endpoint is not None:
            self.swarm.count(endpoint, len(body), time.perf_counter() - t0 if t0 else 0.0)
        return web.Response(
            body=body,
            status=status,
            headers={**self.swarm.headers, "Content-Type": "application/json"},
        )

    def _error(self, endpoint: str | None, status: int, message: str) -> web.Response:
        return self._json(endpoint, (_compact({"message": message}) + "\n").encode(), status)

    async def _list(
        self, request: web.Request, endpoint: str, items: Iterator[bytes], t0: float
    ) -> web.StreamResponse:
        """A JSON list, written in chunks (dockerd's big answers are chunked too)."""
        resp = web.StreamResponse(
            headers={**self.swarm.headers, "Content-Type": "application/json"}
        )
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        total = 0
        buf: list[bytes] = [b"["]
        size = 1
        first = True
        for item in items:
            if not item:
                continue
            if not first:
                buf.append(b",")
                size += 1
            first = False
            buf.append(item)
            size += len(item)
            if size >= CHUNK:
                chunk = b"".join(buf)
                total += len(chunk)
                await resp.write(chunk)
                buf, size = [], 0
        buf.append(b"]\n")
        chunk = b"".join(buf)
        total += len(chunk)
        await resp.write(chunk)
        await resp.write_eof()
        self.swarm.count(endpoint, total, time.perf_counter() - t0)
        return resp

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        t0 = time.perf_counter()
        sw = self.swarm
        asked = _PREFIX.match(request.path)
        if asked is not None:
            refused = version_refusal(asked.group(1), sw.cfg.api_version, sw.cfg.min_api_version)
            if refused is not None:
                return self._error("refused version", 400, refused)
        path = _PREFIX.sub("", request.path)
        parts = [p for p in path.split("/") if p]
        m = request.method
        q = request.query
        try:
            if parts == ["_ping"] and m in ("GET", "HEAD"):
                sw.count("GET /_ping", 2)
                return web.Response(
                    text="OK", headers={**sw.headers, "Cache-Control": "no-cache, no-store"}
                )
            if parts == ["version"] and m == "GET":
                return self._json("GET /version", sw.version_body, t0=t0)
            if parts == ["info"] and m == "GET":
                return self._json("GET /info", sw.info_json(), t0=t0)
            if parts and parts[0] == "nodes" and m == "GET":
                return await self._nodes(request, parts, t0)
            if parts and parts[0] == "services":
                return await self._services(request, parts, t0)
            if parts and parts[0] == "tasks" and m == "GET":
                return await self._tasks(request, parts, t0)
            if parts == ["events"] and m == "GET":
                return await self._events(request)
            if parts and parts[0] == "_sim":
                return await self._control(request, parts[1:])
        except BadFilter as exc:
            return self._error("bad request", 400, str(exc))
        _ = q
        return self._error("not found", 404, "page not found")

    async def _nodes(self, request: web.Request, parts: list[str], t0: float) -> web.StreamResponse:
        sw = self.swarm
        if len(parts) == 2:
            node = sw.nodes.get(parts[1]) or next(
                (n for n in sw.nodes.values() if n.hostname == parts[1]), None
            )
            if node is None:
                return self._error("GET /nodes/{id}", 404, f"node {parts[1]} not found")
            return self._json("GET /nodes/{id}", sw.node_json(node) + b"\n", t0=t0)
        f = parse_filters(request.query.get("filters"), ("id", "name", "role", "membership"))
        nodes: Iterable[SimNode] = sw.nodes.values()
        if "role" in f:
            nodes = [n for n in nodes if n.role in f["role"]]
        if "id" in f:
            nodes = [n for n in nodes if any(n.id.startswith(v) for v in f["id"])]
        if "name" in f:
            nodes = [n for n in nodes if any(v in n.hostname for v in f["name"])]
        if "membership" in f and "accepted" not in f["membership"]:
            nodes = []
        endpoint = "GET /nodes?filters" if f else "GET /nodes"
        return await self._list(request, endpoint, (sw.node_json(n) for n in nodes), t0)

    async def _services(
        self, request: web.Request, parts: list[str], t0: float
    ) -> web.StreamResponse:
        sw = self.swarm
        m = request.method
        if len(parts) >= 2:
            svc = sw.services.get(parts[1]) or sw.by_name.get(parts[1])
            if len(parts) == 2 and m == "GET":
                if svc is None:
                    return self._error("GET /services/{id}", 404, f"service {parts[1]} not found")
                return self._json("GET /services/{id}", sw.service_json(svc) + b"\n", t0=t0)
            if len(parts) == 3 and parts[2] == "update" and m == "POST":
                return await self._update(request, svc, parts[1], t0)
            return self._error("not found", 404, "page not found")
        if m != "GET":
            return self._error("not found", 404, "page not found")
        f = parse_filters(request.query.get("filters"), ("id", "name", "label", "mode"))
        svcs: Iterable[SimService] = sw.services.values()
        if "id" in f:
            svcs = [s for s in svcs if any(s.id.startswith(v) for v in f["id"])]
        if "name" in f:
            svcs = [s for s in svcs if any(s.name.startswith(v) for v in f["name"])]
        if "mode" in f:
            svcs = [s for s in svcs if s.mode in f["mode"]]
        if "label" in f:
            svcs = [s for s in svcs if all(_label_ok(s.labels, v) for v in f["label"])]
        status = request.query.get("status", "").lower() in ("1", "true")
        render = sw.service_json_status if status else sw.service_json
        endpoint = "GET /services" + ("?status=true" if status else "") + ("&filters" if f else "")
        return await self._list(request, endpoint, (render(s) for s in svcs), t0)

    async def _update(
        self, request: web.Request, svc: SimService | None, ident: str, t0: float
    ) -> web.Response:
        ep = "POST /services/{id}/update"
        if svc is None:
            return self._error(ep, 404, f"service {ident} not found")
        try:
            version = int(request.query.get("version", ""))
            spec = await request.json()
        except ValueError:
            return self._error(ep, 400, "invalid service version or spec")
        if version != svc.version:
            return self._error(ep, 500, "rpc error: code = Unknown desc = update out of sequence")
        if not isinstance(spec, dict):
            return self._error(ep, 400, "invalid spec")
        tt = spec.get("TaskTemplate") or {}
        mode = spec.get("Mode") or {}
        replicas = (mode.get("Replicated") or {}).get("Replicas")
        self.swarm.update_service(
            svc,
            labels={str(k): str(v) for k, v in (spec.get("Labels") or {}).items()},
            replicas=replicas if isinstance(replicas, int) else None,
            image=(tt.get("ContainerSpec") or {}).get("Image"),
            force_update=tt.get("ForceUpdate") if isinstance(tt.get("ForceUpdate"), int) else None,
        )
        return self._json(ep, b'{"Warnings":null}\n', t0=t0)

    async def _tasks(self, request: web.Request, parts: list[str], t0: float) -> web.StreamResponse:
        sw = self.swarm
        if len(parts) == 2:
            t = sw.tasks.get(parts[1])
            if t is None:
                return self._error("GET /tasks/{id}", 404, f"task {parts[1]} not found")
            return self._json("GET /tasks/{id}", sw.task_json(t) + b"\n", t0=t0)
        f = parse_filters(
            request.query.get("filters"), ("service", "node", "desired-state", "id", "name")
        )
        svcs: Iterable[SimService]
        if "service" in f:
            found: dict[str, SimService] = {}
            for v in f["service"]:
                s = sw.services.get(v) or sw.by_name.get(v)
                if s is None:
                    s = next((x for x in sw.services.values() if x.id.startswith(v)), None)
                if s is not None:
                    found[s.id] = s
            svcs = found.values()
        else:
            svcs = sw.services.values()
        rest = {k: v for k, v in f.items() if k != "service"}
        endpoint = "GET /tasks?filters" if f else "GET /tasks"
        if not rest:
            items: Iterator[bytes] = (sw.service_tasks_blob(s) for s in svcs)
        else:

            def keep(t: SimTask) -> bool:
                if "node" in rest and t.node_id not in rest["node"]:
                    return False
                if "id" in rest and not any(t.id.startswith(v) for v in rest["id"]):
                    return False
                if "desired-state" in rest and t.desired not in rest["desired-state"]:
                    return False
                return "name" not in rest or any(v in t.service.name for v in rest["name"])

            items = (
                sw.task_json(t) for s in svcs for hist in s.slots.values() for t in hist if keep(t)
            )
        return await self._list(request, endpoint, items, t0)

    async def _events(self, request: web.Request) -> web.StreamResponse:
        sw = self.swarm
        f = parse_filters(
            request.query.get("filters"), ("type", "scope", "event", "node", "service", "label")
        )
        since = _since(request.query.get("since"))
        until = _since(request.query.get("until"))
        resp = web.StreamResponse(
            headers={**self.swarm.headers, "Content-Type": "application/json"}
        )
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        sub = (f, queue)
        sent = 0
        replay = [
            line
            for ns, ev, line in list(sw.events)
            if since is not None
            and ns >= since
            and (until is None or ns <= until)
            and event_matches(ev, f)
        ]
        sw.subscribers.append(sub)
        sw.count("GET /events", 0)
        try:
            if replay:
                chunk = b"".join(replay)
                sent += len(chunk)
                await resp.write(chunk)
            while not self.stop.is_set():
                timeout = None
                if until is not None:
                    timeout = until / 1e9 - time.time()
                    if timeout <= 0:
                        break
                try:
                    line = await asyncio.wait_for(queue.get(), timeout)
                except TimeoutError:
                    break
                lines = [line]
                while line and not queue.empty() and len(lines) < 1000:
                    line = queue.get_nowait()
                    lines.append(line)
                chunk = b"".join(lines)
                sent += len(chunk)
                await resp.write(chunk)
                if not line:  # closed by the simulator (drop_streams, stop)
                    break
            await resp.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            sw.subscribers.remove(sub)
            sw.stats["GET /events"].bytes += sent
        return resp

    async def _control(self, request: web.Request, parts: list[str]) -> web.Response:
        sw = self.swarm

        def ok(obj: object) -> web.Response:
            return web.Response(text=_compact(obj) + "\n", content_type="application/json")

        if parts == ["stats"]:
            return ok(sw.stats_json())
        if parts == ["meta"]:
            return ok(sw.meta_json())
        body: dict[str, Any] = {}
        if request.can_read_body:
            loaded = await request.json()
            body = loaded if isinstance(loaded, dict) else {}
        if parts == ["churn"] and request.method == "POST":
            sw.task_churn = float(body.get("task_churn", sw.task_churn))
            sw.service_churn = float(body.get("service_churn", sw.service_churn))
            sw.node_flaps = float(body.get("node_flaps", sw.node_flaps))
            return ok(sw.stats_json()["churn"])
        if parts == ["probe"] and request.method == "POST":
            kind = str(body.get("kind", ""))
            target = str(body.get("target", ""))
            if kind in ("node_down", "node_up", "node_label"):
                node = sw.nodes.get(target)
                if node is None:
                    return web.Response(status=404, text="no such node\n")
                if kind == "node_label":
                    return ok({"t": sw.touch_node(node)})
                return ok(
                    {"t": sw.set_node_state(node, "down" if kind == "node_down" else "ready")}
                )
            svc = sw.services.get(target)
            if svc is None:
                return web.Response(status=404, text="no such service\n")
            if kind == "scale":
                return ok({"t": sw.update_service(svc, replicas=int(body["replicas"]))})
            if kind == "task_fail":
                slot = body.get("slot", 1)
                done = sw.restart(svc, int(slot) if slot is not None else None)
                return ok({"t": time.monotonic(), "done": done})
            return web.Response(status=400, text="unknown probe\n")
        if parts == ["burst"] and request.method == "POST":
            task = asyncio.create_task(
                sw.run_burst(int(body.get("events", 10000)), float(body.get("seconds", 1.0)))
            )
            self._bg.add(task)
            task.add_done_callback(self._bg.discard)
            return ok({"t": time.monotonic()})
        if parts == ["drop_streams"] and request.method == "POST":
            # As a restarted or failed-over manager does: every event stream ends.
            for _, queue in list(sw.subscribers):
                queue.put_nowait(b"")
            return ok({"t": time.monotonic(), "streams": len(sw.subscribers)})
        if parts == ["stop"] and request.method == "POST":
            self.stop.set()
            return ok({"stopping": True})
        return web.Response(status=404, text="unknown control path\n")


def _label_ok(labels: Mapping[str, str], want: str) -> bool:
    k, sep, v = want.partition("=")
    return k in labels and (not sep or labels[k] == v)


# ---- running it ---------------------------------------------------------------


async def serve(cfg: SimConfig, socket_path: str, max_seconds: float, quiet: bool) -> Swarm:
    t0 = time.monotonic()
    swarm = Swarm(cfg)
    # Render everything once, so the first list is as fast as the later ones.
    for s in swarm.services.values():
        swarm.service_tasks_blob(s)
        swarm.service_json(s)
    for n in swarm.nodes.values():
        swarm.node_json(n)
    built = time.monotonic() - t0
    stop = asyncio.Event()
    server = SimServer(swarm, stop)
    # Go's net/http takes request lines and headers up to 1 MiB (DefaultMaxHeaderBytes);
    # aiohttp's default is 8 KiB, which long ?filters= lists of service IDs exceed.
    runner = web.AppRunner(
        server.app(),
        access_log=None,
        handle_signals=False,
        max_line_size=GO_MAX_HEADER_BYTES,
        max_field_size=GO_MAX_HEADER_BYTES,
    )
    await runner.setup()
    _remove_socket(socket_path)
    site = web.UnixSite(runner, socket_path)
    await site.start()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    size = swarm.stats_json()["size"]
    if not quiet:
        print(
            f"simengine: unix://{socket_path}: {size['nodes']} nodes ({size['managers']} managers),"
            f" {size['services']} services, {size['current_tasks']} current tasks,"
            f" {size['tasks']} tasks with history; built in {built:.1f}s",
            file=sys.stderr,
            flush=True,
        )
    churn = asyncio.create_task(swarm.run_churn(stop))
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max_seconds)
    finally:
        stop.set()
        churn.cancel()
        await asyncio.gather(churn, return_exceptions=True)
        for _, queue in list(swarm.subscribers):
            queue.put_nowait(b"")
        await runner.cleanup()
        _remove_socket(socket_path)
    return swarm


def _remove_socket(socket_path: str) -> None:
    path = Path(socket_path)
    if path.is_socket():
        path.unlink()


def format_stats(stats: Mapping[str, Any]) -> str:
    lines = [f"{'endpoint':34} {'requests':>10} {'bytes':>15}"]
    for name, v in stats["endpoints"].items():
        lines.append(f"{name:34} {v['requests']:>10} {v['bytes']:>15}")
    tot = stats["total"]
    lines.append(f"{'total':34} {tot['requests']:>10} {tot['bytes']:>15}")
    lines.append("counters: " + ", ".join(f"{k}={v}" for k, v in stats["counters"].items()))
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.simengine", description=__doc__.split("\n")[0]
    )
    p.add_argument("--socket", default="/tmp/simengine.sock", help="unix socket to serve on")
    p.add_argument("--nodes", type=int, default=100)
    p.add_argument("--managers", type=int, default=3)
    p.add_argument("--services", type=int, default=500)
    p.add_argument("--tasks-per-service", type=int, default=10)
    p.add_argument("--history", type=int, default=5, help="tasks kept per slot, current included")
    p.add_argument("--task-churn", type=float, default=0.0, help="task state changes per second")
    p.add_argument("--service-churn", type=float, default=0.0, help="service updates per second")
    p.add_argument("--node-flaps", type=float, default=0.0, help="node down/up flaps per second")
    p.add_argument("--flap-seconds", type=float, default=10.0)
    p.add_argument("--restart-delay", type=float, default=5.0)
    p.add_argument("--broken-fraction", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--max-seconds", type=float, default=3600.0, help="stop by itself after this")
    p.add_argument("--api-version", choices=API_VERSIONS, default="1.41", help="whose answers")
    p.add_argument(
        "--min-api-version", default="", help="refuse older clients (1.44: as Engine 29 does)"
    )
    p.add_argument("--quiet", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    cfg = SimConfig(
        nodes=a.nodes,
        managers=a.managers,
        services=a.services,
        tasks_per_service=a.tasks_per_service,
        history=max(1, a.history),
        seed=a.seed,
        task_churn=a.task_churn,
        service_churn=a.service_churn,
        node_flaps=a.node_flaps,
        flap_seconds=a.flap_seconds,
        restart_delay=a.restart_delay,
        broken_fraction=a.broken_fraction,
        api_version=a.api_version,
        min_api_version=a.min_api_version,
    )
    swarm = asyncio.run(serve(cfg, a.socket, a.max_seconds, a.quiet))
    print(json.dumps(swarm.stats_json()), flush=True)
    print(format_stats(swarm.stats_json()), file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
