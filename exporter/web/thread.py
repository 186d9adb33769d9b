"""The HTTP side on an event loop of its own, in a thread of its own.

The watcher's loop runs callbacks of several milliseconds under churn (decoding a
list, applying a slice, publishing), and a scrape on that loop waited for each one it
met. On a loop of its own a scrape waits for none of them: the interpreter hands the
GIL over between the two threads at least every switch interval
(``sys.getswitchinterval``, 5 ms), and the serving thread needs it only for short
steps (reading a request, writing an exposition made beforehand). Measured against the
shared loop in docs/benchmarks.md.

What the pages need from the model is read on the loop the model lives on
(``on_loop``); nothing else crosses between the threads but immutable values
(``exporter.web.exposition.Exposition``) and plain attribute reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import sys
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import TypeVar

import structlog
from aiohttp import web

from exporter.web.server import make_runner

log = structlog.get_logger("exporter.web")

T = TypeVar("T")

SWITCH_INTERVAL = 0.001
"""Seconds a thread that wants the GIL waits at most for the one holding it (CPython's
default: 0.005). The serving thread, and the one making expositions, each take and
give back the GIL many times per answer or build (every socket write, every piece
compressed); behind a busy watcher each of those waited up to the whole interval."""


async def on_loop(loop: asyncio.AbstractEventLoop, make: Callable[[], Awaitable[T]]) -> T:
    """``await make()`` on ``loop`` (where the model lives), from whichever loop runs
    this: at once when it is the same one."""
    if loop is asyncio.get_running_loop():
        return await make()

    async def run() -> T:
        return await make()

    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(run(), loop))


class ServerThread:
    """``app`` served on ``host:port`` by a thread with a loop of its own.

    ``start`` returns once it listens (or raises the ``OSError`` of its socket);
    ``stop`` closes it, its connections and its loop, and waits for the thread.
    """

    def __init__(
        self, app: web.Application, host: str | None, port: int, tls: ssl.SSLContext | None
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.tls = tls
        self.loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._main, name="web", daemon=True)
        self._started: Future[None] = Future()
        self._stopped = threading.Event()

    async def start(self) -> None:
        sys.setswitchinterval(SWITCH_INTERVAL)
        self._thread.start()
        await asyncio.wrap_future(self._started)

    @property
    def bound(self) -> list[tuple[str, int]]:
        """Where it listens (host, port): the port chosen when asked for port 0."""
        runner = self._runner
        return [] if runner is None else [(a[0], a[1]) for a in runner.addresses]

    async def stop(self) -> None:
        loop = self.loop
        if loop is None or not self._thread.is_alive():
            return
        with contextlib.suppress(RuntimeError):  # its loop ended already
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._close(), loop))
            loop.call_soon_threadsafe(loop.stop)
        await asyncio.to_thread(self._thread.join, 10)

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self.loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._open())
        except BaseException as exc:
            self._started.set_exception(exc)
            loop.close()
            return
        self._started.set_result(None)
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _open(self) -> None:
        runner = make_runner(self.app)
        await runner.setup()
        self._runner = runner
        try:
            await web.TCPSite(runner, self.host, self.port, ssl_context=self.tls).start()
        except BaseException:
            await runner.cleanup()
            raise

    async def _close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
