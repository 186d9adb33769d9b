"""The HTTP surface against hostile clients: the real process, real sockets."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter.web.server import IDLE_TIMEOUT
from tests.support.sentinel import Sentinel, wait_for

BAD_REQUEST = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n"


@pytest.fixture
def sentinel(tmp_path: Path) -> Iterator[Sentinel]:
    # No engine behind it: the HTTP side serves all the same.
    proc = Sentinel(f"unix://{tmp_path}/no-engine.sock").start(wait_ready=False)
    try:
        wait_for(lambda: proc.get("/healthz")[0] == 200, 20, "/healthz")
        yield proc
    finally:
        proc.stop()


def test_bad_requests_log_a_few_json_lines_not_tracebacks(sentinel: Sentinel) -> None:
    before = len(sentinel.logs().splitlines())
    for _ in range(300):
        with socket.create_connection(("127.0.0.1", sentinel.port)) as s:
            s.sendall(BAD_REQUEST)
            assert s.recv(100).startswith(b"HTTP/1.0 400")
    assert sentinel.get("/healthz")[0] == 200
    lines = sentinel.logs().splitlines()[before:]
    events = [json.loads(line) for line in lines]  # every line is one JSON event
    said = [e for e in events if e["event"] == "http_request_error"]
    assert 1 <= len(said) <= 10 and len(lines) <= 12, len(lines)
    assert "LineTooLong" in said[0]["error"] and "\n" not in said[0]["error"]
    print(f"log lines for 300 bad requests: {len(lines)}")


def test_idle_and_half_open_connections_are_closed(sentinel: Sentinel) -> None:
    idle = [socket.create_connection(("127.0.0.1", sentinel.port)) for _ in range(100)]
    half = [socket.create_connection(("127.0.0.1", sentinel.port)) for _ in range(100)]
    for s in half:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    started = time.monotonic()
    try:
        for s in (*idle, *half):
            s.settimeout(IDLE_TIMEOUT + 10)
            assert s.recv(100) == b"", "the server closes it"
        took = time.monotonic() - started
        assert took < IDLE_TIMEOUT + 10
        print(f"200 idle or half-open connections closed after {took:.1f}s")
        assert sentinel.get("/healthz")[0] == 200
    finally:
        for s in (*idle, *half):
            s.close()
