"""Wires the watcher, the exporter's HTTP server and the healer into one process."""

from __future__ import annotations

import asyncio
import signal
import time
from collections import OrderedDict

import structlog
from prometheus_client import (
    CollectorRegistry,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)

from common.supervise import supervise
from common.version import VERSION
from exporter import gc_tuning
from exporter.client import EngineMetrics
from exporter.container_watcher import ContainerWatcher
from exporter.containers import NodeContainers
from exporter.engine import Engine
from exporter.health import Health
from exporter.metrics import FAMILIES
from exporter.metrics.health import LabelCutsCollector
from exporter.metrics.limits import SeriesLimit
from exporter.metrics.publish import Changes, Publisher
from exporter.metrics.text import TextStore
from exporter.model import SwarmModel
from exporter.watch import WatcherMetrics
from exporter.watcher import Watcher
from exporter.web import WebConfig
from exporter.web.exposition import Expositions
from exporter.web.server import make_app
from exporter.web.thread import ServerThread
from healer.forcer import Forcer
from healer.runner import Healer
from healer.webhook import Webhook
from swarm_sentinel.config import Config
from swarm_sentinel.pages import Reading, StatusPages, service_pages
from swarm_sentinel.status.explain import Logs, explain, find, newest_failed, read_logs
from swarm_sentinel.status.html import Live, render_service_html

log = structlog.get_logger("swarm_sentinel")

LOGS_KEPT = 100
"""Failed tasks whose last lines are kept for the service pages (``--explain.logs``)."""

# Counters export no *_created samples: they double the series for nothing here.
disable_created_metrics()  # type: ignore[no-untyped-call]


class Runtime:
    """Everything one process runs; built from the config, started by ``run``."""

    def __init__(self, config: Config, web_config: WebConfig) -> None:
        self.config = config
        self.web_config = web_config
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.registry.register(LabelCutsCollector())
        docker = config.docker
        self.engine = Engine(
            docker.host,
            EngineMetrics(self.registry),
            timeout=docker.timeout,
            api_version=docker.api_version,
        )
        self.model = SwarmModel()
        self._log_cache: OrderedDict[str, Logs] = OrderedDict()
        self.health = Health()
        self.containers = NodeContainers(forget_after=config.watch.containers_forget_after)
        self.store = TextStore(FAMILIES)
        live = TextStore(FAMILIES)
        self.stores: list[TextStore] = [self.store, live]
        limit = SeriesLimit(config.metric.max_series_per_family, self.registry)
        self.generation = 0
        """Counts the changes published (from the watchers' loop; read by the pages')."""
        self._publish = Publisher(
            self.model,
            self.health,
            self.store,
            self.containers,
            exported=config.metric.exported,
            limit=limit,
            live=live,
        )
        watch_metrics = WatcherMetrics(self.registry)
        self.watcher = Watcher(
            self.engine,
            self.model,
            self.health,
            watch_metrics,
            config.watch,
            on_change=self._published,
        )
        self.container_watcher: ContainerWatcher | None = None
        if config.watch.containers:
            self.container_watcher = ContainerWatcher(
                self.engine,
                self.containers,
                self.health,
                watch_metrics,
                config.watch,
                on_change=self._published,
            )
        self.healer: Healer | None = None
        if config.healer.enabled:
            forcer = Forcer(self.engine)
            self.healer = Healer(self.model, self.health, config.healer, forcer)
            self.stores.append(self.healer.metrics.store)
        self.webhook: Webhook | None = None
        if self.healer is not None and config.healer.webhook.url:
            self.webhook = Webhook(
                config.healer.webhook,
                engine=self.engine.address,
                store=self.healer.metrics.store,
                logs=self._webhook_logs if config.explain_logs else None,
            )
            self.healer.notify = self.webhook.submit

    async def service_page(self, name: str) -> str | None:
        """``/service/NAME``: what ``explain`` prints of one service, from the live model."""
        view = find(self.model, name)
        if view is None:
            return None
        task = newest_failed(view) if self.config.explain_logs else None
        logs = await self._logs(task.id) if task is not None else None
        e = explain(self.model, view, now=time.time(), settings=self.config.healer, logs=logs)
        return render_service_html(e)

    async def _logs(self, task_id: str) -> Logs:
        """A failed task's last lines (``--explain.logs``): read once and kept, as they do
        not change once it ended and the page reloads every few seconds."""
        logs = self._log_cache.get(task_id)
        if logs is None:
            logs = await read_logs(self.engine, task_id)
            self._log_cache[task_id] = logs
            while len(self._log_cache) > LOGS_KEPT:
                self._log_cache.popitem(last=False)
        return logs

    async def _webhook_logs(self, task_id: str) -> tuple[tuple[str, ...], str]:
        logs = await self._logs(task_id)
        return logs.lines, logs.problem

    def reading(self) -> Reading:
        """What the status page and its JSON are made of (on the model's loop: quick, a
        copy of the model's dictionaries)."""
        h = self.health
        healer = "off" if self.healer is None else "acting" if self.healer.acting else "standby"
        live = Live(
            h.up, h.last_refresh, h.last_error, h.synced, healer, self.config.healer.dry_run
        )
        return Reading(
            self.model.copy(),
            live,
            time.time(),
            self.engine.address,
            self.config.healer,
            h.has_leader,
        )

    def _published(self, changes: Changes) -> None:
        """Renders ``changes`` and counts them (a page is made again only after one)."""
        self.generation += 1
        self._publish(changes)

    def ready(self) -> tuple[bool, str]:
        h = self.health
        if h.role == "worker":
            # A worker's instance serves its own node's containers, and nothing more.
            if self.container_watcher is None:
                return True, "ready: a worker, its containers not watched (--no-watch.containers)"
            if h.containers_up:
                return True, "ready: a worker, reporting its own containers"
            return False, "a worker whose container event stream is not open yet"
        if h.synced:
            return True, "ready"
        error = h.last_error
        return False, "not synced with the engine yet" + (f": {error}" if error else "")

    async def run(self, stop: asyncio.Event) -> None:
        web_settings = self.config.web
        loop = asyncio.get_running_loop()
        expositions = Expositions(self.stores)
        pages = StatusPages(loop, self.reading, lambda: self.generation)
        app = make_app(
            expositions,
            self.registry,
            self.ready,
            self.web_config,
            page=pages.page,
            document=pages.document,
            service_page=service_pages(loop, self.service_page),
        )
        server = ServerThread(app, web_settings.host, web_settings.port, self.web_config.tls)
        try:
            try:
                await server.start()
            except OSError as exc:
                raise SystemExit(
                    f"swarm-sentinel: cannot listen on {web_settings.shown}: {exc.strerror}"
                ) from None
            for warning in self.web_config.warnings:
                log.warning("web_config", problem=warning)
            log.info(
                "started",
                version=VERSION,
                listen=web_settings.shown,
                tls=self.web_config.tls is not None,
                engine=self.engine.address,
            )
            tasks = [asyncio.create_task(self.watcher.run(), name="watcher")]
            if self.container_watcher is not None:
                tasks.append(asyncio.create_task(self.container_watcher.run(), name="containers"))
            if self.healer is not None:
                failures = self.watcher.metrics.task_failures.labels("healer")
                healer = supervise("healer", self.healer.run, on_failure=lambda _: failures.inc())
                tasks.append(asyncio.create_task(healer, name="healer"))
            if self.webhook is not None:
                hook_failures = self.watcher.metrics.task_failures.labels("webhook")
                hook = supervise(
                    "webhook", self.webhook.run, on_failure=lambda _: hook_failures.inc()
                )
                tasks.append(asyncio.create_task(hook, name="webhook"))
            stopper = asyncio.create_task(stop.wait())
            done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
            for t in [*tasks, stopper]:
                t.cancel()
            results = await asyncio.gather(*tasks, stopper, return_exceptions=True)
            for t, r in zip([*tasks, stopper], results, strict=True):
                if (
                    t in done
                    and isinstance(r, BaseException)
                    and not isinstance(r, asyncio.CancelledError)
                ):
                    raise r
        finally:
            await server.stop()
            expositions.close()
            await self.engine.close()
            log.info("stopped")


async def serve(runtime: Runtime) -> None:
    gc_tuning.tune()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await runtime.run(stop)
