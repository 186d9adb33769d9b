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

This module runs the processes and the parts in order; ``bench.probes`` measures,
``bench.results`` holds what was measured, ``bench.report`` writes it up.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import aiohttp

from bench import healerbench, shapecheck
from bench.callbacks import probed
from bench.measure import SimClient, api_delta, dumps, new_session, start
from bench.probes import Exporter, Plan, event_burst, load_test, measure_mode, relist_stall
from bench.report import extras_tables, main_table, targets_table, write_doc
from bench.results import (
    BASELINE_SIZES,
    SIZES,
    TARGET_SIZE,
    ModeResult,
    Results,
    SizeResult,
    load_results,
)
from bench.sides import page_load
from bench.sim.shapes import API_VERSIONS
from healer.settings import Scope

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
DOC = ROOT / "docs" / "benchmarks.md"
CHURN = {"task": 200.0, "service": 20.0, "flaps": 0.2}
SOURCE_DIRS = ("exporter", "healer", "swarm_sentinel")
# Children import the code next to this bench (also when it runs from a snapshot of a
# commit, e.g. `git archive HEAD | tar -x -C /tmp/snap`), not the editable install's.
CHILD_ENV = {"PYTHONPATH": str(ROOT)}


def managers_for(nodes: int) -> int:
    return 3 if nodes <= 100 else 5 if nodes <= 1000 else 7


def plan_for(nodes: int, quick: bool) -> Plan:
    """Sized to the time budget of the default run (100 to 10,000 nodes): shorter
    windows and fewer probes from 2,500 nodes on, where each part is slowest."""
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
    if nodes >= 2500:
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


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---- exporters ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


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
    probe_log = None
    if kind == "swarm-sentinel":
        # The console script's module, under the loop probe (every callback timed).
        probe_log = tmp / f"callbacks-{port}.jsonl"
        argv = probed(probe_log, ["-m", "swarm_sentinel.cli", *sentinel_flags(sock, listen)])
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
    return Exporter(kind, proc, f"http://{listen}/metrics", f"http://{listen}", probe_log)


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
        await wait_ready(exp, 1800)
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
            if size.nodes >= TARGET_SIZE:
                size.pages = await page_load(exp.url, exp.base, 5.0 if quick else 8.0)
                log(f"  4 page clients: {size.pages}")
            if extras:
                results.load = await load_test(exp, 10.0 if quick else 30.0, 50)
                results.load["nodes"] = float(size.nodes)
                log(f"  load test: {results.load}")
            if plan.relist:
                size.relist = await relist_stall(exp, sim, size.nodes)
                log(f"  full relist: {size.relist}")
            if size.nodes >= TARGET_SIZE:
                await sim.churn(0, 0, 0)
                await asyncio.sleep(6.0)
                size.burst = await event_burst(exp, sim, 10_000)
                size.burst["nodes"] = float(size.nodes)
                log(f"  event burst: {size.burst}")
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
        await sim.wait_up(1800)
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
        kinds = ("swarm-sentinel", "baseline") if nodes in BASELINE_SIZES else ("swarm-sentinel",)
        for kind in kinds:
            await bench_exporter(
                kind, sock, sim, meta, plan, size, tmp, results, nodes == TARGET_SIZE, quick
            )
        return size
    finally:
        await sim.close()
        await asyncio.to_thread(sim_proc.stop)


def cost_curve(points: list[int]) -> list[dict[str, float]]:
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


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="100 and 1,000 nodes, shorter windows")
    p.add_argument("--sizes", help="comma-separated node counts (default 100,1000,2500,5000,10000)")
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
        a.sizes = [100, 1000] if a.quick else list(SIZES)
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
