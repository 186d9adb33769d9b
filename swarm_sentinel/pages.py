"""The status page (``/``) and its JSON (``/status.json``), built where they cost the
watcher and the scrapes nothing.

Built from the live model on every request, on the watcher's loop, a large swarm's
page held that loop for tens of milliseconds per request, and a few clients reloading
it held the scrapes waiting behind it (docs/benchmarks.md). Now:

- what the report reads of the model is copied on the model's loop (dictionaries of
  the model's objects, which are never changed in place: ``SwarmModel.copy``), and the
  report, its HTML or JSON and their gzip are made from that copy in a worker thread;
- a page is made again only when the model changed since the last one and that one
  is ``MIN_AGE`` old (the page reloads itself every few seconds and says how fresh it
  is), and requests meanwhile get the one made, plain or gzipped;
- requests that come while one is being made wait for that one.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from exporter.model import SwarmModel
from exporter.web.server import Page
from exporter.web.thread import on_loop
from healer.settings import HealerSettings
from swarm_sentinel.status.html import Live, render_html
from swarm_sentinel.status.json import to_json
from swarm_sentinel.status.report import build_report

MIN_AGE = 1.0
"""Seconds a page is served for before the model's changes since are built in."""


@dataclass(frozen=True, slots=True)
class Reading:
    """What a page is made of, taken on the model's loop."""

    model: SwarmModel  # a copy
    live: Live
    now: float
    engine: str
    settings: HealerSettings
    has_leader: bool


@dataclass(frozen=True, slots=True)
class _Made:
    page: Page
    generation: int
    at: float  # monotonic


def html_page(r: Reading) -> Page:
    report = build_report(
        r.model, now=r.now, engine=r.engine, settings=r.settings, has_leader=r.has_leader
    )
    return Page.of(render_html(report, r.live), "text/html")


def json_page(r: Reading) -> Page:
    report = build_report(
        r.model, now=r.now, engine=r.engine, settings=r.settings, has_leader=r.has_leader
    )
    return Page.of(json.dumps(to_json(report), indent=2), "application/json")


class StatusPages:
    """``/`` and ``/status.json`` for the HTTP side's loop, whichever thread it is in.

    ``read`` runs on ``loop`` (the model's) and takes a ``Reading``; ``generation``
    counts the model's changes (read from any thread).
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        read: Callable[[], Reading],
        generation: Callable[[], int],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.loop = loop
        self.read = read
        self.generation = generation
        self.clock = clock
        self.made = 0
        """Pages made so far (for tests)."""
        self._done: dict[str, _Made] = {}
        self._making: dict[str, asyncio.Task[Page]] = {}

    async def page(self) -> Page:
        return await self._get("html", html_page)

    async def document(self) -> Page:
        return await self._get("json", json_page)

    async def _get(self, kind: str, make: Callable[[Reading], Page]) -> Page:
        done = self._done.get(kind)
        generation = self.generation()
        if done is not None and (done.generation == generation or self.clock() - done.at < MIN_AGE):
            return done.page
        task = self._making.get(kind)
        if task is None:
            task = asyncio.create_task(self._make(kind, make, generation))
            self._making[kind] = task
            task.add_done_callback(lambda _: self._making.pop(kind, None))
        # Shielded: a client that goes away does not cancel the page others wait for.
        return await asyncio.shield(task)

    async def _make(self, kind: str, make: Callable[[Reading], Page], generation: int) -> Page:
        async def read() -> Reading:
            return self.read()

        reading = await on_loop(self.loop, read)
        page = await asyncio.to_thread(make, reading)
        self._done[kind] = _Made(page, generation, self.clock())
        self.made += 1
        return page


def service_pages(
    loop: asyncio.AbstractEventLoop, render: Callable[[str], Awaitable[str | None]]
) -> Callable[[str], Awaitable[Page | None]]:
    """``/service/NAME``: ``render`` (one service's explanation as HTML, from the live
    model) run on the model's ``loop``; it is small, and made on request."""

    async def page(name: str) -> Page | None:
        text = await on_loop(loop, lambda: render(name))
        return None if text is None else Page.of(text, "text/html")

    return page
