"""The /metrics handler: the body is written part by part, and a scraper that
goes away mid-body is no error."""

from __future__ import annotations

import asyncio
import gzip
import logging
import socket
import struct
from types import MappingProxyType

import aiohttp
import bcrypt
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter

from exporter.metrics.text import Family, TextStore, sample
from exporter.web import WebConfig, load_web_config
from exporter.web.exposition import Expositions
from exporter.web.server import Page, make_app, render_metrics, wants_openmetrics

BIG = Family("test_series", "gauge", "Many series, a body of several MB.", ("i",))


def big_store() -> TextStore:
    store = TextStore([BIG])
    for i in range(0, 120_000, 1000):
        lines = "".join(sample(BIG, (("i", f"{j:08d}" * 4),), j) for j in range(i, i + 1000))
        store.put(str(i), {BIG.name: lines})
    return store


async def serve(store: TextStore, registry: CollectorRegistry) -> tuple[web.AppRunner, int]:
    app = make_app(Expositions([store]), registry, lambda: (True, "ready"), load_web_config(None))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, runner.addresses[0][1]


async def test_body_is_the_joined_parts_and_a_lost_client_is_quiet(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, registry = big_store(), CollectorRegistry()
    Counter("test_own", "The exporter's own counter.", registry=registry).inc()
    runner, port = await serve(store, registry)
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        with caplog.at_level(logging.DEBUG, logger="aiohttp"):
            for _ in range(5):
                # Read a little of a multi-MB body, then reset the connection.
                def rude() -> None:
                    with socket.create_connection(("127.0.0.1", port)) as s:
                        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                        s.recv(1000)
                        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

                await asyncio.to_thread(rude)
            async with (
                aiohttp.ClientSession() as session,
                session.get(url, headers={"Accept-Encoding": "identity"}) as resp,
            ):
                body = await resp.read()
                assert resp.status == 200
                assert "Content-Encoding" not in resp.headers
                assert int(resp.headers["Content-Length"]) == len(body)
        expected, _ = render_metrics([store], registry, False)
        assert body == expected and len(body) > 3_000_000
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert not errors, [r.getMessage() for r in errors]
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(
    ("accept", "openmetrics"),
    [
        ("", False),
        ("application/openmetrics-text; version=1.0.0", True),
        # What Prometheus sends: OpenMetrics preferred.
        (
            "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;"
            "version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
            True,
        ),
        # The finding: text preferred by q-value, OpenMetrics only acceptable.
        ("text/plain;q=1, application/openmetrics-text;q=0.1", False),
        ("application/openmetrics-text;q=0", False),
        ("application/openmetrics-text;q=garbage, text/plain", False),
        ("text/plain, application/openmetrics-text", False),  # a tie: the first listed
        ("application/openmetrics-text, text/plain", True),
        ("text/html", False),
    ],
)
def test_openmetrics_only_when_preferred(accept: str, openmetrics: bool) -> None:
    assert wants_openmetrics(accept) is openmetrics


async def test_the_page_and_its_json_are_served_and_behind_the_same_auth() -> None:
    users = MappingProxyType({"alice": bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=4))})

    async def page() -> Page:
        return Page.of("<!doctype html><p>the page</p>", "text/html")

    async def document() -> Page:
        return Page.of('{"healthy": true}', "application/json")

    app = make_app(
        Expositions([TextStore(())]),
        CollectorRegistry(),
        lambda: (True, "ready"),
        WebConfig(users=users),
        page=page,
        document=document,
    )
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    auth = {"Authorization": aiohttp.encode_basic_auth("alice", "pw")}
    try:
        async with aiohttp.ClientSession() as session:
            for path in ("/", "/status.json", "/metrics"):
                async with session.get(base + path) as resp:
                    assert resp.status == 401, path
            async with session.get(base + "/", headers=auth) as resp:
                assert resp.status == 200 and resp.content_type == "text/html"
                assert "the page" in await resp.text()
            async with session.get(base + "/status.json", headers=auth) as resp:
                assert resp.status == 200 and await resp.json() == {"healthy": True}
            # gzip when asked: the same text, compressed once when the page was made.
            for path, text in (("/", b"the page"), ("/status.json", b'"healthy"')):
                headers = {**auth, "Accept-Encoding": "gzip"}
                async with session.get(base + path, headers=headers, auto_decompress=False) as r:
                    assert r.headers["Content-Encoding"] == "gzip"
                    assert "Accept-Encoding" in r.headers["Vary"]
                    assert text in gzip.decompress(await r.read())
                async with session.get(base + path, headers={**auth, "Accept-Encoding": "br"}) as r:
                    assert "Content-Encoding" not in r.headers
                    assert text in await r.read()
    finally:
        await runner.cleanup()
