"""A tiny Engine API on a unix socket, for what a real engine never sends (garbled
answers, a missing header, a refused version after an upgrade, a hang). Behaviour
against the real engine is tested on the lab."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def ping_141(_: web.Request) -> web.Response:
    """``GET /_ping`` of an engine whose newest API is 1.41."""
    return web.Response(text="OK", headers={"API-Version": "1.41"})


@asynccontextmanager
async def fake_engine(
    tmp_path: Path, routes: Mapping[str, Handler], name: str = "engine.sock"
) -> AsyncIterator[str]:
    """Serve ``routes`` (path -> GET handler); yields the ``unix://`` URL."""
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_get(path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    sock = tmp_path / name
    await web.UnixSite(runner, str(sock)).start()
    try:
        yield f"unix://{sock}"
    finally:
        await runner.cleanup()
