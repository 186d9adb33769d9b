"""``make bench``: swarm-sentinel and a naive baseline, side by side, on one simulated engine.

For each size (nodes; 5 services per node, 10 tasks per service, 5 tasks of
history per slot), one simulated engine (``bench.sim``) serves both
exporters in turn, first steady, then under churn (task state changes,
service update events, node flaps). Per exporter and mode it measures scrape
latency under 4 concurrent scrapers, body size and series, RSS and CPU (from
/proc), Docker API requests and bytes (from the simulator's counters), event
-> metric and task change -> metric latencies (probes), and, in-process,
the healer's policy evaluation over every service. Then: the cost curve
(scrape time and memory against series), a 50-scraper load test and a
10,000-event burst against the 1,000-node swarm-sentinel.

    python -m bench.run [--quick] [--sizes 100,1000,5000] [--no-docs]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench import costcurve, healerbench, shapecheck
from bench.baseline import line as baseline_line
from bench.measure import (
    ApiDelta,
    Proc,
    Scrape,
    SimClient,
    api_delta,
    dumps,
    new_session,
    percentile,
    scrape_load,
    scrape_once,
    series_count,
    start,
)
from bench.sim.shapes import API_VERSIONS
from healer.settings import Scope

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
DOC = ROOT / "docs" / "benchmarks.md"
FINDINGS = Path(__file__).resolve().parent / "findings.md"


def _sentinel_defaults() -> tuple[float, float]:
    """swarm-sentinel's --watch.poll-interval and --watch.resync-interval (seconds), as the
    subprocess will see them (its flag defaults, or the same environment)."""
    from swarm_sentinel.flags import parse_args as sentinel_args

    a = sentinel_args([])
    return float(getattr(a, "watch.poll_interval")), float(getattr(a, "watch.resync_interval"))


POLL_INTERVAL, RESYNC_SECONDS = _sentinel_defaults()
RESYNC_MINUTES = RESYNC_SECONDS / 60
_RELISTS = re.compile(rb"^dockerswarm_exporter_relists_total ([0-9.e+]+)$", re.M)
SCRAPES_PER_MINUTE = 4  # a 15 s scrape interval
CHURN = {"task": 200.0, "service": 20.0, "flaps": 0.2}
TARGET_SIZE = 1000
SOURCE_DIRS = ("exporter", "healer", "swarm_sentinel")
# Children import the code next to this bench (also when it runs from a snapshot of a
# commit, e.g. `git archive HEAD | tar -x -C /tmp/snap`), not the editable install's.
CHILD_ENV = {"PYTHONPATH": str(ROOT)}


def managers_for(nodes: int) -> int:
    return 3 if nodes <= 100 else 5 if nodes <= 1000 else 7


@dataclass
class Plan:
    """How long each part runs at one size (shorter with --quick and at 5,000 nodes)."""

    # Background window (no scrapes): at least this, in whole poll periods (2-3):
    # under churn one poll lists more or fewer services than the next.
    bg_seconds: float = 2 * POLL_INTERVAL + 1.0
    seq_scrapes: int = 10  # sequential scrapes for the per-scrape cost
    conc_seconds: float = 10.0  # 4 concurrent scrapers
    warmup: float = 8.0  # churn on, before measuring
    event_probes: int = 20  # swarm-sentinel: node down/up and scale up/down, one at a time
    task_probes: int = 8
    baseline_batches: int = 2  # baseline: all probe kinds at once, per batch
    baseline_conc: bool = True
    baseline_steady_probes: bool = True
    baseline_task_probes: bool = True  # off at 5,000: its listings are ~40 s apart
    relist: bool = True


def plan_for(nodes: int, quick: bool) -> Plan:
    """Sized so that the default run (100, 1,000, 5,000 nodes) takes about 15 minutes."""
    if quick:
        return Plan(
            seq_scrapes=5,
            conc_seconds=5,
            warmup=6,
            event_probes=8,
            task_probes=4,
            baseline_batches=1,
            baseline_conc=nodes <= 1000,
            relist=nodes <= 1000,
        )
    if nodes >= 5000:
        return Plan(
            seq_scrapes=5,
            conc_seconds=6,
            warmup=6,
            event_probes=4,
            task_probes=4,
            baseline_batches=1,
            baseline_conc=False,
            baseline_steady_probes=False,
            baseline_task_probes=False,
        )
    if nodes <= 100:
        return Plan(conc_seconds=6, warmup=6, event_probes=12, task_probes=5)
    return Plan(conc_seconds=8, warmup=6, event_probes=16, task_probes=6)


# ---- results ----------------------------------------------------------------------------


@dataclass
class ModeResult:
    exporter: str
    nodes: int
    mode: str
    scrape_p50_ms: float = math.nan
    scrape_p99_ms: float = math.nan
    scrapes: int = 0
    scrape_errors: int = 0
    concurrency: int = 4
    body_bytes: int = 0
    series: int = 0
    rss_mib: float = math.nan  # max sampled in this mode
    hwm_mib: float = math.nan  # the process's peak so far (VmHWM)
    cpu_per_min: float = math.nan
    api_req_per_min: float = math.nan
    api_mb_per_min: float = math.nan
    event_ms: list[float] = field(default_factory=list)
    event_missed: int = 0
    task_s: list[float] = field(default_factory=list)
    task_missed: int = 0
    probe_resolution_ms: float = math.nan  # median scrape time of the probing scraper
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def event_p50(self) -> float:
        return percentile(self.event_ms, 50)

    @property
    def event_p99(self) -> float:
        return percentile(self.event_ms, 99)

    @property
    def task_p50(self) -> float:
        return percentile(self.task_s, 50)

    @property
    def task_p99(self) -> float:
        return percentile(self.task_s, 99)


@dataclass
class SizeResult:
    nodes: int
    services: int
    tasks: int
    current_tasks: int
    modes: list[ModeResult] = field(default_factory=list)
    sync: dict[str, dict[str, float]] = field(default_factory=dict)
    relist: dict[str, float] = field(default_factory=dict)
    healer: list[healerbench.HealerTiming] = field(default_factory=list)
    healer_model_seconds: float = math.nan
    notes: list[str] = field(default_factory=list)


@dataclass
class Results:
    sizes: list[SizeResult] = field(default_factory=list)
    cost_curve: list[dict[str, float]] = field(default_factory=list)
    load: dict[str, float] = field(default_factory=dict)
    burst: dict[str, float] = field(default_factory=dict)
    machine: dict[str, str] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    seconds: float = 0.0
    quick: bool = False


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---- exporters ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Exporter:
    kind: str  # swarm-sentinel | baseline
    proc: Proc
    url: str
    base: str

    def node_state(self, node: dict[str, str], state: str) -> bytes:
        if self.kind == "baseline":
            labels = {"node_id": node["id"], "hostname": node["hostname"], "state": state}
            return baseline_line("swarm_node_state", labels, 1)
        return (
            f'dockerswarm_node_state{{node_id="{node["id"]}",hostname="{node["hostname"]}",'
            f'state="{state}"}} 1\n'
        ).encode()

    def _svc(self, svc: dict[str, Any]) -> str:
        return f'service_name="{svc["name"]}",stack="{svc["stack"]}"'

    def desired(self, svc: dict[str, Any], n: int) -> bytes:
        if self.kind == "baseline":
            labels = {"service_id": svc["id"], "service_name": svc["name"], "stack": svc["stack"]}
            return baseline_line("swarm_service_replicas_desired", labels, n)
        return f"dockerswarm_service_replicas_desired{{{self._svc(svc)}}} {n}\n".encode()

    def running(self, svc: dict[str, Any], n: int) -> bytes:
        if self.kind == "baseline":
            labels = {"service_id": svc["id"], "service_name": svc["name"], "stack": svc["stack"]}
            return baseline_line("swarm_service_replicas_running", labels, n)
        return f"dockerswarm_service_replicas_running{{{self._svc(svc)}}} {n}\n".encode()

    def failures(self, svc: dict[str, Any], body: bytes) -> bytes | None:
        """The line that shows one more failure of ``svc`` than ``body`` does."""
        if self.kind == "baseline":
            labels = {
                "service_id": svc["id"],
                "service_name": svc["name"],
                "stack": svc["stack"],
                "state": "failed",
            }
            prefix = baseline_line("swarm_service_tasks", labels, 0).rpartition(b" ")[0]
            m = re.search(re.escape(prefix) + rb" ([0-9.]+)\n", body)
            n = float(m.group(1)) if m else 0.0
            return baseline_line("swarm_service_tasks", labels, n + 1)
        prefix = (
            f'dockerswarm_service_task_failures_total{{{self._svc(svc)},reason="nonzero_exit"}}'
        ).encode()
        m = re.search(re.escape(prefix) + rb" ([0-9]+)\n", body)
        n = int(m.group(1)) if m else 0
        return prefix + f" {n + 1}\n".encode()


def sentinel_flags(sock: str, listen: str) -> list[str]:
    """swarm-sentinel as benchmarked: the exporter alone, quiet, JSON logs."""
    return [
        "--docker.host",
        f"unix://{sock}",
        "--web.listen-address",
        listen,
        "--no-healer.enabled",
        "--log.level",
        "warn",
        "--log.format",
        "json",
    ]


def start_exporter(kind: str, sock: str, tmp: Path) -> Exporter:
    port = free_port()
    listen = f"127.0.0.1:{port}"
    if kind == "swarm-sentinel":
        argv = [str(VENV_BIN / "swarm-sentinel"), *sentinel_flags(sock, listen)]
    else:
        argv = [
            sys.executable,
            "-m",
            "bench.baseline",
            "--docker.host",
            f"unix://{sock}",
            "--web.listen-address",
            listen,
            "--max-seconds",
            "3600",
        ]
    proc = start(kind, argv, tmp / f"{kind}-{port}.log", CHILD_ENV)
    return Exporter(kind, proc, f"http://{listen}/metrics", f"http://{listen}")


async def wait_ready(exp: Exporter, within: float) -> None:
    deadline = time.monotonic() + within
    path = "/ready" if exp.kind == "swarm-sentinel" else None
    async with new_session(1, timeout=30) as s:
        while time.monotonic() < deadline:
            if not exp.proc.alive():
                raise RuntimeError(f"{exp.kind} exited: {exp.proc.tail()}")
            if path is None:
                with contextlib.suppress(OSError):
                    _, w = await asyncio.open_connection(
                        "127.0.0.1", int(exp.base.rsplit(":", 1)[1])
                    )
                    w.close()
                    await w.wait_closed()
                    return
            else:
                with contextlib.suppress(aiohttp.ClientError, TimeoutError, OSError):
                    async with s.get(exp.base + path) as r:
                        if r.status == 200:
                            return
            await asyncio.sleep(0.2)
    raise TimeoutError(f"{exp.kind} not ready within {within:.0f}s: {exp.proc.tail()}")


# ---- probes ----------------------------------------------------------------------------------


@dataclass
class Probe:
    kind: str  # event | task
    name: str
    trigger: Callable[[], Awaitable[float]]
    needles: list[bytes]
    timeout: float
    t0: float = math.nan
    seen: float = math.nan

    @property
    def latency(self) -> float:
        return self.seen - self.t0


async def run_probes(
    url: str, groups: list[list[Probe]], gap: tuple[float, float], stagger: float = 0.0
) -> list[Scrape]:
    """Triggers each group's probes at once, waits until all are seen (or time out), then
    the next group; one scraper scrapes back to back and checks every armed probe."""
    armed: list[Probe] = []
    done = asyncio.Event()
    scrapes: list[Scrape] = []
    changed = asyncio.Event()

    async def scraper() -> None:
        async with new_session(1) as s:
            while not done.is_set():
                sc, body = await scrape_once(s, url)
                scrapes.append(sc)
                if not sc.ok:
                    await asyncio.sleep(0.05)
                    continue
                for p in list(armed):
                    if sc.end > p.t0 and any(n in body for n in p.needles):
                        p.seen = sc.end
                        armed.remove(p)
                        changed.set()

    task = asyncio.create_task(scraper())
    try:
        for group in groups:
            for i, p in enumerate(group):
                if i and stagger:
                    await asyncio.sleep(stagger)
                p.t0 = await p.trigger()
                armed.append(p)
            while any(p in armed for p in group):
                now = time.monotonic()
                for p in [p for p in group if p in armed and now - p.t0 > p.timeout]:
                    armed.remove(p)
                changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), 0.5)
            await asyncio.sleep(random.uniform(*gap))
    finally:
        done.set()
        await task
    return scrapes


async def probes(
    exp: Exporter, sim: SimClient, meta: dict[str, Any], plan: Plan, res: ModeResult
) -> None:
    pnodes: list[dict[str, str]] = meta["probe_nodes"]
    psvcs: list[dict[str, Any]] = meta["probe_services"]
    half = len(psvcs) // 2
    scale_svcs, task_svcs = psvcs[:half], psvcs[half:]
    async with new_session(1) as s:
        _, body = await scrape_once(s, exp.url)
    sentinel = exp.kind == "swarm-sentinel"
    # A probe not seen by then counts as missed (the targets: 50 ms, poll interval + 1 s).
    # The baseline sees a change at its next scrape that starts after it, or never (a
    # task restarted between two of its listings).
    one_scrape = max(res.detail.get("sequential_ms", [1000.0])) / 1000
    ev_timeout = 10.0 if sentinel else 10.0 + 2 * one_scrape
    task_timeout = POLL_INTERVAL + 3.0 if sentinel else 10.0 + 2 * one_scrape

    def node_probe(node: dict[str, str], state: str) -> Probe:
        kind = "node_down" if state == "down" else "node_up"
        return Probe(
            "event",
            f"{kind} {node['hostname']}",
            lambda: sim.probe(kind, node["id"]),
            [exp.node_state(node, state)],
            ev_timeout,
        )

    def scale_probe(svc: dict[str, Any], n: int) -> Probe:
        return Probe(
            "event",
            f"scale {svc['name']} {n}",
            lambda: sim.probe("scale", svc["id"], replicas=n),
            [exp.desired(svc, n)],
            ev_timeout,
        )

    def task_probe(svc: dict[str, Any]) -> Probe:
        needles = [exp.running(svc, int(svc["replicas"]) - 1)]
        fail = exp.failures(svc, body)
        if fail is not None:
            needles.append(fail)
        return Probe(
            "task",
            f"task_fail {svc['name']}",
            lambda: sim.probe("task_fail", svc["id"], slot=1),
            needles,
            task_timeout,
        )

    # Event probes: node down then up, scale up then back (10 -> 11 -> 10).
    events: list[tuple[Probe, Probe]] = []
    for i in range(max(1, plan.event_probes // 4)):
        node = pnodes[i % len(pnodes)]
        svc = scale_svcs[i % len(scale_svcs)]
        reps = int(svc["replicas"])
        events.append((node_probe(node, "down"), node_probe(node, "ready")))
        events.append((scale_probe(svc, reps + 1), scale_probe(svc, reps)))
    tasks = [task_probe(svc) for svc in task_svcs[: plan.task_probes]]
    if sentinel:
        # Task probes run alongside, each on its own service, spread evenly over one poll
        # interval (their latency depends on where in the poll cycle they land).
        async def fire_tasks() -> list[Scrape]:
            return await run_probes(
                exp.url, [tasks], (0.0, 0.0), stagger=POLL_INTERVAL / max(len(tasks), 1)
            )

        async def fire_events() -> list[Scrape]:
            order = [p for pair in events for p in pair]
            return await run_probes(exp.url, [[p] for p in order], (0.05, 0.25))

        got = await asyncio.gather(fire_tasks(), fire_events())
        scrapes = got[1]
    else:
        batches: list[list[Probe]] = []
        for b in range(plan.baseline_batches):
            batch = [events[0][b % 2], events[1][b % 2]] if len(events) > 1 else [events[0][b % 2]]
            if plan.baseline_task_probes:
                batch += tasks[2 * b : 2 * b + 2]
            batches.append(batch)
        scrapes = await run_probes(exp.url, batches, (0.0, 0.0))
    used_events = [p for pair in events for p in pair if not math.isnan(p.t0)]
    used_tasks = [p for p in tasks if not math.isnan(p.t0)]
    res.event_ms = [p.latency * 1000 for p in used_events if not math.isnan(p.seen)]
    res.event_missed = sum(1 for p in used_events if math.isnan(p.seen))
    res.task_s = [p.latency for p in used_tasks if not math.isnan(p.seen)]
    res.task_missed = sum(1 for p in used_tasks if math.isnan(p.seen))
    res.probe_resolution_ms = percentile([s.seconds * 1000 for s in scrapes if s.ok], 50)
    res.detail["probes"] = [
        {"name": p.name, "latency_ms": round(p.latency * 1000, 1)} for p in used_events + used_tasks
    ]


# ---- one exporter, one mode --------------------------------------------------------------


async def next_poll(sim: SimClient, within: float) -> None:
    """Returns when swarm-sentinel's next poll has started (asked for the managers)."""

    def polls(st: dict[str, Any]) -> int:
        # Each poll starts with one /nodes?filters={"role":["manager"]}; its
        # /services?status=true may come in several parts (ID filters).
        return int(st["endpoints"].get("GET /nodes?filters", {"requests": 0})["requests"])

    n0 = polls(await sim.stats())
    for _ in range(int(within * 10)):
        await asyncio.sleep(0.1)
        if polls(await sim.stats()) != n0:
            return


async def measure_mode(
    exp: Exporter,
    sim: SimClient,
    meta: dict[str, Any],
    plan: Plan,
    mode: str,
    nodes: int,
    sync: dict[str, float],
    steady_scrape_cpu: float | None,
) -> ModeResult:
    res = ModeResult(exp.kind, nodes, mode)
    proc = exp.proc
    rss_seen: list[float] = []

    def sample() -> None:
        rss_seen.append(proc.memory()[0])

    sentinel = exp.kind == "swarm-sentinel"
    # 1. Background: what the exporter costs with nobody scraping. swarm-sentinel's is
    # measured over whole poll periods, from the start of one poll to the start of the
    # next (a poll is the big cost: a window of fixed length would catch 0 or 2).
    if sentinel:
        await next_poll(sim, POLL_INTERVAL + 30)
    c0, a0, t0 = proc.cpu_seconds(), await sim.stats(), time.monotonic()
    if sentinel:
        while time.monotonic() - t0 < plan.bg_seconds:
            await next_poll(sim, POLL_INTERVAL + 30)
            sample()
    else:
        for _ in range(5):
            await asyncio.sleep(1.0)
            sample()
    c1, a1, t1 = proc.cpu_seconds(), await sim.stats(), time.monotonic()
    bg_api: ApiDelta = api_delta(a0, a1)
    bg_cpu_rate = (c1 - c0) / (t1 - t0)
    res.detail["background"] = {
        "seconds": round(t1 - t0, 1),
        "cpu_per_s": round(bg_cpu_rate, 3),
        "api": {k: list(v) for k, v in bg_api.by_endpoint.items()},
    }
    # 2. Sequential scrapes: the cost of one scrape (CPU, API) and the body.
    seq = plan.seq_scrapes if sentinel else (2 if nodes < 5000 else 1)
    body = b""
    c0, a0 = proc.cpu_seconds(), await sim.stats()
    seq_scrapes: list[Scrape] = []
    async with new_session(1) as s:
        for _ in range(seq):
            sc, body = await scrape_once(s, exp.url)
            seq_scrapes.append(sc)
            sample()
    c1, a1 = proc.cpu_seconds(), await sim.stats()
    seq_time = sum(x.seconds for x in seq_scrapes)
    seq_api = api_delta(a0, a1)
    scrape_cpu = max(0.0, (c1 - c0) - bg_cpu_rate * seq_time) / max(seq, 1)
    if sentinel and steady_scrape_cpu is not None:
        # Under churn the background dwarfs a 5 ms scrape: use the steady figure.
        scrape_cpu = steady_scrape_cpu
    res.body_bytes = len(body)
    res.series = series_count(body)
    res.detail["scrape_cpu_s"] = round(scrape_cpu, 4)
    res.detail["sequential_ms"] = [round(x.seconds * 1000, 1) for x in seq_scrapes]
    # 3. Latency under 4 concurrent scrapers.
    if sentinel or plan.baseline_conc:
        got = await scrape_load(
            exp.url,
            4,
            plan.conc_seconds if sentinel else 1.0,
            max_each=1_000_000 if sentinel else 1,
        )
        res.concurrency = 4
    else:
        got = seq_scrapes
        res.concurrency = 1
        res.detail["note"] = "one scraper: 4 concurrent full listings would need ~4x the memory"
    sample()
    ok = [x.seconds * 1000 for x in got if x.ok]
    res.scrapes, res.scrape_errors = len(got), sum(1 for x in got if not x.ok)
    res.scrape_p50_ms, res.scrape_p99_ms = percentile(ok, 50), percentile(ok, 99)
    # 4. Per minute at a 15 s scrape interval.
    if sentinel:
        res.cpu_per_min = (
            bg_cpu_rate * 60 + SCRAPES_PER_MINUTE * scrape_cpu + sync["cpu"] / RESYNC_MINUTES
        )
        res.api_mb_per_min = (
            bg_api.bytes / bg_api.seconds * 60 + sync["api_bytes"] / RESYNC_MINUTES
        ) / 1e6
        res.api_req_per_min = (
            bg_api.requests / bg_api.seconds * 60 + sync["api_requests"] / RESYNC_MINUTES
        )
    else:
        per_scrape_bytes = seq_api.bytes / max(seq, 1)
        per_scrape_req = seq_api.requests / max(seq, 1)
        res.cpu_per_min = bg_cpu_rate * 60 + SCRAPES_PER_MINUTE * scrape_cpu
        res.api_mb_per_min = (
            bg_api.bytes / bg_api.seconds * 60 + SCRAPES_PER_MINUTE * per_scrape_bytes
        ) / 1e6
        res.api_req_per_min = SCRAPES_PER_MINUTE * per_scrape_req
        res.detail["api_per_scrape"] = {k: list(v) for k, v in seq_api.by_endpoint.items()}
    # 5. Event -> metric and task change -> metric.
    if sentinel or mode == "churn" or plan.baseline_steady_probes:
        await probes(exp, sim, meta, plan, res)
    sample()
    res.rss_mib = max(rss_seen)
    res.hwm_mib = proc.memory()[1]
    return res


def relists(body: bytes) -> float:
    """swarm-sentinel's own count of full relists, from a scrape."""
    m = _RELISTS.search(body)
    return float(m.group(1)) if m else math.nan


async def relist_stall(exp: Exporter, sim: SimClient, nodes: int) -> dict[str, float]:
    """Ends the event stream (as a manager restart does): swarm-sentinel relists everything,
    as it also does every --watch.resync-interval. Worst scrape while it does."""
    async with new_session(1) as s:
        _, body = await scrape_once(s, exp.url)
    full0 = relists(body)
    c0 = exp.proc.cpu_seconds()
    t0 = time.monotonic()
    await sim.post("/_sim/drop_streams")
    scrapes: list[Scrape] = []
    relisted_at = math.nan
    limit = 40.0 if nodes <= 1000 else 30.0
    async with new_session(1) as s:
        while time.monotonic() - t0 < limit:
            sc, body = await scrape_once(s, exp.url)
            scrapes.append(sc)
            if math.isnan(relisted_at) and relists(body) > full0:
                relisted_at = time.monotonic()
            if not math.isnan(relisted_at) and sc.start > relisted_at + 1.0:
                break
    ok = [x.seconds for x in scrapes if x.ok]
    return {
        "finished": float(not math.isnan(relisted_at)),
        "limit_s": limit,
        "worst_scrape_s": max(ok) if ok else math.nan,
        "scrapes": float(len(scrapes)),
        "errors": float(sum(1 for x in scrapes if not x.ok)),
        "cpu_s": exp.proc.cpu_seconds() - c0,
        "seconds": time.monotonic() - t0,
    }


async def load_test(exp: Exporter, seconds: float, scrapers: int) -> dict[str, float]:
    got = await scrape_load(exp.url, scrapers, seconds)
    ok = [x.seconds * 1000 for x in got if x.ok]
    return {
        "scrapers": float(scrapers),
        "seconds": seconds,
        "scrapes": float(len(got)),
        "errors": float(sum(1 for x in got if not x.ok)),
        "p50_ms": percentile(ok, 50),
        "p99_ms": percentile(ok, 99),
        "max_ms": max(ok) if ok else math.nan,
        "per_second": len(got) / seconds,
    }


async def event_burst(
    exp: Exporter, sim: SimClient, events: int, limit: float = 30.0
) -> dict[str, float]:
    """``events`` real changes within 1 s; worst scrape until swarm-sentinel has looked
    at every one of them (one inspect call per event)."""

    def inspects(st: dict[str, Any]) -> int:
        eps = st["endpoints"]
        return sum(
            eps.get(k, {"requests": 0})["requests"]
            for k in ("GET /services/{id}", "GET /nodes/{id}")
        )

    st0 = await sim.stats()
    before = inspects(st0)
    async with new_session(1) as s:
        _, body = await scrape_once(s, exp.url)
    relists0 = relists(body)
    rss0 = exp.proc.memory()[0]
    t0 = time.monotonic()
    await sim.post("/_sim/burst", {"events": events, "seconds": 1.0})
    scrapes: list[Scrape] = []
    drained = math.nan
    last_check = 0.0
    handled = 0
    async with new_session(1) as s:
        while time.monotonic() - t0 < limit:
            sc, body = await scrape_once(s, exp.url)
            scrapes.append(sc)
            if time.monotonic() - last_check > 0.25:
                last_check = time.monotonic()
                handled = inspects(await sim.stats()) - before
                if handled >= events:
                    drained = time.monotonic() - t0
                    break
    ok = [x.seconds * 1000 for x in scrapes if x.ok]
    d = api_delta(st0, await sim.stats()).by_endpoint
    return {
        "events": float(events),
        "full_relists": relists(body) - relists0,
        "stream_reconnects": float(d.get("GET /events", (0, 0))[0]),
        "worst_scrape_ms": max(ok) if ok else math.nan,
        "p99_ms": percentile(ok, 99),
        "p50_ms": percentile(ok, 50),
        "scrapes": float(len(scrapes)),
        "errors": float(sum(1 for x in scrapes if not x.ok)),
        "drained_s": drained,
        "handled": float(handled),
        "limit_s": limit,
        "rss_growth_mib": exp.proc.memory()[0] - rss0,
    }


# ---- one size ----------------------------------------------------------------------------


async def bench_exporter(
    kind: str,
    sock: str,
    sim: SimClient,
    meta: dict[str, Any],
    plan: Plan,
    size: SizeResult,
    tmp: Path,
    results: Results,
    extras: bool,
    quick: bool,
) -> None:
    if (await sim.stats())["churn"]["task_churn"] > 0:
        await sim.churn(0, 0, 0)
        await asyncio.sleep(6.0)  # let restarts in flight settle
    s0 = await sim.stats()
    exp = start_exporter(kind, sock, tmp)
    t0 = time.monotonic()
    try:
        await wait_ready(exp, 900)
        sync_s = time.monotonic() - t0
        s1 = await sim.stats()
        d = api_delta(s0, s1)
        sync = {
            "seconds": sync_s,
            "cpu": exp.proc.cpu_seconds(),
            "api_bytes": float(d.bytes),
            "api_requests": float(d.requests),
            "rss_mib": exp.proc.memory()[0],
        }
        size.sync[kind] = sync
        log(f"{kind} @ {size.nodes} nodes: ready in {sync_s:.1f}s ({d.bytes / 1e6:.0f} MB read)")
        steady = await measure_mode(exp, sim, meta, plan, "steady", size.nodes, sync, None)
        size.modes.append(steady)
        log(f"  steady: {summary(steady)}")
        await sim.churn(CHURN["task"], CHURN["service"], CHURN["flaps"])
        await asyncio.sleep(plan.warmup)
        churn = await measure_mode(
            exp,
            sim,
            meta,
            plan,
            "churn",
            size.nodes,
            sync,
            steady.detail["scrape_cpu_s"] if kind == "swarm-sentinel" else None,
        )
        size.modes.append(churn)
        log(f"  churn:  {summary(churn)}")
        if kind == "swarm-sentinel":
            if extras:
                results.load = await load_test(exp, 10.0 if quick else 30.0, 50)
                results.load["nodes"] = float(size.nodes)
                log(f"  load test: {results.load}")
            if plan.relist:
                size.relist = await relist_stall(exp, sim, size.nodes)
                log(f"  full relist: {size.relist}")
            if extras:
                await sim.churn(0, 0, 0)
                await asyncio.sleep(6.0)
                results.burst = await event_burst(exp, sim, 10_000)
                results.burst["nodes"] = float(size.nodes)
                log(f"  event burst: {results.burst}")
    finally:
        code = await asyncio.to_thread(exp.proc.stop)
        if code not in (0, -15, None):
            size.notes.append(f"{kind} exited with {code}: {exp.proc.tail(3)}")


def summary(r: ModeResult) -> str:
    return (
        f"p50/p99 {r.scrape_p50_ms:.1f}/{r.scrape_p99_ms:.1f} ms, {r.series} series, "
        f"RSS {r.rss_mib:.0f} MiB, CPU {r.cpu_per_min:.1f} s/min, "
        f"API {r.api_mb_per_min:.1f} MB/min, "
        f"event p99 {r.event_p99:.0f} ms ({r.event_missed} missed), "
        f"task p99 {r.task_p99:.2f} s ({r.task_missed} missed)"
    )


SIM_ENGINES = {
    "debian": ["--api-version", "1.41"],
    "modern": ["--api-version", "1.51", "--min-api-version", "1.44"],
}
"""The simulator as dockerd 20.10, or as Engine 28.5 refusing clients below 1.44 (Engine 29)."""


def sim_argv(sock: str, nodes: int, engine: str = "debian") -> list[str]:
    """The simulated engine of one size: 5 services per node, 10 tasks each, history 5."""
    return [
        sys.executable,
        "-m",
        "bench.sim",
        "--socket",
        sock,
        "--nodes",
        str(nodes),
        "--managers",
        str(managers_for(nodes)),
        "--services",
        str(5 * nodes),
        "--tasks-per-service",
        "10",
        "--history",
        "5",
        "--seed",
        "1",
        "--max-seconds",
        "3600",
        *SIM_ENGINES[engine],
    ]


async def bench_size(
    nodes: int, quick: bool, tmp: Path, results: Results, engine: str = "debian"
) -> SizeResult:
    plan = plan_for(nodes, quick)
    sock = str(tmp / f"sim-{nodes}.sock")
    argv = sim_argv(sock, nodes, engine)
    sim_proc = start("simengine", argv, tmp / f"sim-{nodes}.log", CHILD_ENV)
    sim = SimClient(sock)
    try:
        await sim.wait_up(600)
        meta = await sim.get("/_sim/meta")
        st = (await sim.stats())["size"]
        size = SizeResult(nodes, st["services"], st["tasks"], st["current_tasks"])
        log(
            f"size {nodes}: {st['services']} services, {st['current_tasks']} current tasks, "
            f"{st['tasks']} with history"
        )
        t0 = time.monotonic()
        model = healerbench.build_model(*await healerbench.fetch(sock, current_only=True))
        size.healer_model_seconds = time.monotonic() - t0
        passes = 10 if quick or nodes >= 5000 else 30
        size.healer = [
            await healerbench.time_evaluate(model, Scope.ALL, passes),
            await healerbench.time_evaluate(model, Scope.LABELLED, passes),
        ]
        del model
        log(f"  healer: {size.healer[0]}")
        for kind in ("swarm-sentinel", "baseline"):
            await bench_exporter(
                kind, sock, sim, meta, plan, size, tmp, results, nodes == TARGET_SIZE, quick
            )
        return size
    finally:
        await sim.close()
        await asyncio.to_thread(sim_proc.stop)


def cost_curve(points: list[int]) -> list[dict[str, float]]:
    import json

    out = []
    for n in points:
        proc = subprocess.run(
            [sys.executable, "-m", "bench.costcurve", "--series", str(n)],
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
            env={**os.environ, **CHILD_ENV},
            cwd=ROOT,
        )
        out.append(json.loads(proc.stdout))
        log(f"cost curve {n}: {out[-1]}")
    return out


def machine() -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    load = "unknown"
    with contextlib.suppress(OSError):
        load = Path("/proc/loadavg").read_text().split()[0]
    commit = os.environ.get("BENCH_COMMIT", "unknown")  # set when run from a snapshot
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            [*("git", "-C", str(ROOT), "status", "--porcelain", "--"), *SOURCE_DIRS],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if dirty:
            commit += " (with local changes to exporter/healer/swarm_sentinel)"
    return {
        "commit": commit,
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": mem,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "load_at_start": load,
    }


# ---- report --------------------------------------------------------------------------------


def f(x: float, digits: int = 1) -> str:
    if isinstance(x, float) and math.isnan(x):
        return "n/a"
    return f"{x:,.{digits}f}"


def main_table(results: Results) -> str:
    head = (
        "| nodes | exporter | mode | scrape p50 / p99 ms | body MB | series | RSS MiB (peak) "
        "| CPU s/min | API req/min | API MB/min | event→metric p50 / p99 ms "
        "| task→metric p50 / p99 s |\n"
        "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    rows = []
    for size in results.sizes:
        for r in size.modes:
            conc = "" if r.concurrency == 4 else f" (x{r.concurrency})"
            missed_e = f", {r.event_missed} missed" if r.event_missed else ""
            missed_t = f", {r.task_missed} missed" if r.task_missed else ""
            rows.append(
                f"| {r.nodes:,} | {r.exporter} | {r.mode} "
                f"| {f(r.scrape_p50_ms)} / {f(r.scrape_p99_ms)}{conc} "
                f"| {f(r.body_bytes / 1e6, 2)} | {r.series:,} "
                f"| {f(r.rss_mib, 0)} ({f(r.hwm_mib, 0)}) | {f(r.cpu_per_min)} "
                f"| {f(r.api_req_per_min, 0)} | {f(r.api_mb_per_min)} "
                f"| {f(r.event_p50, 0)} / {f(r.event_p99, 0)} (n={len(r.event_ms)}{missed_e}) "
                f"| {f(r.task_p50, 2)} / {f(r.task_p99, 2)} (n={len(r.task_s)}{missed_t}) |"
            )
    return head + "\n".join(rows) + "\n"


def targets(results: Results) -> list[tuple[str, str, str, bool | None]]:
    """(target, measured, at, met)."""
    size = next((s for s in results.sizes if s.nodes == TARGET_SIZE), None)
    if size is None:
        return []

    def mode(exporter: str, m: str) -> ModeResult | None:
        return next((r for r in size.modes if r.exporter == exporter and r.mode == m), None)

    ss, base = mode("swarm-sentinel", "churn"), mode("baseline", "churn")
    out: list[tuple[str, str, str, bool | None]] = []
    at = f"{size.nodes:,} nodes / {size.services:,} services / {size.current_tasks:,} tasks, churn"
    if ss is not None:
        out.append(("scrape p99 ≤ 25 ms", f"{f(ss.scrape_p99_ms)} ms", at, ss.scrape_p99_ms <= 25))
        out.append(
            (
                "RSS ≤ 200 MiB",
                f"{f(ss.rss_mib, 0)} MiB (peak {f(ss.hwm_mib, 0)})",
                at,
                ss.rss_mib <= 200,
            )
        )
        out.append(
            (
                "event → metric p99 ≤ 50 ms",
                f"{f(ss.event_p99, 0)} ms ({ss.event_missed} missed)",
                at,
                ss.event_p99 <= 50 and ss.event_missed == 0,
            )
        )
        out.append(
            (
                f"task change → metric ≤ poll interval + 1 s ({POLL_INTERVAL + 1:.0f} s)",
                f"p99 {f(ss.task_p99, 2)} s ({ss.task_missed} missed)",
                at,
                ss.task_p99 <= POLL_INTERVAL + 1 and ss.task_missed == 0,
            )
        )
    if ss is not None and base is not None:
        ratio = base.api_mb_per_min / ss.api_mb_per_min if ss.api_mb_per_min else math.nan
        out.append(
            (
                "Docker API bytes/min ≥ 20x below the baseline (15 s scrapes)",
                f"{f(ratio)}x ({f(ss.api_mb_per_min)} vs {f(base.api_mb_per_min)} MB/min)",
                at,
                ratio >= 20,
            )
        )
    if size.healer:
        h = size.healer[0]
        out.append(
            (
                "healer evaluation over all services ≤ 20 ms",
                f"p50 {f(h.p50_ms)} ms, p99 {f(h.p99_ms)} ms ({h.services:,} services)",
                f"{size.nodes:,} nodes, scope=all, dry run",
                h.p99_ms <= 20,
            )
        )
    return out


def targets_table(results: Results) -> str:
    rows = ["| target | measured | at | met |", "|---|---|---|---|"]
    for name, measured, at, met in targets(results):
        rows.append(f"| {name} | {measured} | {at} | {'met' if met else '**missed**'} |")
    return "\n".join(rows) + "\n"


def extras_tables(results: Results) -> str:
    parts = []
    rows = [
        "| nodes | exporter | ready after s | CPU s | API MB read | RSS MiB after |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for s in results.sizes:
        for kind, v in s.sync.items():
            rows.append(
                f"| {s.nodes:,} | {kind} | {f(v['seconds'])} | {f(v['cpu'])} "
                f"| {f(v['api_bytes'] / 1e6, 0)} | {f(v['rss_mib'], 0)} |"
            )
    parts.append("### Start-up (first full listing)\n\n" + "\n".join(rows) + "\n")
    rows = [
        "| nodes | worst scrape s | scrapes | errors | CPU s | relist done after s |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for s in results.sizes:
        if s.relist:
            r = s.relist
            took = f(r["seconds"]) if r["finished"] else f"not within {r['limit_s']:.0f}"
            rows.append(
                f"| {s.nodes:,} | {f(r['worst_scrape_s'], 2)} | {r['scrapes']:.0f} "
                f"| {r['errors']:.0f} | {f(r['cpu_s'])} | {took} |"
            )
    parts.append(
        f"### swarm-sentinel during a full relist (every {RESYNC_MINUTES:g} min, and after each "
        "event-stream reconnect), under churn\n\n" + "\n".join(rows) + "\n"
    )
    rows = [
        "| nodes | services | scope | p50 ms | p99 ms | max ms | broken services "
        "| decisions in last pass | model built in s |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for s in results.sizes:
        for h in s.healer:
            rows.append(
                f"| {s.nodes:,} | {h.services:,} | {h.scope} | {f(h.p50_ms)} | {f(h.p99_ms)} "
                f"| {f(h.max_ms)} | {h.broken} | {h.decided} | {f(s.healer_model_seconds)} |"
            )
    parts.append(
        "### Healer policy evaluation (in-process, dry run, passes 5 s apart)\n\n"
        + "\n".join(rows)
        + "\n"
    )
    if results.cost_curve:
        rows = [
            "| series | nodes | services | body MB | scrape after a change ms "
            "| scrape cached ms | full publish s | RSS growth MiB |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for p in results.cost_curve:
            rows.append(
                f"| {p['series']:,.0f} | {p['nodes']:,.0f} | {p['services']:,.0f} "
                f"| {f(p['body_bytes'] / 1e6)} | {f(p['render_ms'], 2)} "
                f"| {f(p['render_cached_ms'], 2)} | {f(p['publish_seconds'], 2)} "
                f"| {f(p['rss_mib'], 0)} |"
            )
        xs = [p["series"] for p in results.cost_curve]
        a1, b1, r1 = costcurve.fit(xs, [p["render_ms"] for p in results.cost_curve])
        a2, b2, r2 = costcurve.fit(xs, [p["rss_mib"] for p in results.cost_curve])
        a3, _b3, r3 = costcurve.fit(xs, [p["publish_seconds"] for p in results.cost_curve])
        parts.append(
            "### Cost curve (in-process: SwarmModel + TextStore + render_metrics)\n\n"
            + "\n".join(rows)
            + "\n\nLeast-squares lines through the points: scrape after a change "
            f"{a1 * 1e6:.0f} ns/series ({b1:+.2f} ms), R² {r1:.3f}; memory "
            f"{a2 * 1024 * 1024:.0f} bytes/series ({b2:+.0f} MiB), R² {r2:.3f}; full publish "
            f"{a3 * 1e6:.2f} µs/series, R² {r3:.3f}. Per series, the scrape after a change "
            "costs "
            + ", ".join(f"{p['render_ms'] * 1e6 / p['series']:.0f}" for p in results.cost_curve)
            + " ns from the smallest point to the largest.\n"
        )
    if results.load:
        L = results.load
        parts.append(
            f"### Load test: {L['scrapers']:.0f} concurrent scrapers for {L['seconds']:.0f} s "
            f"against swarm-sentinel at {L['nodes']:,.0f} nodes, under churn\n\n"
            "| scrapes | scrapes/s | errors | p50 ms | p99 ms | max ms |\n"
            "|---:|---:|---:|---:|---:|---:|\n"
            f"| {L['scrapes']:,.0f} | {f(L['per_second'])} | {L['errors']:.0f} "
            f"| {f(L['p50_ms'])} | {f(L['p99_ms'])} | {f(L['max_ms'])} |\n"
        )
    if results.burst:
        B = results.burst
        drained = (
            f(B["drained_s"])
            if not math.isnan(B["drained_s"])
            else f"not within {B['limit_s']:.0f} s ({B['handled']:,.0f} handled)"
        )
        parts.append(
            f"### Event burst: {B['events']:,.0f} events in 1 s against swarm-sentinel at "
            f"{B['nodes']:,.0f} nodes (churn off)\n\n"
            "| worst scrape ms | p99 ms | p50 ms | scrapes | errors | all events handled after s "
            "| full relists meanwhile | event-stream reconnects |\n"
            "|---:|---:|---:|---:|---:|---:|---:|---:|\n"
            f"| {f(B['worst_scrape_ms'])} | {f(B['p99_ms'])} | {f(B['p50_ms'])} "
            f"| {B['scrapes']:.0f} | {B['errors']:.0f} | {drained} "
            f"| {B['full_relists']:.0f} | {B['stream_reconnects']:.0f} |\n"
        )
    return "\n".join(parts)


def write_doc(results: Results, path: Path) -> None:
    m = results.machine
    findings = FINDINGS.read_text() if FINDINGS.exists() else ""
    text = f"""# Benchmarks

Generated by `make bench` (`python -m bench.run{" --quick" if results.quick else ""}`) on
{time.strftime("%Y-%m-%d", time.gmtime(results.started))} at commit {m["commit"]}, in
{results.seconds / 60:.1f} min.
Everything ran on one machine: {m["cpu"]}, {m["cores"]} cores, {m["memory"]} RAM,
Python {m["python"]}, Linux {m["kernel"]} (load average {m["load_at_start"]} at the
start; the simulated engine, the exporter under test and the scrapers share the 2 cores).

## Results

{main_table(results)}
Per size, the swarm has 5 services per node (1 in 20 global, on a pool of 10
nodes), 10 tasks per service and 5 tasks per slot with history (what swarm's
default TaskHistoryRetentionLimit keeps); 1 % of the services have a task
stuck `pending`. *steady*: nothing changes. *churn*: 200 task state changes/s,
20 service update events/s, a node flap every 5 s. RSS is the largest value
sampled while measuring the mode; the peak (VmHWM) includes start-up and
relists. Baseline rows marked x1 were measured with one scraper (see method).

## Targets

At {TARGET_SIZE:,} nodes / {5 * TARGET_SIZE:,} services / {50 * TARGET_SIZE:,} tasks, under churn:

{targets_table(results)}
{findings}
## More measurements

{extras_tables(results)}
## Method

- **Simulated engine** (`bench/sim/`): an aiohttp server on a unix
  socket answering the Engine API 1.41 calls the exporters make, with JSON
  shaped like dockerd 20.10's (templates and a key-by-key check against real
  answers in `engine-samples/`, `python -m bench.shapecheck`, run before every
  bench), lists sent chunked like dockerd's, events as JSON lines honouring
  `since`, `until` and `filters`, and Go's 1 MiB limit on request lines.
  Task churn: the running task of a random slot fails and a replacement is
  created in `ready`, running 5 s later (the restart delay): two state changes
  per restart; /tasks and the `RunningTasks` of `/services?status=true` follow.
  Service churn: a label update, one `service update` event each. Node flaps:
  a worker goes `down` for 10 s. A few services and workers are kept out of
  the churn for probes. It counts requests and bytes per endpoint.
- **swarm-sentinel**: the real console script, `--no-healer.enabled
  --log.level warn`, default polling ({POLL_INTERVAL:g} s) and relist
  ({RESYNC_MINUTES:g} min) intervals, at commit {m["commit"]}.
- **Baseline** (`bench/baseline.py`): on every scrape lists `/nodes`,
  `/services` and `/tasks` and builds prometheus-client gauge families in a
  custom collector (node state and availability, replicas desired and
  running, tasks by state): what most existing swarm exporters do.
- **Scrape latency**: 4 concurrent scrapers scraping back to back
  (swarm-sentinel {Plan().conc_seconds:.0f} s; the baseline two scrapes each),
  time to the last byte. At 5,000 nodes the baseline is scraped by one scraper
  only: each of its scrapes holds the full task list in memory, 4 at once
  would need several GiB more.
- **CPU and API per minute at a 15 s scrape interval**: the exporter's CPU
  (utime+stime, /proc) and the simulator's request and byte counters over a
  background window with no scrapes, plus 4 x the measured cost of one scrape;
  for swarm-sentinel also its full relist every {RESYNC_MINUTES:g} min (the
  measured start-up listing, amortised). A swarm-sentinel scrape makes no
  Engine API call.
- **event → metric**: the simulator changes a probe object and emits the
  event (node down / back, service scaled 10 → 11 → 10), and answers the
  `time.monotonic()` of the change; one scraper scrapes back to back and the
  latency is the end of the first scrape whose body has the new value (an
  upper bound, off by at most one scrape). For the baseline this is the
  time its next scrape takes; at a 15 s scrape interval add up to 15 s.
- **task change → metric**: the simulator fails the running task of slot 1
  of a probe service; seen when the running replicas drop or the failure
  counter (baseline: tasks in `failed`) goes up. No events exist for tasks:
  swarm-sentinel sees it at its next poll.
- **Healer**: `healer.runner.Healer.evaluate` in-process on a
  `SwarmModel` built from the simulator's answers, dry run, stub forcer,
  logs filtered as with `--log.level warn`; the first pass is not counted.
- **Cost curve**: `python -m bench.costcurve` per point, in a fresh process.

## Running the simulated engine on its own

```sh
.venv/bin/python -m bench.sim --socket /tmp/sim.sock --nodes 1000 --services 5000 \\
    --tasks-per-service 10 --history 5 --task-churn 200 --service-churn 20 --node-flaps 0.2
.venv/bin/swarm-sentinel --docker.host unix:///tmp/sim.sock --web.listen-address 127.0.0.1:9675
curl --unix-socket /tmp/sim.sock http://x/_sim/stats     # requests and bytes per endpoint
DOCKER_HOST=unix:///tmp/sim.sock docker service ls        # the docker CLI works too
```

It prints its counters when it stops (Ctrl-C, or `--max-seconds`, default
1 h). Control: `POST /_sim/churn {{"task_churn":…,"service_churn":…,"node_flaps":…}}`,
`POST /_sim/probe {{"kind":"node_down|node_up|scale|task_fail","target":ID}}`,
`POST /_sim/burst {{"events":10000,"seconds":1}}`, `POST /_sim/drop_streams`,
`GET /_sim/meta`. Same seed, same swarm.

`make bench` takes about 16 minutes on this machine; `--quick` (100 and
1,000 nodes, shorter windows) about 5; `--sizes 1000` runs one size;
`--json FILE` keeps the raw results and `--from-json FILE` writes the tables
and this page again from them.

## Checking a change side by side

```sh
.venv/bin/python -m bench.ab --old HEAD~1 --nodes 1000
```

runs the exporter of an older revision (a `git archive` snapshot) and the
working tree's at the same time against one simulated swarm under the churn
above, alternating 15 s windows of 4 scrapers between them, and prints scrape
p50/p99, RSS, CPU and the API requests and bytes each read. The figures are
for comparing the two, not absolute (the three processes share the cores).
"""
    path.write_text(text)


# ---- main -------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> Results:
    results = Results(quick=args.quick, machine=machine())
    tmp = Path(tempfile.mkdtemp(prefix="swarm-sentinel-bench-"))
    t0 = time.monotonic()
    try:
        problems = [p for api in API_VERSIONS for p in shapecheck.check(api)]
        if problems:
            raise SystemExit(
                "simulated engine JSON differs from the samples:\n" + "\n".join(problems)
            )
        log("simulated engine JSON matches the real samples")
        for nodes in args.sizes:
            results.sizes.append(await bench_size(nodes, args.quick, tmp, results, args.engine))
        if not args.no_curve:
            points = (
                [10_000, 50_000, 100_000]
                if args.quick
                else [
                    10_000,
                    25_000,
                    50_000,
                    100_000,
                    250_000,
                    500_000,
                ]
            )
            results.cost_curve = await asyncio.to_thread(cost_curve, points)
    finally:
        results.seconds = time.monotonic() - t0
        if args.keep_logs:
            log(f"logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return results


def load_results(path: Path) -> Results:
    """Results saved with --json, to write the tables and the doc again."""
    raw = json.loads(path.read_text())
    sizes = []
    for s in raw.pop("sizes"):
        modes = [ModeResult(**m) for m in s.pop("modes")]
        healer = [healerbench.HealerTiming(**h) for h in s.pop("healer")]
        sizes.append(SizeResult(**s, modes=modes, healer=healer))
    return Results(sizes=sizes, **raw)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="100 and 1,000 nodes, shorter windows")
    p.add_argument("--sizes", help="comma-separated node counts (default 100,1000,5000)")
    p.add_argument("--no-docs", action="store_true", help="do not write docs/benchmarks.md")
    p.add_argument(
        "--engine",
        choices=sorted(SIM_ENGINES),
        default="debian",
        help="simulate dockerd 20.10 (API 1.41), or Engine 28.5 refusing API < 1.44 as "
        "Engine 29 does (default: %(default)s)",
    )
    p.add_argument("--no-curve", action="store_true", help="skip the cost curve")
    p.add_argument("--keep-logs", action="store_true", help="keep the processes' logs")
    p.add_argument("--json", type=Path, help="also write the raw results here")
    p.add_argument("--from-json", type=Path, help="measure nothing: report results saved by --json")
    a = p.parse_args(argv)
    if a.sizes:
        a.sizes = [int(x.replace("_", "")) for x in a.sizes.split(",") if x.strip()]
    else:
        a.sizes = [100, 1000] if a.quick else [100, 1000, 5000]
    return a


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = load_results(args.from_json) if args.from_json else asyncio.run(run(args))
    print(main_table(results))
    print(targets_table(results))
    print(extras_tables(results))
    if args.json:
        args.json.write_text(dumps(asdict(results)))
    if not args.no_docs:
        write_doc(results, DOC)
        log(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
