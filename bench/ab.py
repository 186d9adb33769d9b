"""Two versions of swarm-sentinel side by side on one simulated engine.

``python -m bench.ab --old REV`` runs the exporter from git revision ``REV``
(a snapshot made with ``git archive``) and the one in this working tree
against the same simulated swarm under the same churn, at the same time, and
prints, for each: scrape p50/p99 under concurrent scrapers, RSS, CPU and the
Engine API bytes it read (its own ``dockerswarm_exporter_api_*`` counters).
Both share the machine's cores with the simulator, so the figures are only
comparable with each other: this is for checking a change, not for the
absolute figures of ``make bench``.

With ``--burst N``, the churn then stops and the simulator emits N real
changes within 1 s, as ``make bench``'s event burst does; each side, scraped
back to back by one scraper, is timed until it has inspected all N (its own
counters of the ``service`` and ``node`` endpoints) or ``--burst-limit`` passed.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
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
    raw = await body(side)
    return Counters(
        api_by_endpoint(raw, "api_requests"), api_by_endpoint(raw, "api_response_bytes")
    )


INSPECTS = ("service", "node")
"""The endpoints a side calls once per service or node event it follows up."""


def plain(body: bytes) -> bytes:
    """A scrape's body as text, whether it came gzipped (the scraper asked) or not."""
    return gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body


def inspects(body: bytes) -> float:
    made = api_by_endpoint(body, "api_requests")
    return sum(made.get(k, 0.0) for k in INSPECTS)


@dataclass
class Burst:
    handled: float = 0.0
    drained_s: float = math.nan
    scrapes: int = 0
    p99_ms: float = math.nan
    worst_ms: float = math.nan


async def burst(
    sides: list[Side], sim: SimClient, events: int, limit: float, encoding: str
) -> dict[str, Burst]:
    """Each side's time to follow up ``events`` changes made within 1 s, while one
    scraper asks it for ``encoding`` back to back (its bodies carry the counters)."""
    await sim.churn(0, 0, 0)
    await asyncio.sleep(6.0)  # let restarts in flight settle, as make bench does
    before = [inspects(plain(b)) for b in await asyncio.gather(*(body(s) for s in sides))]
    out = {s.name: Burst() for s in sides}
    t0 = time.monotonic()

    async def follow(side: Side, start: float) -> None:
        got = out[side.name]
        times: list[float] = []
        async with new_session(1, accept_encoding=encoding) as session:
            while time.monotonic() - t0 < limit:
                scrape, raw = await scrape_once(session, side.url)
                if not scrape.ok:
                    await asyncio.sleep(0.05)  # a side down answers at once: no busy loop
                    continue
                times.append(scrape.seconds * 1000)
                got.handled = inspects(plain(raw)) - start
                if got.handled >= events:
                    got.drained_s = time.monotonic() - t0
                    break
        got.scrapes = len(times)
        got.p99_ms = percentile(times or [math.nan], 99)
        got.worst_ms = max(times or [math.nan])

    await sim.post("/_sim/burst", {"events": events, "seconds": 1.0})
    await asyncio.gather(*(follow(s, b) for s, b in zip(sides, before, strict=True)))
    return out


async def body(side: Side) -> bytes:
    async with new_session(1) as session:
        _, raw = await scrape_once(session, side.url)
    return raw


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
            if args.burst:
                bursts = await burst(sides, sim, args.burst, args.burst_limit, args.encoding)
                print(
                    f"Burst of {args.burst:,} events in 1 s, churn stopped, one scraper each "
                    f"asking for {args.encoding}, at most {args.burst_limit:g} s:"
                )
                print(
                    f"{'exporter':<28} {'handled':>8} {'drained s':>9} {'scrapes':>7} "
                    f"{'p99 ms':>8} {'max ms':>8}"
                )
                for s in sides:
                    b = bursts[s.name]
                    print(
                        f"{s.name:<28} {b.handled:>8.0f} {b.drained_s:>9.1f} {b.scrapes:>7} "
                        f"{b.p99_ms:>8.1f} {b.worst_ms:>8.1f}"
                    )
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
    p.add_argument(
        "--burst", type=int, default=0, help="then an event burst of this many changes (0: none)"
    )
    p.add_argument(
        "--burst-limit", type=float, default=30.0, help="seconds each side gets for the burst"
    )
    return asyncio.run(run(p.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
