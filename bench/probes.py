"""The measurements: what one exporter costs in one mode (background, per scrape, under
concurrent scrapers, per minute), how soon a change shows in its metrics (probes), and
swarm-sentinel's relist, load test and event burst."""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import callbacks
from bench.baseline import line as baseline_line
from bench.measure import (
    ApiDelta,
    Proc,
    Scrape,
    SimClient,
    api_delta,
    new_session,
    percentile,
    scrape_load,
    scrape_once,
    series_count,
)
from bench.results import ModeResult


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
    # Off at 5,000 nodes: the baseline's listings are too far apart there (one per
    # scrape; docs/benchmarks.md has its scrape time).
    baseline_task_probes: bool = True
    relist: bool = True


# ---- the exporter under test -------------------------------------------------------------


@dataclass
class Exporter:
    """A running exporter, and the exposition lines that show a probe's change in it."""

    kind: str  # swarm-sentinel | baseline
    proc: Proc
    url: str
    base: str
    probe_log: Path | None = None  # its loop probe's output (swarm-sentinel)

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


# ---- probes: how soon a change shows -------------------------------------------------------


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
    started = time.monotonic()

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
        # Under churn the background's CPU dwarfs one scrape's: use the steady figure.
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
    answered = [x for x in got if x.ok]
    if answered:
        res.gzip_share = sum(1 for x in answered if x.gzip) / len(answered)
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
    if exp.probe_log is not None:
        await asyncio.sleep(callbacks.SETTLE)  # the probe writes twice a second
        res.callbacks = callbacks.summary(
            callbacks.window(exp.probe_log, started, time.monotonic())
        )
    return res


def relists(body: bytes) -> float:
    """swarm-sentinel's own count of full relists, from a scrape."""
    m = _RELISTS.search(body)
    return float(m.group(1)) if m else math.nan


async def relist_stall(exp: Exporter, sim: SimClient, nodes: int) -> dict[str, float]:
    """Fails the next inspect, so that an event cannot be followed up (as during a leader
    election): swarm-sentinel relists everything, as it also does every
    --watch.resync-interval and after a long loss of the event stream (a short one is
    caught up by the engine's replay, with no relist). Worst scrape while it does."""
    async with new_session(1) as s:
        _, body = await scrape_once(s, exp.url)
    full0 = relists(body)
    c0 = exp.proc.cpu_seconds()
    t0 = time.monotonic()
    await sim.post("/_sim/fail_inspects", {"count": 1})
    scrapes: list[Scrape] = []
    relisted_at = math.nan
    limit = 40.0 if nodes <= 1000 else 60.0
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


_EVENTS = re.compile(rb"^dockerswarm_exporter_events_total\{[^}]*\} ([0-9.e+]+)$", re.M)
_FOLLOW_UPS = re.compile(rb"^dockerswarm_exporter_event_follow_ups ([0-9.e+]+)$", re.M)


def followed(body: bytes) -> tuple[float, float] | None:
    """swarm-sentinel's own count of events received, and of objects whose events are
    still to be followed up; None from a version without the latter."""
    pending = _FOLLOW_UPS.search(body)
    if pending is None:
        return None
    return sum(float(m.group(1)) for m in _EVENTS.finditer(body)), float(pending.group(1))


async def event_burst(
    exp: Exporter, sim: SimClient, events: int, limit: float = 30.0
) -> dict[str, float]:
    """``events`` real changes within 1 s; worst scrape until swarm-sentinel has applied
    every one of them: it received them all and has none left to follow up (its own
    counters; events on one object waiting together are followed up once, so the
    inspects, counted too, can be fewer than the events). An older version without
    those counters: until it made one inspect per event."""

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
    received0 = (followed(body) or (0.0, 0.0))[0]
    rss0 = exp.proc.memory()[0]
    t0 = time.monotonic()
    await sim.post("/_sim/burst", {"events": events, "seconds": 1.0})
    scrapes: list[Scrape] = []
    drained = math.nan
    last_check = 0.0
    handled = 0.0
    inspected = 0
    async with new_session(1) as s:
        while time.monotonic() - t0 < limit:
            sc, body = await scrape_once(s, exp.url)
            scrapes.append(sc)
            own = followed(body) if sc.ok else None
            if own is not None:
                received, pending = own[0] - received0, own[1]
                handled = received - pending
                if received >= events and not pending:
                    drained = time.monotonic() - t0
                    break
            elif time.monotonic() - last_check > 0.25:
                last_check = time.monotonic()
                handled = inspects(await sim.stats()) - before
                if handled >= events:
                    drained = time.monotonic() - t0
                    break
    ok = [x.seconds * 1000 for x in scrapes if x.ok]
    st1 = await sim.stats()
    inspected = inspects(st1) - before
    d = api_delta(st0, st1).by_endpoint
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
        "handled": float(min(handled, events)),
        "inspects": float(inspected),
        "limit_s": limit,
        "rss_growth_mib": exp.proc.memory()[0] - rss0,
    }
