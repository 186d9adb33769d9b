"""The process's settings, typed and frozen, built once from flags and environment.

``flags`` says what an operator may type (and where each flag's environment
variable is); this turns the parsed flags into settings grouped by the part
they configure. Nothing past this module reads an ``argparse.Namespace``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace

from common.apiversion import ApiVersion
from common.durations import format_duration
from exporter.metrics.publish import Exported
from exporter.slots import RESTART_MEMORY
from exporter.watch import WatchSettings
from healer.settings import Action, HealerSettings, Scope, WebhookSettings


@dataclass(frozen=True, slots=True)
class DockerSettings:
    host: str | None
    """The Engine API address; None: DOCKER_HOST, else the local socket."""
    timeout: float
    """Seconds each Engine API call may take."""
    api_version: ApiVersion | None
    """A pinned Engine API version; None: negotiated."""


@dataclass(frozen=True, slots=True)
class WebSettings:
    host: str | None
    """Address to listen on; None: every address."""
    port: int
    config_file: str | None
    """The exporter-toolkit web config file (TLS, basic auth), if any."""

    @property
    def shown(self) -> str:
        return f"{self.host or '*'}:{self.port}"


@dataclass(frozen=True, slots=True)
class LogSettings:
    level: str
    format: str
    """``json``, ``logfmt``, ``console``, or ``auto`` (console on a terminal)."""


@dataclass(frozen=True, slots=True)
class MetricSettings:
    exported: Exported
    """Node and service labels allowlisted for export."""
    max_series_per_family: int
    """0: no limit."""


@dataclass(frozen=True, slots=True)
class Config:
    docker: DockerSettings
    web: WebSettings
    log: LogSettings
    watch: WatchSettings
    healer: HealerSettings
    metric: MetricSettings
    explain_logs: bool = False
    """Show a failed task's last lines on its service's page and in the webhook."""


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


def docker_settings(args: argparse.Namespace) -> DockerSettings:
    """The engine flags, which ``status`` takes too."""
    return DockerSettings(
        host=getattr(args, "docker.host") or None,
        timeout=getattr(args, "docker.timeout"),
        api_version=getattr(args, "docker.api_version") or None,
    )


def healer_policy(args: argparse.Namespace) -> HealerSettings:
    """How the healer decides (``flags.add_healer_policy_flags``), which ``status`` and
    ``explain`` take too; ``ValueError`` for a window the model cannot serve."""
    if getattr(args, "healer.crash_loop_window") > RESTART_MEMORY:
        raise ValueError(
            f"--healer.crash-loop-window: at most {format_duration(RESTART_MEMORY)} "
            "(the failures the model remembers)"
        )
    return HealerSettings(
        dry_run=getattr(args, "healer.dry_run"),
        scope=Scope(getattr(args, "healer.scope")),
        threshold=getattr(args, "healer.threshold"),
        cooldown=getattr(args, "healer.cooldown"),
        max_cooldown=getattr(args, "healer.max_cooldown"),
        max_attempts=getattr(args, "healer.max_attempts"),
        rate_limit=getattr(args, "healer.rate_limit"),
        crash_loop_restarts=getattr(args, "healer.crash_loop_restarts"),
        crash_loop_window=getattr(args, "healer.crash_loop_window"),
        on_update_paused=Action(getattr(args, "healer.on_update_paused")),
    )


def from_args(args: argparse.Namespace) -> Config:
    """``ValueError`` with a one-line reason for a value argparse could not judge alone."""
    docker = docker_settings(args)
    host, port = split_listen_address(getattr(args, "web.listen_address"))
    return Config(
        docker=docker,
        web=WebSettings(host=host, port=port, config_file=getattr(args, "web.config.file") or None),
        log=LogSettings(level=getattr(args, "log.level"), format=getattr(args, "log.format")),
        watch=WatchSettings(
            poll_interval=getattr(args, "watch.poll_interval"),
            resync_interval=getattr(args, "watch.resync_interval"),
            containers=getattr(args, "watch.containers"),
            containers_forget_after=getattr(args, "watch.containers_forget_after"),
            task_history=getattr(args, "watch.task_history"),
            node_certificate=getattr(args, "node.certificate_file"),
        ),
        explain_logs=getattr(args, "explain.logs"),
        metric=MetricSettings(
            exported=Exported(
                node_labels=getattr(args, "metric.node_labels"),
                service_labels=getattr(args, "metric.service_labels"),
            ),
            max_series_per_family=getattr(args, "metric.max_series_per_family"),
        ),
        healer=replace(
            healer_policy(args),
            enabled=getattr(args, "healer.enabled"),
            interval=getattr(args, "healer.interval"),
            webhook=WebhookSettings(
                url=getattr(args, "healer.webhook_url"),
                timeout=getattr(args, "healer.webhook_timeout"),
            ),
            force_timeout=docker.timeout,
        ),
    )
