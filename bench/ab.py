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
back to back by one scraper, is timed until it has applied all N (its own counters
of events received and still to follow up; an older version without those: of its
inspects) or ``--burst-limit`` passed. ``--events`` probes event -> metric on both
sides, ``--page-clients`` runs the windows again with clients reloading the status
page; each side runs under the loop probe (``bench/loopprobe.py``), whose longest
callbacks are printed.
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

from bench import callbacks
from bench.callbacks import LIMIT_S, probed
from bench.measure import (
    PROMETHEUS_ACCEPT_ENCODING,
    Scrape,
    SimClient,
    new_session,
    percentile,
    scrape_load,
    scrape_once,
    start,
)
from bench.probes import followed, relists
from bench.run import CHURN, SIM_ENGINES, free_port, sentinel_flags, sim_argv
from bench.sides import (
    PAGE_HEAD,
    SCRAPE_HEAD,
    PageLoad,
    Scrapes,
    Side,
    event_latencies,
    reload_pages,
)

ROOT = Path(__file__).resolve().parents[1]
_COUNTER = r'^dockerswarm_exporter_{name}_total\{{endpoint="([^"]+)"\}} ([0-9.e+]+)$'


def snapshot(rev: str, dest: Path) -> None:
    """The tree of ``rev``, unpacked into ``dest`` (no checkout of this repository moves)."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)


def start_side(name: str, log: str, source: Path, sock: str, tmp: Path) -> Side:
    """One side's exporter, from the tree at ``source``, under the loop probe."""
    listen = f"127.0.0.1:{free_port()}"
    probe_log = tmp / f"{log}-callbacks.jsonl"
    argv = probed(probe_log, ["-m", "swarm_sentinel.cli", *sentinel_flags(sock, listen)])
    proc = start(name, argv, tmp / f"{log}.log", {"PYTHONPATH": str(source)})
    return Side(name, proc, f"http://{listen}/metrics", probe_log)


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
    bodies = [plain(b) for b in await asyncio.gather(*(body(s) for s in sides))]
    before = [(inspects(b), (followed(b) or (0.0, 0.0))[0]) for b in bodies]
    out = {s.name: Burst() for s in sides}
    t0 = time.monotonic()

    async def follow(side: Side, start: tuple[float, float]) -> None:
        got = out[side.name]
        times: list[float] = []
        async with new_session(1, accept_encoding=encoding) as session:
            while time.monotonic() - t0 < limit:
                scrape, raw = await scrape_once(session, side.url)
                if not scrape.ok:
                    await asyncio.sleep(0.05)  # a side down answers at once: no busy loop
                    continue
                times.append(scrape.seconds * 1000)
                text = plain(raw)
                own = followed(text)
                if own is not None:  # its own count of events received and still to apply
                    received, pending = own[0] - start[1], own[1]
                    got.handled = min(received - pending, events)
                    done = received >= events and not pending
                else:  # an older version: one inspect per event
                    got.handled = inspects(text) - start[0]
                    done = got.handled >= events
                if done:
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


async def windows(
    sides: list[Side], args: argparse.Namespace, pages: int = 0
) -> dict[str, tuple[Scrapes, list[Scrape], float]]:
    """Alternating windows of ``args.scrapers`` scrapers per side (with ``pages`` clients
    reloading its status page meanwhile): each side's scrapes, pages and largest RSS."""
    out: dict[str, tuple[Scrapes, list[Scrape], float]] = {
        s.name: (Scrapes(), [], 0.0) for s in sides
    }
    # Windows alternate between the sides, several times, so that both see the same
    # mix of the simulator's and each other's polls; which side goes first alternates
    # too (the one going first did markedly better in A/A runs of one tree).
    for r in range(args.rounds):
        for s in sides if r % 2 == 0 else sides[::-1]:
            loads = [scrape_load(s.url, args.scrapers, args.window, accept_encoding=args.encoding)]
            if pages:
                loads.append(reload_pages(s.base, pages, args.window))
            got = await asyncio.gather(*loads)
            errors = [x.error for x in got[0] if not x.ok]
            if errors:
                print(f"{s.name}: {len(errors)} failed scrapes, e.g. {errors[0]}")
            scrapes, page_list, rss = out[s.name]
            scrapes.got += got[0]
            if pages:
                page_list += got[1]
            out[s.name] = (scrapes, page_list, max(rss, s.proc.memory()[0]))
    return out


def print_callbacks(sides: list[Side], t0: float, t1: float) -> None:
    print(
        f"Callbacks on each side's main event loop (the watcher's), {t1 - t0:.0f} s: "
        f"how many ran, how many over {LIMIT_S * 1000:.0f} ms, the longest, full collections"
    )
    for s in sides:
        if s.probe_log is None:
            continue
        cb = callbacks.window(s.probe_log, t0, t1)
        gcs = (
            f"{len(cb.collections)} (max {max(cb.collections, default=0) * 1000:.0f} ms), "
            f"younger ones over 2 ms {len(cb.young)} (max {max(cb.young, default=0) * 1000:.0f} ms)"
        )
        print(
            f"  {s.name:<26} {cb.count:>9,} run, {cb.over():>5} over "
            f"({cb.cpu_over()} by their own CPU time), max {cb.max_ms:7.1f} ms "
            f"({cb.max_cpu_ms:.1f} CPU), full collections {gcs}"
        )
        for what, n, worst, cpu in cb.kinds()[:8]:
            print(f"      {n:>5} x up to {worst:6.1f} ms ({cpu:5.1f} CPU)  {what}")
        print("    the longest:")
        for line in cb.top(5):
            print(f"      {line}")


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
            await sim.wait_up(1800)
            meta = await sim.get("/_sim/meta")
            sides = [
                start_side(f"old ({args.old})", "old", old_src, sock, tmp),
                start_side("new (working tree)", "new", ROOT, sock, tmp),
            ]
            await asyncio.gather(*(wait_synced(s, 1800) for s in sides))
            await sim.churn(CHURN["task"], CHURN["service"], CHURN["flaps"])
            await asyncio.sleep(args.warmup)
            before = [await counters(s) for s in sides]
            cpu0 = [s.proc.cpu_seconds() for s in sides]
            t0 = time.monotonic()
            measured = await windows(sides, args)
            t1 = time.monotonic()
            minutes = (t1 - t0) / 60
            after = [await counters(s) for s in sides]
            print(
                f"{nodes} nodes, {5 * nodes} services, churn {CHURN}, "
                f"{args.scrapers} scrapers asking for {args.encoding}, "
                f"{args.rounds} x {args.window:g} s windows each"
            )
            print(
                f"{'exporter':<28} {SCRAPE_HEAD} "
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
                scrapes, _, rss = measured[s.name]
                req = sum(rates[i][0].values())
                mb = sum(rates[i][1].values()) / 1e6
                cpu = (s.proc.cpu_seconds() - cpu0[i]) / minutes
                print(
                    f"{s.name:<28} {scrapes.row()} {rss:>8.0f} {cpu:>9.1f} {req:>11.0f} {mb:>10.1f}"
                )
            print("API per endpoint, requests/min and MB/min:")
            for s, (reqs, mbs) in zip(sides, rates, strict=True):
                parts = ", ".join(
                    f"{k} {reqs.get(k, 0.0):.0f} / {v / 1e6:.1f}"
                    for k, v in sorted(mbs.items(), key=lambda kv: -kv[1])
                    if v or reqs.get(k)
                )
                print(f"  {s.name}: {parts}")
            print_callbacks(sides, t0, t1)
            if args.events:
                lat = await event_latencies(sides, sim, meta, args.events)
                print(f"Event -> metric under churn, {args.events} changes, one scraper each:")
                for s in sides:
                    ms = [x for x in lat[s.name] if not math.isnan(x)] or [math.nan]
                    missed = sum(1 for x in lat[s.name] if math.isnan(x))
                    print(
                        f"  {s.name:<26} p50 {percentile(ms, 50):7.1f} ms, "
                        f"p99 {percentile(ms, 99):7.1f} ms, max {max(ms):7.1f} ms, "
                        f"{missed} missed"
                    )
            if args.page_clients:
                t2 = time.monotonic()
                loaded = await windows(sides, args, pages=args.page_clients)
                print(
                    f"With {args.page_clients} clients reloading / (gzip) beside the "
                    f"{args.scrapers} scrapers:"
                )
                print(f"{'exporter':<28} {PAGE_HEAD}")
                for s in sides:
                    scrapes, pages, _ = loaded[s.name]
                    print(f"{s.name:<28} {PageLoad(scrapes, pages).row()}")
                print_callbacks(sides, t2, time.monotonic())
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
    p.add_argument("--events", type=int, default=16, help="then this many event probes (0: none)")
    p.add_argument(
        "--page-clients",
        type=int,
        default=0,
        help="then the windows again with this many clients reloading / beside (0: none)",
    )
    p.add_argument(
        "--burst", type=int, default=0, help="then an event burst of this many changes (0: none)"
    )
    p.add_argument(
        "--burst-limit", type=float, default=30.0, help="seconds each side gets for the burst"
    )
    return asyncio.run(run(p.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
