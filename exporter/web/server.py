"""The HTTP side: /metrics, /healthz, /ready and a landing page.

A scrape never calls the engine and runs no model or rendering code: it writes the
current ``Exposition`` of the stores (``exporter.web.exposition``: their text as it
was at the last change, plain, or gzipped when the scraper asks for it) and appends
the exporter's own few counters.
"""

from __future__ import annotations

import gzip
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client import exposition as text_exposition
from prometheus_client.openmetrics import exposition as om_exposition

from common.version import VERSION
from exporter.metrics.text import CONTENT_TYPE_OPENMETRICS, CONTENT_TYPE_TEXT, TextStore
from exporter.web.accept import weighted
from exporter.web.auth import basic_auth_middleware
from exporter.web.compress import accepts_gzip
from exporter.web.config import WebConfig
from exporter.web.exposition import Expositions

LANDING = """<!doctype html>
<html><head><title>swarm-sentinel</title></head>
<body><h1>swarm-sentinel {version}</h1>
<p>Prometheus exporter and auto-healer for Docker Swarm.</p>
<ul><li><a href="metrics">metrics</a></li><li><a href="healthz">healthz</a></li>
<li><a href="ready">ready</a></li></ul></body></html>
"""


def wants_openmetrics(accept: str) -> bool:
    """Whether ``accept`` prefers OpenMetrics to the text format, by q-value (RFC 9110);
    on a tie the one listed first wins, and the text format is the default."""
    best: tuple[float, bool] | None = None
    for media, q in weighted(accept):
        if media == "application/openmetrics-text":
            om = True
        elif media in ("text/plain", "text/*", "*/*"):
            om = False
        else:
            continue
        if q > 0 and (best is None or q > best[0]):
            best = (q, om)
    return best is not None and best[1]


def registry_text(registry: CollectorRegistry, openmetrics: bool) -> tuple[bytes, str]:
    """The registry's part of a scrape (it comes last), and the scrape's content type."""
    if openmetrics:
        # Ends with "# EOF", which must be the very last line.
        text: bytes = om_exposition.generate_latest(registry)  # type: ignore[no-untyped-call]
        return text, CONTENT_TYPE_OPENMETRICS
    return text_exposition.generate_latest(registry), CONTENT_TYPE_TEXT


def render_metrics(
    stores: Sequence[TextStore], registry: CollectorRegistry, openmetrics: bool
) -> tuple[bytes, str]:
    """A whole scrape's text joined from the stores as they are (for tests)."""
    tail, content_type = registry_text(registry, openmetrics)
    return b"".join([*(s.render(openmetrics) for s in stores), tail]), content_type


@dataclass(frozen=True, slots=True)
class Page:
    """A page as served: its text, and the same gzipped (made once, with it)."""

    text: bytes
    content_type: str
    gzipped: bytes

    @classmethod
    def of(cls, text: str, content_type: str) -> Page:
        data = text.encode()
        return cls(data, content_type, gzip.compress(data, compresslevel=PAGE_LEVEL, mtime=0))


PAGE_LEVEL = 6
"""zlib's default level: a page is compressed once for many requests (the status page
at 5,000 nodes: 1.35 MB to about 60 KB)."""


def answer(request: web.Request, page: Page) -> web.Response:
    """``page``, gzipped when the client takes gzip."""
    zipped = accepts_gzip(request.headers.get("Accept-Encoding", ""))
    headers = {"Vary": "Accept-Encoding"}
    if zipped:
        headers["Content-Encoding"] = "gzip"
    return web.Response(
        body=page.gzipped if zipped else page.text,
        content_type=page.content_type,
        charset="utf-8",
        headers=headers,
    )


IDLE_TIMEOUT = 15.0
"""Seconds a connection may stay open without a whole request: before its first one
(a client that connects and sends nothing, or half a request header) and between
two. A scraper that keeps its connection longer simply connects again."""


def make_runner(app: web.Application) -> web.AppRunner:
    """The runner of ``app``: no access log (scrapes every few seconds are noise),
    signals left to the caller, idle connections closed after ``IDLE_TIMEOUT``."""
    return web.AppRunner(app, access_log=None, handle_signals=False, keepalive_timeout=IDLE_TIMEOUT)


def make_app(
    expositions: Expositions,
    registry: CollectorRegistry,
    ready: Callable[[], tuple[bool, str]],
    web_config: WebConfig,
    *,
    page: Callable[[], Awaitable[Page]] | None = None,
    document: Callable[[], Awaitable[Page]] | None = None,
    service_page: Callable[[str], Awaitable[Page | None]] | None = None,
) -> web.Application:
    """``page`` gives ``/`` (else a list of links), ``document`` ``/status.json``,
    ``service_page`` ``/service/NAME`` (None: no such service): on request, never on
    the scrape path."""

    async def metrics(request: web.Request) -> web.StreamResponse:
        openmetrics = wants_openmetrics(request.headers.get("Accept", ""))
        exposition = expositions.current  # one value for the whole answer
        tail, ctype = registry_text(registry, openmetrics)
        headers = {"Content-Type": ctype, "Vary": "Accept, Accept-Encoding"}
        gzipped = accepts_gzip(request.headers.get("Accept-Encoding", ""))
        if gzipped:
            headers["Content-Encoding"] = "gzip"
        parts = exposition.parts(openmetrics, gzipped, tail)
        # Written part by part: joining would copy the whole body (megabytes at scale)
        # on every scrape.
        resp = web.StreamResponse(headers=headers)
        resp.content_length = sum(len(p) for p in parts)
        try:
            await resp.prepare(request)
            for part in parts:
                await resp.write(part)
            await resp.write_eof()
        except ConnectionError:
            # The scraper went away mid-body (its timeout, a restart): nothing to
            # report, as aiohttp says nothing when a plain Response meets it.
            pass
        return resp

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(_: web.Request) -> web.Response:
        ok, why = ready()
        return web.Response(text=why + "\n", status=200 if ok else 503)

    landing_page = Page.of(LANDING.format(version=VERSION), "text/html")

    async def landing(request: web.Request) -> web.Response:
        return answer(request, await page() if page is not None else landing_page)

    async def status_json(request: web.Request) -> web.Response:
        if document is None:
            raise web.HTTPNotFound()
        return answer(request, await document())

    async def service(request: web.Request) -> web.Response:
        found = await service_page(request.match_info["name"]) if service_page else None
        if found is None:
            raise web.HTTPNotFound(text="no such service\n")
        return answer(request, found)

    app = web.Application(middlewares=[basic_auth_middleware(web_config)])
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/ready", readyz)
    app.router.add_get("/", landing)
    app.router.add_get("/status.json", status_json)
    app.router.add_get("/service/{name}", service)

    if web_config.headers or web_config.follow is not None:

        async def add_headers(_: web.Request, resp: web.StreamResponse) -> None:
            resp.headers.update(web_config.latest().headers)

        app.on_response_prepare.append(add_headers)
    return app
