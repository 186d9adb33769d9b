"""Two versions of swarm-sentinel side by side on one simulated engine.

``python -m bench.ab --old REV`` runs the exporter from git revision ``REV``
(a snapshot made with ``git archive``) and the one in this working tree
against the same simulated swarm under the same churn, at the same time, and
prints, for each: scrape p50/p99 under concurrent scrapers, RSS, CPU and the
Engine API bytes it read (its own ``dockerswarm_exporter_api_*`` counters).
Both share the machine's cores with the simulator, so the figures are only
comparable with each other: this is for checking a change, not for the
absolute figures of ``make bench``.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.measure import (
    PROMETHEUS_ACCEPT_ENCODING,
    Proc,
    SimClient,
    new_session,
    percentile,
    scrape_load,
    scrape_once,
    start,
)
from bench.probes import relists
from bench.run import CHURN, SIM_ENGINES, free_port, sentinel_flags, sim_argv

ROOT = Path(__file__).resolve().parents[1]
_COUNTER = r'^dockerswarm_exporter_{name}_total\{{endpoint="([^"]+)"\}} ([0-9.e+]+)$'


@dataclass
class Side:
    name: str
    proc: Proc
    url: str


def snapshot(rev: str, dest: Path) -> None:
    """The tree of ``rev``, unpacked into ``dest`` (no checkout of this repository moves)."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)


def start_side(name: str, log: str, source: Path, sock: str, tmp: Path) -> Side:
    listen = f"127.0.0.1:{free_port()}"
    argv = [
        sys.executable,
        # -P: the working directory (this repository, when run from its root)
        # must not come before PYTHONPATH, or both sides would run this tree.
        "-P",
        "-m",
        "swarm_sentinel.cli",
        *sentinel_flags(sock, listen),
    ]
    proc = start(name, argv, tmp / f"{log}.log", {"PYTHONPATH": str(source)})
    return Side(name, proc, f"http://{listen}/metrics")


def api_by_endpoint(body: bytes, name: str) -> dict[str, float]:
    pattern = re.compile(_COUNTER.format(name=name).encode(), re.M)
    return {m.group(1).decode(): float(m.group(2)) for m in pattern.finditer(body)}


async def wait_synced(side: Side, within: float) -> None:
    deadline = time.monotonic() + within
    async with new_session(1) as session:
        while True:
            scrape, body = await scrape_once(session, side.url)
            if scrape.ok and relists(body) >= 1:
                return
            if not side.proc.alive():
                raise RuntimeError(f"{side.name} exited: {side.proc.tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{side.name} did not finish its first relist")
            await asyncio.sleep(1)


@dataclass
class Counters:
    requests: dict[str, float]
    bytes: dict[str, float]


async def counters(side: Side) -> Counters:
    async with new_session(1) as session:
        _, body = await scrape_once(session, side.url)
    return Counters(
        api_by_endpoint(body, "api_requests"), api_by_endpoint(body, "api_response_bytes")
    )


def per_minute(
    after: dict[str, float], before: dict[str, float], minutes: float
) -> dict[str, float]:
    return {k: (v - before.get(k, 0.0)) / minutes for k, v in after.items()}


async def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="ss-ab-") as tmp_name:
        tmp = Path(tmp_name)
        old_src = tmp / "old"
        old_src.mkdir()
        snapshot(args.old, old_src)
        sock = str(tmp / "sim.sock")
        nodes = args.nodes
        argv = [*sim_argv(sock, nodes, args.engine), "--quiet"]
        sim_proc = start("simengine", argv, tmp / "sim.log", {"PYTHONPATH": str(ROOT)})
        sim = SimClient(sock)
        sides: list[Side] = []
        try:
            await sim.wait_up(600)
            sides = [
                start_side(f"old ({args.old})", "old", old_src, sock, tmp),
                start_side("new (working tree)", "new", ROOT, sock, tmp),
            ]
            await asyncio.gather(*(wait_synced(s, 600) for s in sides))
            await sim.churn(CHURN["task"], CHURN["service"], CHURN["flaps"])
            await asyncio.sleep(args.warmup)
            before = [await counters(s) for s in sides]
            cpu0 = [s.proc.cpu_seconds() for s in sides]
            t0 = time.monotonic()
            # Windows alternate between the sides, several times, so that both see
            # the same mix of the simulator's and each other's polls.
            scrapes: dict[str, list[float]] = {s.name: [] for s in sides}
            rss: dict[str, float] = {s.name: 0.0 for s in sides}
            for _ in range(args.rounds):
                for s in sides:
                    got = await scrape_load(
                        s.url, args.scrapers, args.window, accept_encoding=args.encoding
                    )
                    errors = [x.error for x in got if not x.ok]
                    if errors:
                        print(f"{s.name}: {len(errors)} failed scrapes, e.g. {errors[0]}")
                    scrapes[s.name] += [x.seconds * 1000 for x in got if x.ok]
                    rss[s.name] = max(rss[s.name], s.proc.memory()[0])
            minutes = (time.monotonic() - t0) / 60
            after = [await counters(s) for s in sides]
            print(
                f"{nodes} nodes, {5 * nodes} services, churn {CHURN}, "
                f"{args.scrapers} scrapers asking for {args.encoding}, "
                f"{args.rounds} x {args.window:g} s windows each"
            )
            print(
                f"{'exporter':<28} {'scrapes':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
                f"{'RSS MiB':>8} {'CPU s/min':>9} {'API req/min':>11} {'API MB/min':>10}"
            )
            rates = [
                (
                    per_minute(after[i].requests, before[i].requests, minutes),
                    per_minute(after[i].bytes, before[i].bytes, minutes),
                )
                for i in range(len(sides))
            ]
            for i, s in enumerate(sides):
                ms = scrapes[s.name] or [math.nan]
                req = sum(rates[i][0].values())
                mb = sum(rates[i][1].values()) / 1e6
                cpu = (s.proc.cpu_seconds() - cpu0[i]) / minutes
                print(
                    f"{s.name:<28} {len(ms):>7} {percentile(ms, 50):>8.1f} "
                    f"{percentile(ms, 99):>8.1f} {max(ms):>8.1f} {rss[s.name]:>8.0f} "
                    f"{cpu:>9.1f} {req:>11.0f} {mb:>10.1f}"
                )
            print("API per endpoint, requests/min and MB/min:")
            for s, (reqs, mbs) in zip(sides, rates, strict=True):
                parts = ", ".join(
                    f"{k} {reqs.get(k, 0.0):.0f} / {v / 1e6:.1f}"
                    for k, v in sorted(mbs.items(), key=lambda kv: -kv[1])
                    if v or reqs.get(k)
                )
                print(f"  {s.name}: {parts}")
        finally:
            await sim.close()
            for s in sides:
                s.proc.stop()
            sim_proc.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__.split("\n\n")[0])
    p.add_argument("--old", default="HEAD", help="git revision to compare with (default HEAD)")
    p.add_argument("--nodes", type=int, default=1000, help="simulated nodes (5 services each)")
    p.add_argument(
        "--engine",
        choices=sorted(SIM_ENGINES),
        default="debian",
        help="simulated engine: debian (20.10) or modern (refusing API < 1.44, as Engine 29)",
    )
    p.add_argument("--scrapers", type=int, default=4, help="concurrent scrapers per window")
    p.add_argument(
        "--encoding",
        default=PROMETHEUS_ACCEPT_ENCODING,
        help="the scrapers' Accept-Encoding (default: Prometheus', gzip; try identity)",
    )
    p.add_argument("--window", type=float, default=15.0, help="seconds per scrape window")
    p.add_argument("--rounds", type=int, default=4, help="windows per side, alternating")
    p.add_argument("--warmup", type=float, default=20.0, help="seconds of churn before measuring")
    return asyncio.run(run(p.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
