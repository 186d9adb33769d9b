"""Measuring tools: processes (/proc), scrapers, the simulator's control API, percentiles."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import math
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

CLK_TCK = os.sysconf("SC_CLK_TCK")
_PR_SET_PDEATHSIG = 1


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); NaN when empty."""
    if not values:
        return math.nan
    s = sorted(values)
    if len(s) == 1:
        return s[0]
    pos = (len(s) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


# ---- processes ----------------------------------------------------------------


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the bench dies, so nothing outlives it."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    started: float = field(default_factory=time.monotonic)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def cpu_seconds(self) -> float:
        """utime + stime of the process, from /proc/PID/stat."""
        try:
            text = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return math.nan
        fields = text.rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def memory(self) -> tuple[float, float]:
        """(VmRSS, VmHWM) in MiB, from /proc/PID/status."""
        rss = hwm = math.nan
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1]) / 1024
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1]) / 1024
        except OSError:
            pass
        return rss, hwm

    def stop(self, grace: float = 15.0) -> int | None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        return self.popen.returncode

    def tail(self, lines: int = 5) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def start(name: str, argv: list[str], log: Path, env: dict[str, str] | None = None) -> Proc:
    """Start a child whose output goes to ``log``; it dies with the bench."""
    out = log.open("wb")
    popen = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=subprocess.STDOUT,
        preexec_fn=_die_with_parent,
        env={**os.environ, **(env or {})},
    )
    out.close()
    return Proc(name, popen, log)


# ---- the simulator's control API ---------------------------------------------------


class SimClient:
    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.UnixConnector(path=self.socket_path, limit=0),
                timeout=aiohttp.ClientTimeout(total=600),
            )
        return self._session

    async def get(self, path: str) -> Any:
        async with self.session().get(f"http://sim{path}") as resp:
            resp.raise_for_status()
            return await resp.json(content_type=None)

    async def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        async with self.session().post(f"http://sim{path}", json=body or {}) as resp:
            resp.raise_for_status()
            return await resp.json(content_type=None)

    async def stats(self) -> dict[str, Any]:
        data: dict[str, Any] = await self.get("/_sim/stats")
        return data

    async def churn(self, task: float, service: float, flaps: float) -> None:
        await self.post(
            "/_sim/churn", {"task_churn": task, "service_churn": service, "node_flaps": flaps}
        )

    async def probe(self, kind: str, target: str, **extra: Any) -> float:
        data = await self.post("/_sim/probe", {"kind": kind, "target": target, **extra})
        return float(data["t"])

    async def wait_up(self, within: float) -> None:
        deadline = time.monotonic() + within
        while True:
            try:
                async with self.session().get("http://sim/_ping") as resp:
                    if resp.status == 200:
                        return
            except (aiohttp.ClientError, OSError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"simulator on {self.socket_path} did not come up")
            await asyncio.sleep(0.2)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


@dataclass(frozen=True)
class ApiDelta:
    requests: int
    bytes: int
    seconds: float
    by_endpoint: dict[str, tuple[int, int]]


def api_delta(before: dict[str, Any], after: dict[str, Any]) -> ApiDelta:
    eps: dict[str, tuple[int, int]] = {}
    for name, v in after["endpoints"].items():
        o = before["endpoints"].get(name, {"requests": 0, "bytes": 0})
        r, b = v["requests"] - o["requests"], v["bytes"] - o["bytes"]
        if r or b:
            eps[name] = (r, b)
    return ApiDelta(
        requests=sum(r for r, _ in eps.values()),
        bytes=sum(b for _, b in eps.values()),
        seconds=after["uptime_seconds"] - before["uptime_seconds"],
        by_endpoint=eps,
    )


# ---- scraping ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scrape:
    start: float
    end: float
    nbytes: int
    ok: bool
    error: str = ""
    gzip: bool = False  # the body came gzipped (only seen when it is not decompressed)

    @property
    def seconds(self) -> float:
        return self.end - self.start


PROMETHEUS_ACCEPT_ENCODING = "gzip"
"""What Prometheus' scraper sends (scrape.enable_compression, on by default)."""


def new_session(
    limit: int, timeout: float = 600.0, *, accept_encoding: str | None = None
) -> aiohttp.ClientSession:
    """A client session; with ``accept_encoding`` it sends that header and hands back the
    body as it came over the wire, so that a scrape's time is the exporter's (until the
    last byte) and not this process' decompression, which Prometheus does in parallel
    while it parses."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=limit, force_close=False),
        timeout=aiohttp.ClientTimeout(total=timeout),
        headers={} if accept_encoding is None else {"Accept-Encoding": accept_encoding},
        auto_decompress=accept_encoding is None,
    )


async def scrape_once(session: aiohttp.ClientSession, url: str) -> tuple[Scrape, bytes]:
    t0 = time.monotonic()
    try:
        async with session.get(url) as resp:
            body = await resp.read()
            ok = resp.status == 200
            err = "" if ok else f"HTTP {resp.status}"
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return Scrape(t0, time.monotonic(), 0, False, type(exc).__name__), b""
    gzipped = body[:2] == b"\x1f\x8b"
    return Scrape(t0, time.monotonic(), len(body), ok, err, gzipped), body


async def scrape_load(
    url: str,
    concurrency: int,
    duration: float,
    *,
    max_each: int = 1_000_000,
    accept_encoding: str = PROMETHEUS_ACCEPT_ENCODING,
) -> list[Scrape]:
    """``concurrency`` scrapers, each scraping back to back until ``duration`` is over
    (each does at least one, at most ``max_each``), asking for ``accept_encoding``;
    ``nbytes`` is then what came over the wire."""
    out: list[Scrape] = []
    deadline = time.monotonic() + duration
    async with new_session(concurrency, accept_encoding=accept_encoding) as session:

        async def one() -> None:
            n = 0
            while n < max_each and (n == 0 or time.monotonic() < deadline):
                s, _ = await scrape_once(session, url)
                out.append(s)
                n += 1

        await asyncio.gather(*(one() for _ in range(concurrency)))
    return out


def series_count(body: bytes) -> int:
    return sum(1 for line in body.split(b"\n") if line and not line.startswith(b"#"))


def dumps(obj: object) -> str:
    return json.dumps(obj, indent=1, default=str)
