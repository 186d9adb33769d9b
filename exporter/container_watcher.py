"""Follows this node's own engine's task-container events into ``NodeContainers``.

Runs on every node, managers and workers alike, through the stream follower every
event stream of swarm-sentinel goes through (``exporter.stream``): a lost stream is
opened again from just after the last event seen, the engine replays what it still
holds, and ``NodeContainers`` counts each event once. Starts from "now": an
instance counts what happens while it runs, as a Prometheus counter does.

At each opening it lists the engine's task containers first, so that which services
still have a container here is known whatever the stream missed; a service without
one for ``forget_after`` is forgotten, and its series go.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import structlog

from common.supervise import supervise
from exporter.containers import NodeContainers
from exporter.engine import Engine
from exporter.health import Health
from exporter.metrics.publish import Changes
from exporter.stream import StreamFollower
from exporter.types import ContainerEvent
from exporter.watch import WatcherMetrics, WatchSettings

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
        await asyncio.gather(
            supervise("container events", self._follow, on_failure=self._loop_failed),
            self._forget_idle(),
        )

    async def _forget_idle(self) -> None:
        every = max(0.2, min(30.0, self.containers.forget_after / 4))
        while True:
            await asyncio.sleep(every)
            # Only what a stream open now says: while it is lost, a destroy may be unseen.
            if self.health.containers_up and self.containers.forget_idle(time.time()):
                self._publish()

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
        # Listed before the stream opens from ``since``: what changes after the list
        # is in the stream.
        self.containers.reconcile(await self.engine.task_containers(), time.time())
        async for event in self.engine.container_events(since, on_connect):
            yield event

    async def _apply(self, event: ContainerEvent) -> None:
        containers = self.containers
        dropped = containers.dropped
        if containers.apply(event):
            self._publish()
        if containers.dropped > dropped:
            self.metrics.container_services_dropped.inc(containers.dropped - dropped)
            if not dropped:
                log.warning(
                    "container_services_dropped",
                    service=event.service_name,
                    bound=containers.max_services,
                    problem="this node's container counts are at their bound of services; "
                    "a new service's events are dropped (counted)",
                )

    def _publish(self) -> None:
        changed, removed = self.containers.take_changes()
        if changed or removed:
            self._on_change(Changes(containers=changed, removed_containers=removed))
