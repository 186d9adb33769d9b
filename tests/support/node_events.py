"""Ground truth for the task-container counters: each lab node's own ``docker events``
for its swarm task containers, followed as an operator would, and a sampler that
records when swarm-sentinel's counters moved.

Both run in threads beside the test, and both survive a node's engine restart: the
events stream is reopened from the last event seen (the engine replays what it still
holds), and a replayed event is kept once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from typing import Any

from lab import Lab
from lab.dockerpy import docker_client
from tests.support.sentinel import Sentinel

SERVICE_LABEL = "com.docker.swarm.service.name"
TASK_LABEL = "com.docker.swarm.task.id"


@dataclass(frozen=True, slots=True)
class Seen:
    """One container event as the node's engine gave it."""

    node: str  # lab node name
    action: str  # die | oom | health_status: unhealthy | ...
    container: str
    service: str
    exit_code: int | None
    time_nano: int

    @property
    def at(self) -> float:
        return self.time_nano / 1e9


@dataclass
class _Follower:
    node: str
    url: str
    services: frozenset[str]
    since: float
    seen: dict[tuple[str, str, int], Seen] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)
    stream: Any = None
    errors: list[str] = field(default_factory=list)

    def run(self) -> None:
        filters = {
            "type": ["container"],
            "event": ["die", "oom", "health_status"],
            "label": [TASK_LABEL],
        }
        while not self.stop.is_set():
            try:
                with closing(docker_client(self.url, timeout=3600.0)) as client:
                    self.stream = client.events(since=self.since, filters=filters, decode=True)
                    for raw in self.stream:
                        self._keep(raw)
            except Exception as exc:  # the engine restarting, or a read cut: ask again
                if not self.stop.is_set():
                    self.errors.append(f"{self.node}: {exc}")
            self.stop.wait(0.2)  # the engine restarts: ask again from the last event

    def _keep(self, raw: dict[str, Any]) -> None:
        attrs = (raw.get("Actor") or {}).get("Attributes") or {}
        service = attrs.get(SERVICE_LABEL, "")
        time_nano = int(raw.get("timeNano") or 0)
        if time_nano:
            self.since = max(self.since, time_nano / 1e9)
        if service not in self.services:
            return
        action = str(raw.get("Action") or raw.get("status") or "")
        code = attrs.get("exitCode")
        seen = Seen(
            node=self.node,
            action=action,
            container=str((raw.get("Actor") or {}).get("ID") or raw.get("id") or ""),
            service=service,
            exit_code=int(code) if code is not None else None,
            time_nano=time_nano,
        )
        self.seen.setdefault((seen.container, seen.action, seen.time_nano), seen)

    def close(self) -> None:
        self.stop.set()
        stream = self.stream
        if stream is not None:
            stream.close()


class NodeEvents:
    """Every node's own task-container events for ``services``, from now on."""

    def __init__(self, lab: Lab, services: Iterable[str]) -> None:
        now = time.time()
        self.followers = [_Follower(n.name, n.url, frozenset(services), now) for n in lab.nodes]
        self.threads = [
            threading.Thread(target=f.run, name=f"events-{f.node}", daemon=True)
            for f in self.followers
        ]

    def start(self) -> NodeEvents:
        for t in self.threads:
            t.start()
        return self

    def close(self) -> None:
        for f in self.followers:
            f.close()
        for t in self.threads:
            t.join(10)

    def events(self, action: str = "die", service: str | None = None) -> list[Seen]:
        out = [
            e
            for f in self.followers
            for e in list(f.seen.values())
            if e.action.startswith(action) and (service is None or e.service == service)
        ]
        return sorted(out, key=lambda e: e.time_nano)


@contextmanager
def node_events(lab: Lab, services: Iterable[str]) -> Iterator[NodeEvents]:
    events = NodeEvents(lab, services).start()
    try:
        yield events
    finally:
        events.close()


@dataclass
class Moves:
    """When each instance's counter reached each value: (hostname, service) -> times."""

    reached: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    last: dict[tuple[str, str], float] = field(default_factory=dict)


class CounterSampler:
    """Reads ``metric`` (summed over its other labels, per hostname and service) from
    every instance every ``interval`` seconds, and notes when it went up."""

    def __init__(self, instances: Sequence[Sentinel], metric: str, interval: float = 0.1) -> None:
        self.instances = instances
        self.metric = metric
        self.interval = interval
        self.moves = Moves()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)
        self.errors: list[str] = []

    def _run(self) -> None:
        while not self._stop.is_set():
            for inst in self.instances:
                try:
                    samples = inst.samples()
                except (AssertionError, OSError) as exc:
                    self.errors.append(str(exc))
                    continue
                now = time.time()
                totals: dict[tuple[str, str], float] = {}
                for (name, labels), value in samples.items():
                    if name != self.metric:
                        continue
                    d = dict(labels)
                    key = (d.get("hostname", ""), d.get("service_name", ""))
                    totals[key] = totals.get(key, 0.0) + value
                for key, value in totals.items():
                    times = self.moves.reached.setdefault(key, [])
                    while len(times) < int(value):
                        times.append(now)
                    self.moves.last[key] = value
            self._stop.wait(self.interval)

    def __enter__(self) -> CounterSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def count(self, hostname: str, service: str) -> int:
        return int(self.moves.last.get((hostname, service), 0))
