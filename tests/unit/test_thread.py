"""The HTTP side on a loop and thread of its own (``exporter.web.thread``): a scrape
is answered while the watcher's loop is held by a long callback; the server starts,
says where it listens, refuses a taken port, and stops."""

from __future__ import annotations

import asyncio
import http.client
import socket
import threading
import time

import pytest
from prometheus_client import CollectorRegistry

from exporter.metrics.text import Family, TextStore, sample
from exporter.web import load_web_config
from exporter.web.exposition import Expositions
from exporter.web.server import make_app
from exporter.web.thread import ServerThread, on_loop

SERIES = Family("test_series", "gauge", "Some series.", ("i",))


def store() -> TextStore:
    s = TextStore([SERIES])
    for i in range(200):
        s.put(str(i), {SERIES.name: sample(SERIES, (("i", str(i)),), i)})
    return s


def scrape(port: int) -> tuple[float, bytes]:
    """One scrape from outside any loop, and how long it took."""
    t0 = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/metrics")
        body = conn.getresponse().read()
    finally:
        conn.close()
    return time.monotonic() - t0, body


async def test_a_scrape_is_answered_while_the_watchers_loop_is_held() -> None:
    expositions = Expositions([store()])
    app = make_app(expositions, CollectorRegistry(), lambda: (True, "ready"), load_web_config(None))
    server = ServerThread(app, "127.0.0.1", 0, None)
    await server.start()
    port = server.bound[0][1]
    answered: list[float] = []
    holding = threading.Event()
    done = threading.Event()

    def scraper() -> None:
        while not done.is_set():
            took, body = scrape(port)
            assert b'test_series{i="199"} 199' in body
            if holding.is_set():
                answered.append(took)

    thread = threading.Thread(target=scraper)
    thread.start()
    try:
        await asyncio.to_thread(scrape, port)
        # A callback that holds this loop (and wants the GIL) for 0.6 s, as a long
        # decode or publish of the watcher would: scrapes go on meanwhile.
        holding.set()
        t0 = time.monotonic()
        n = 0
        while time.monotonic() - t0 < 0.6:
            n += 1
        holding.clear()
        assert len(answered) >= 3, answered
        assert max(answered) < 0.4
    finally:
        done.set()
        await asyncio.to_thread(thread.join)
        await server.stop()
        expositions.close()


async def test_a_taken_port_is_an_error_at_start_and_stop_ends_the_thread() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        app = make_app(
            Expositions([]), CollectorRegistry(), lambda: (True, "ready"), load_web_config(None)
        )
        server = ServerThread(app, "127.0.0.1", taken.getsockname()[1], None)
        with pytest.raises(OSError):
            await server.start()
    app = make_app(
        Expositions([]), CollectorRegistry(), lambda: (True, "ready"), load_web_config(None)
    )
    server = ServerThread(app, "127.0.0.1", 0, None)
    await server.start()
    assert server.bound and server.loop is not None
    await server.stop()
    assert server.loop.is_closed()
    assert not any(t.name == "web" and t.is_alive() for t in threading.enumerate())


async def test_on_loop_runs_on_the_loop_given() -> None:
    here = asyncio.get_running_loop()

    async def where() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    assert await on_loop(here, where) is here

    def other() -> asyncio.AbstractEventLoop:
        return asyncio.run(on_loop(here, where))

    assert await asyncio.to_thread(other) is here
