"""Wires the watcher, the exporter's HTTP server and the healer into one process."""

from __future__ import annotations

import argparse
import asyncio
import signal

import structlog
from aiohttp import web
from prometheus_client import (
    CollectorRegistry,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)

from common.version import VERSION
from exporter import gc_tuning
from exporter.engine import Engine, EngineMetrics
from exporter.families import MODEL_FAMILIES
from exporter.metrics_text import TextStore
from exporter.model import SwarmModel
from exporter.server import make_app
from exporter.watcher import Watcher, WatcherMetrics, WatchSettings
from exporter.webconfig import WebConfig
from healer.forcer import Forcer
from healer.runner import Healer
from healer.settings import HealerSettings, Scope

log = structlog.get_logger("swarm_sentinel")

# Counters export no *_created samples: they double the series for nothing here.
disable_created_metrics()  # type: ignore[no-untyped-call]


def healer_settings(args: argparse.Namespace) -> HealerSettings:
    return HealerSettings(
        enabled=getattr(args, "healer.enabled"),
        dry_run=getattr(args, "healer.dry_run"),
        scope=Scope(getattr(args, "healer.scope")),
        threshold=getattr(args, "healer.threshold"),
        cooldown=getattr(args, "healer.cooldown"),
        max_cooldown=getattr(args, "healer.max_cooldown"),
        max_attempts=getattr(args, "healer.max_attempts"),
        rate_limit=getattr(args, "healer.rate_limit"),
        interval=getattr(args, "healer.interval"),
        force_timeout=getattr(args, "docker.timeout"),
    )


def split_listen_address(address: str) -> tuple[str | None, int]:
    """``:9675`` / ``0.0.0.0:9675`` / ``[::1]:9675`` -> (host or None for all, port)."""
    host, sep, port_text = address.rpartition(":")
    if not sep:
        raise ValueError(f"--web.listen-address {address!r}: expected host:port")
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"--web.listen-address {address!r}: port is not a number") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"--web.listen-address {address!r}: port out of range")
    host = host.strip("[]")
    return (host or None), port


class Runtime:
    """Everything one process runs; built from flags, started by ``run``."""

    def __init__(self, args: argparse.Namespace, web_config: WebConfig) -> None:
        self.args = args
        self.web_config = web_config
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.engine = Engine(
            getattr(args, "docker.host") or None,
            EngineMetrics(self.registry),
            timeout=getattr(args, "docker.timeout"),
            api_version=getattr(args, "docker.api_version") or None,
        )
        self.model = SwarmModel()
        self.store = TextStore(MODEL_FAMILIES)
        self.stores: list[TextStore] = [self.store]
        self.watcher = Watcher(
            self.engine,
            self.model,
            self.store,
            WatcherMetrics(self.registry),
            WatchSettings(
                poll_interval=getattr(args, "watch.poll_interval"),
                resync_interval=getattr(args, "watch.resync_interval"),
            ),
        )
        self.healer: Healer | None = None
        if getattr(args, "healer.enabled"):
            self.healer = Healer(
                self.model,
                healer_settings(args),
                Forcer(
                    getattr(args, "docker.host") or None,
                    getattr(args, "docker.timeout"),
                    api_version=getattr(args, "docker.api_version") or None,
                ),
            )
            self.stores.append(self.healer.metrics.store)

    def ready(self) -> tuple[bool, str]:
        if self.model.synced:
            return True, "ready"
        return False, "not synced with the engine yet" + (
            f": {self.model.last_error}" if self.model.last_error else ""
        )

    async def run(self, stop: asyncio.Event) -> None:
        host, port = split_listen_address(getattr(self.args, "web.listen_address"))
        app = make_app(self.stores, self.registry, self.ready, self.web_config)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port, ssl_context=self.web_config.tls)
            try:
                await site.start()
            except OSError as exc:
                raise SystemExit(
                    f"swarm-sentinel: cannot listen on {host or '*'}:{port}: {exc.strerror}"
                ) from None
            for warning in self.web_config.warnings:
                log.warning("web_config", problem=warning)
            log.info(
                "started",
                version=VERSION,
                listen=f"{host or '*'}:{port}",
                tls=self.web_config.tls is not None,
                engine=self.engine.address,
            )
            tasks = [asyncio.create_task(self.watcher.run(), name="watcher")]
            if self.healer is not None:
                tasks.append(asyncio.create_task(self.healer.run(), name="healer"))
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
            await runner.cleanup()
            await self.engine.close()
            log.info("stopped")


async def serve(runtime: Runtime) -> None:
    gc_tuning.tune()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await runtime.run(stop)
