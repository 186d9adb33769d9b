"""A real swarm-sentinel process for tests, and polling with a deadline.

Tests start the installed console script against a lab node's socket and
read /metrics over HTTP, as Prometheus would.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from prometheus_client.parser import text_string_to_metric_families

T = TypeVar("T")

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def wait_for(probe: Callable[[], T | None], timeout: float, what: str, interval: float = 0.25) -> T:
    """Call ``probe`` until it returns something truthy; fail naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    error: Exception | None = None
    while True:
        try:
            last = probe()
            error = None
            if last:
                return last
        except (OSError, ValueError, AssertionError) as exc:
            error = exc
        if time.monotonic() >= deadline:
            extra = f" (last error: {error})" if error else f" (last value: {last!r})"
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}{extra}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Sentinel:
    """One swarm-sentinel process, stopped by ``stop()`` (and by the fixture that made it)."""

    def __init__(
        self, docker_url: str, args: Sequence[str] = (), env: Mapping[str, str] | None = None
    ) -> None:
        self.port = free_port()
        self.docker_url = docker_url
        self.env = dict(env or {})
        self.args = [
            "--docker.host",
            docker_url,
            "--web.listen-address",
            f"127.0.0.1:{self.port}",
            "--log.format",
            "json",
            "--watch.poll-interval",
            "1s",
            "--watch.resync-interval",
            "30s",
            *args,
        ]
        self.log_path = Path(tempfile.mkstemp(prefix="swarm-sentinel-", suffix=".log")[1])
        self.proc: subprocess.Popen[bytes] | None = None
        self._final_logs = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait_ready: bool = True) -> Sentinel:
        exe = Path(sys.executable).with_name("swarm-sentinel")
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(exe), *self.args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
            )
        if wait_ready:
            wait_for(lambda: self.get("/ready")[0] == 200, 30, "swarm-sentinel /ready")
        return self

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        # Keep what it logged for the test, not on the disk of every CI run.
        self._final_logs = self.logs()
        self.log_path.unlink(missing_ok=True)

    def logs(self) -> str:
        if self.log_path.exists():
            return self.log_path.read_text(errors="replace")
        return self._final_logs

    def get(self, path: str, accept: str = "") -> tuple[int, str]:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"swarm-sentinel exited ({self.proc.returncode}):\n{self.logs()}")
        req = urllib.request.Request(self.url + path, headers={"Accept": accept} if accept else {})
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def samples(self) -> Samples:
        status, text = self.get("/metrics")
        assert status == 200, f"/metrics answered {status}"
        out: Samples = {}
        for fam in text_string_to_metric_families(text):
            for s in fam.samples:
                out[(s.name, frozenset(s.labels.items()))] = s.value
        return out

    def value(self, name: str, **labels: str) -> float | None:
        return self.samples().get((name, frozenset(labels.items())))

    def series(self, name: str, **match: str) -> dict[frozenset[tuple[str, str]], float]:
        """Every sample of ``name`` whose labels include ``match``."""
        want = set(match.items())
        return {k[1]: v for k, v in self.samples().items() if k[0] == name and want <= k[1]}

    def wait_value(
        self,
        name: str,
        expected: float,
        labels: Mapping[str, str] | None = None,
        *,
        timeout: float = 30,
    ) -> None:
        labels = labels or {}
        seen: list[float | None] = []

        def probe() -> bool:
            seen.append(self.value(name, **labels))
            return seen[-1] == expected

        try:
            wait_for(probe, timeout, f"{name}{labels} == {expected}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last value {seen[-1] if seen else None}") from None
