"""What ``bench.ab`` measures of each side: scrapes (with the share that came gzipped),
how soon an event shows, and scrapes while clients reload the status page."""

from __future__ import annotations

import asyncio
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.measure import (
    Proc,
    Scrape,
    SimClient,
    new_session,
    percentile,
    scrape_load,
    scrape_once,
)


@dataclass
class Side:
    name: str
    proc: Proc
    url: str  # its /metrics
    probe_log: Path | None = None  # its loop probe's output, when run under it

    @property
    def base(self) -> str:
        return self.url.rsplit("/", 1)[0]


@dataclass
class Scrapes:
    """The scrapes of one side over its windows."""

    got: list[Scrape] = field(default_factory=list)

    @property
    def ok_ms(self) -> list[float]:
        return [x.seconds * 1000 for x in self.got if x.ok] or [math.nan]

    @property
    def gzip_share(self) -> float:
        """Of the scrapes answered, the share that came gzipped."""
        ok = [x for x in self.got if x.ok]
        return sum(1 for x in ok if x.gzip) / len(ok) if ok else math.nan

    def row(self) -> str:
        ms = self.ok_ms
        return (
            f"{len(self.got):>7} {percentile(ms, 50):>8.1f} {percentile(ms, 99):>8.1f} "
            f"{max(ms):>8.1f} {self.gzip_share * 100:>6.1f}%"
        )


SCRAPE_HEAD = f"{'scrapes':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'gzip':>7}"


def _node_line(node: dict[str, str], state: str) -> bytes:
    return (
        f'dockerswarm_node_state{{node_id="{node["id"]}",hostname="{node["hostname"]}",'
        f'state="{state}"}} 1\n'
    ).encode()


def _desired_line(svc: dict[str, Any], n: int) -> bytes:
    return (
        f'dockerswarm_service_replicas_desired{{service_name="{svc["name"]}",'
        f'stack="{svc["stack"]}"}} {n}\n'
    ).encode()


async def event_latencies(
    sides: list[Side], sim: SimClient, meta: dict[str, Any], count: int, within: float = 10.0
) -> dict[str, list[float]]:
    """``count`` changes the engine announces by an event (a node down then up, a service
    scaled up then back), one at a time; for each side, ms from the change to the end of
    its first scrape (one scraper, back to back) that shows it; NaN: not within
    ``within`` seconds. Both sides see the same changes."""
    nodes: list[dict[str, str]] = meta["probe_nodes"]
    services: list[dict[str, Any]] = meta["probe_services"]
    services = services[: max(1, len(services) // 2)]  # the others are task probes'
    out: dict[str, list[float]] = {s.name: [] for s in sides}
    steps: list[tuple[str, str, dict[str, Any], bytes]] = []
    for i in range(max(1, count // 4)):
        node, svc = nodes[i % len(nodes)], services[i % len(services)]
        reps = int(svc["replicas"])
        steps += [
            ("node_down", node["id"], {}, _node_line(node, "down")),
            ("node_up", node["id"], {}, _node_line(node, "ready")),
            ("scale", svc["id"], {"replicas": reps + 1}, _desired_line(svc, reps + 1)),
            ("scale", svc["id"], {"replicas": reps}, _desired_line(svc, reps)),
        ]
    sessions = [new_session(1) for _ in sides]
    try:

        async def watch(side: Side, session: Any, t0: float, needle: bytes) -> None:
            while time.monotonic() - t0 < within:
                scrape, body = await scrape_once(session, side.url)
                if scrape.ok and needle in body:
                    out[side.name].append((scrape.end - t0) * 1000)
                    return
                if not scrape.ok:
                    await asyncio.sleep(0.05)
            out[side.name].append(math.nan)

        for kind, target, extra, needle in steps:
            t0 = await sim.probe(kind, target, **extra)
            await asyncio.gather(
                *(watch(s, ses, t0, needle) for s, ses in zip(sides, sessions, strict=True))
            )
            await asyncio.sleep(random.uniform(0.05, 0.25))
    finally:
        for ses in sessions:
            await ses.close()
    return out


@dataclass
class PageLoad:
    scrapes: Scrapes
    pages: list[Scrape]

    def row(self) -> str:
        ms = [x.seconds * 1000 for x in self.pages if x.ok] or [math.nan]
        ok = [x for x in self.pages if x.ok]
        kb = sum(x.nbytes for x in ok) / len(ok) / 1024 if ok else math.nan
        gz = sum(1 for x in ok if x.gzip) / len(ok) * 100 if ok else math.nan
        return (
            f"{self.scrapes.row()} {len(self.pages):>6} {percentile(ms, 50):>8.1f} "
            f"{percentile(ms, 99):>8.1f} {kb:>8.0f} {gz:>6.1f}%"
        )


PAGE_HEAD = (
    f"{SCRAPE_HEAD} {'pages':>6} {'page p50':>8} {'page p99':>8} {'page KiB':>8} {'gzip':>7}"
)


async def reload_pages(base: str, clients: int, duration: float) -> list[Scrape]:
    """``clients`` browsers reloading the status page back to back (asking for gzip, as
    browsers do), for ``duration`` seconds."""
    got: list[Scrape] = []
    deadline = time.monotonic() + duration
    async with new_session(clients, accept_encoding="gzip, deflate") as session:

        async def one() -> None:
            while time.monotonic() < deadline:
                s, _ = await scrape_once(session, base + "/")
                got.append(s)
                if not s.ok:
                    await asyncio.sleep(0.05)

        await asyncio.gather(*(one() for _ in range(clients)))
    return got


async def page_load(url: str, base: str, seconds: float, clients: int = 4) -> dict[str, float]:
    """/metrics under 4 scrapers (asking for gzip), alone then with ``clients`` browsers
    reloading the status page back to back: issue 20's "a page never delays a scrape"."""
    alone = await scrape_load(url, 4, seconds)
    both = await asyncio.gather(scrape_load(url, 4, seconds), reload_pages(base, clients, seconds))
    with_pages, pages = both
    ms = [x.seconds * 1000 for x in alone if x.ok]
    ms_pages = [x.seconds * 1000 for x in with_pages if x.ok]
    page_ms = [x.seconds * 1000 for x in pages if x.ok]
    ok_pages = [x for x in pages if x.ok]
    return {
        "seconds": seconds,
        "clients": float(clients),
        "p50_ms": percentile(ms, 50),
        "p99_ms": percentile(ms, 99),
        "with_pages_p50_ms": percentile(ms_pages, 50),
        "with_pages_p99_ms": percentile(ms_pages, 99),
        "pages": float(len(ok_pages)),
        "page_p50_ms": percentile(page_ms, 50),
        "page_p99_ms": percentile(page_ms, 99),
        "page_kib": sum(x.nbytes for x in ok_pages) / len(ok_pages) / 1024
        if ok_pages
        else math.nan,
        "page_gzip": sum(1 for x in ok_pages if x.gzip) / len(ok_pages) if ok_pages else math.nan,
    }
