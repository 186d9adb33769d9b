"""Follows this node's own engine's task-container events into ``NodeContainers``.

Runs on every node, managers and workers alike, through the stream follower every
event stream of swarm-sentinel goes through (``exporter.stream``): a lost stream is
opened again from just after the last event seen, the engine replays what it still
holds, and ``NodeContainers`` counts each event once. Starts from "now": an
instance counts what happens while it runs, as a Prometheus counter does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from common.supervise import supervise
from exporter.containers import NodeContainers
from exporter.engine import Engine
from exporter.health import Health
from exporter.metrics.publish import Changes
from exporter.stream import StreamFollower
from exporter.types import ContainerEvent
from exporter.watch import WatcherMetrics, WatchSettings


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
        self._on_change = on_change
        self.stream = StreamFollower(
            "containers",
            self._open,
            settings.stream,
            metrics.reconnects,
            address=engine.address,
            on_open=lambda _: self._up(True),
            on_lost=lambda: self._up(False),
        )

    async def run(self) -> None:
        await supervise("container events", self._follow, on_failure=self._loop_failed)

    async def _follow(self) -> None:
        await self.stream.run(self._apply)

    def _loop_failed(self, problem: str) -> None:
        self.metrics.task_failures.labels("container events").inc()
        self._up(False)

    def _up(self, up: bool) -> None:
        if self.health.containers_up != up:
            self.health.containers_up = up
            self._on_change(Changes(health=True))

    async def _open(
        self, since: float, on_connect: Callable[[], None]
    ) -> AsyncIterator[ContainerEvent]:
        if not self.containers.node_id:
            # Which node this is: the labels of every series it reports.
            info = await self.engine.info()
            self.containers.node_id, self.containers.hostname = info.node_id, info.hostname
        async for event in self.engine.container_events(since, on_connect):
            yield event

    async def _apply(self, event: ContainerEvent) -> None:
        if self.containers.apply(event):
            changed = self.containers.take_changes()
            if changed:
                self._on_change(Changes(containers=changed))
