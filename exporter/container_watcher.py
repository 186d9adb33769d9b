"""Follows this node's own engine's task-container events into ``NodeContainers``.

Runs on every node, managers and workers alike. A lost stream is opened again from
just after the last event seen: the engine replays what it still holds, and
``NodeContainers`` counts each event once. Starts from "now": an instance counts
what happens while it runs, as a Prometheus counter does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import structlog

from common.backoff import Backoff
from common.supervise import supervise
from exporter.containers import NodeContainers
from exporter.engine import Engine
from exporter.errors import EngineError, Unreachable
from exporter.health import Health
from exporter.metrics.health import WatcherMetrics
from exporter.model import Changes
from exporter.watcher import WatchSettings

log = structlog.get_logger("exporter.containers")


class ContainerWatcher:
    def __init__(
        self,
        engine: Engine,
        containers: NodeContainers,
        health: Health,
        metrics: WatcherMetrics,
        settings: WatchSettings,
        *,
        on_change: Callable[[Changes], object] = lambda _: None,
    ) -> None:
        self.engine = engine
        self.containers = containers
        self.health = health
        self.metrics = metrics
        self.settings = settings
        self._on_change = on_change
        self._resume_from = 0.0

    async def run(self) -> None:
        await supervise("container events", self._loop, on_failure=self._loop_failed)

    def _loop_failed(self, problem: str) -> None:
        self.metrics.task_failures.labels("container events").inc()
        self._stream(up=False)

    def _stream(self, *, up: bool) -> None:
        if self.health.containers_up != up:
            self.health.containers_up = up
            self._on_change(Changes(health=True))

    async def _loop(self) -> None:
        s = self.settings
        backoff = Backoff(s.backoff_initial, s.backoff_max, s.stable_after)
        self._resume_from = self._resume_from or time.time()
        while True:
            opened = 0.0
            try:
                if not self.containers.node_id:
                    # Which node this is: the labels of every series it reports.
                    info = await self.engine.info()
                    self.containers.node_id, self.containers.hostname = info.node_id, info.hostname

                def on_open() -> None:
                    nonlocal opened
                    opened = time.monotonic()
                    self._stream(up=True)

                stream = self.engine.container_events(self._resume_from, on_open)
                async for event in stream:
                    if event.time_nano:
                        self._resume_from = (event.time_nano + 1) / 1e9
                    if self.containers.apply(event):
                        self._publish()
                raise Unreachable("container_events", "the engine closed the event stream")
            except EngineError as exc:
                if self.health.containers_up:
                    self.metrics.reconnects.labels("containers").inc()
                    log.warning("container_stream_lost", engine=self.engine.address, error=str(exc))
                self._stream(up=False)
            await asyncio.sleep(backoff.after(time.monotonic() - opened if opened else 0.0))

    def _publish(self) -> None:
        changed = self.containers.take_changes()
        if changed:
            self._on_change(Changes(containers=changed))
