"""Command-line flags, Prometheus style, each also an environment variable.

``--web.listen-address`` can be given as ``SWARM_SENTINEL_WEB_LISTEN_ADDRESS``;
a flag on the command line wins over the environment. Bad values (flag or
environment) end the process with one line naming the flag, before anything
starts.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from typing import Any

from common.address import check_host
from common.apiversion import NEWEST, OLDEST, ApiVersion, parse_pin
from common.durations import parse_positive_duration
from common.text import parse_bool
from common.version import VERSION
from exporter.metrics.labels import Allowlist
from healer.settings import check_webhook_url

ENV_PREFIX = "SWARM_SENTINEL_"
DEFAULT_PORT = 9675  # "Docker Swarm Exporter" in Prometheus' default port allocations


def env_name(flag: str) -> str:
    return ENV_PREFIX + flag.lstrip("-").replace(".", "_").replace("-", "_").upper()


def duration(text: str) -> float:
    try:
        return parse_positive_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def docker_host(text: str) -> str:
    try:
        return check_host(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
    return n


def _api_version(text: str) -> ApiVersion | None:
    try:
        return parse_pin(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _allowlist(text: str) -> Allowlist:
    try:
        return Allowlist.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _non_negative_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 or more")
    return n


def _webhook_url(text: str) -> str:
    try:
        return check_webhook_url(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _bool(text: str) -> bool:
    try:
        return parse_bool(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class FlagParser(argparse.ArgumentParser):
    """Adds flags whose default comes from their environment variable."""

    def flag(
        self,
        name: str,
        *,
        default: Any,
        help: str,
        type: Callable[[str], Any] = str,
        choices: Sequence[str] | None = None,
        metavar: str | None = None,
        docker_env: str | None = None,
    ) -> None:
        """``docker_env``: the docker CLI's variable (DOCKER_HOST, ...) that gives the
        default when our own variable is not set."""
        env = env_name(name)
        raw = os.environ.get(env)
        if raw is None and docker_env is not None and os.environ.get(docker_env):
            env, raw = docker_env, os.environ[docker_env]
        # Defaults are written as an operator would type them ("5m"), then parsed.
        value = type(default) if isinstance(default, str) and default else default
        if raw is not None:
            try:
                value = type(raw)
            except argparse.ArgumentTypeError as exc:
                self.error(f"environment {env}: {exc}")
            if choices is not None and value not in choices:
                self.error(f"environment {env}: {raw!r} is not one of {', '.join(choices)}")
        shown = f" (default: {default})" if default not in (None, "") else ""
        self.add_argument(
            name,
            default=value,
            type=type,
            choices=choices,
            metavar=metavar,
            help=f"{help}{shown} [env {env}]",
        )

    def switch(self, name: str, *, default: bool, help: str) -> None:
        """``--x`` / ``--no-x`` pair, as Prometheus' kingpin flags have."""
        env = env_name(name)
        raw = os.environ.get(env)
        value = default
        if raw is not None:
            try:
                value = _bool(raw)
            except argparse.ArgumentTypeError as exc:
                self.error(f"environment {env}: {exc}")
        self.add_argument(
            name,
            default=value,
            action=argparse.BooleanOptionalAction,
            help=f"{help} (default: {'on' if default else 'off'}) [env {env}]",
        )


def build_parser() -> argparse.ArgumentParser:
    p = FlagParser(
        prog="swarm-sentinel",
        description=(
            "Prometheus exporter and careful auto-healer for Docker Swarm. "
            "Run it on every node (a global service): on a manager it reports the "
            "cluster and its node's task containers, on a worker its node's task "
            "containers; it serves /metrics, /healthz, /ready and a status page at /."
        ),
        epilog=(
            "Subcommands: 'swarm-sentinel status' prints a one-shot view of the swarm for "
            "the person on call (nodes, quorum, services not converged, stuck tasks, the "
            "healer's forces) and exits 0 healthy, 1 unhealthy, 2 engine unreachable; "
            "'swarm-sentinel explain SERVICE' says why one service is down (its failed "
            "tasks, what keeps a pending task off each node, the healer's outlook); "
            "'swarm-sentinel wait --stack NAME' waits after a deploy until its services have "
            "converged and exits 0, or names what failed (rolled back, paused, crash loop, "
            "timeout) and exits non-zero. See their --help."
        ),
    )
    p.add_argument("--version", action="version", version=f"swarm-sentinel {VERSION}")
    add_docker_flags(p)
    p.flag(
        "--web.listen-address",
        default=f":{DEFAULT_PORT}",
        help="address to serve metrics on, host:port",
    )
    p.flag(
        "--web.config.file",
        default="",
        help="exporter-toolkit web config file (TLS, basic auth), as node_exporter takes",
    )
    p.flag(
        "--log.level",
        default="info",
        choices=("debug", "info", "warn", "error"),
        help="log level",
    )
    p.flag(
        "--log.format",
        default="auto",
        choices=("auto", "json", "logfmt", "console"),
        help="log format: auto is console on a terminal, JSON otherwise; logfmt is "
        "key=value lines as Prometheus' own exporters write them",
    )
    p.flag(
        "--watch.poll-interval",
        default="15s",
        type=duration,
        metavar="DURATION",
        help="how often task states are polled (the engine emits no task events)",
    )
    p.flag(
        "--watch.resync-interval",
        default="30m",
        type=duration,
        metavar="DURATION",
        help="how often nodes, services and all tasks are listed again in full",
    )
    p.switch(
        "--watch.containers",
        default=True,
        help="follow the engine's own task-container events (exits, OOM kills, health "
        "checks); off when --docker.host is not this node's own engine",
    )
    p.flag(
        "--watch.containers-forget-after",
        default="5m",
        type=duration,
        metavar="DURATION",
        help="how long a service's dockerswarm_container_* series outlive its last "
        "container on this node (removed services' series go then)",
    )
    p.switch(
        "--watch.task-history",
        default=False,
        help="list whole task histories and count failures from them, as before "
        "swarm-sentinel ran on every node: for deployments on managers only (otherwise "
        "the nodes count exits, and managers list current tasks only)",
    )
    p.flag(
        "--node.certificate-file",
        default="",
        metavar="PATH",
        help="this node's own swarm certificate, to export when it expires: a read-only "
        "mount of /var/lib/docker/swarm/certificates/swarm-node.crt (that file alone, never "
        "the directory: it holds the key); empty: not read",
    )
    p.flag(
        "--metric.node-labels",
        default="*",
        type=_allowlist,
        metavar="KEYS",
        help="node labels exported in dockerswarm_node_labels: comma-separated keys or "
        "patterns (com.example.*); * all, empty none",
    )
    p.flag(
        "--metric.service-labels",
        default="",
        type=_allowlist,
        metavar="KEYS",
        help="service labels exported in dockerswarm_service_labels, as --metric.node-labels "
        "(default none: service labels are free text, each key a new label name)",
    )
    p.flag(
        "--metric.max-series-per-family",
        default=100_000,
        type=_non_negative_int,
        metavar="N",
        help="series of one metric family at most; the rest are dropped and counted in "
        "dockerswarm_exporter_series_dropped_total (0: no limit)",
    )
    add_healer_flags(p)
    p.switch(
        "--explain.logs",
        default=False,
        help="show the last 20 lines of a service's newest failed task on its page "
        "(/service/NAME) and in the healer's webhook; off by default: logs can hold "
        "secrets (only for the json-file, local and journald log drivers)",
    )
    return p


def add_docker_flags(p: FlagParser) -> None:
    """Where the engine is: shared by the exporter and ``status``."""
    p.flag(
        "--docker.host",
        default="",
        type=docker_host,
        docker_env="DOCKER_HOST",
        help="Docker Engine API of a swarm manager: unix:///path or tcp://host:port "
        "(TLS from DOCKER_TLS_VERIFY/DOCKER_CERT_PATH); empty: the local socket, or DOCKER_HOST",
    )
    p.flag(
        "--docker.api-version",
        default="",
        type=_api_version,
        docker_env="DOCKER_API_VERSION",
        metavar="VERSION",
        help=f"Engine API version to speak, as DOCKER_API_VERSION pins it for the docker CLI; "
        f"empty: the lower of the engine's (GET /_ping) and {NEWEST}, the newest known "
        f"({OLDEST} at least)",
    )
    p.flag(
        "--docker.timeout",
        default="10s",
        type=duration,
        metavar="DURATION",
        help="timeout of each Engine API call",
    )


def add_healer_flags(p: FlagParser) -> None:
    """The healer's flags: whether it runs, how it decides, how often, where it reports."""
    p.switch("--healer.enabled", default=True, help="run the healer")
    add_healer_policy_flags(p)
    p.flag(
        "--healer.interval",
        default="5s",
        type=duration,
        metavar="DURATION",
        help="how often every service is evaluated",
    )
    p.flag(
        "--healer.webhook-url",
        default="",
        type=_webhook_url,
        metavar="URL",
        help="POST one JSON document per decision the healer reports (each force, dry "
        "run, error and conflict; a give-up or a skip once when it starts) to this http(s) "
        "URL; empty: off. Logs show only its scheme, host and port",
    )
    p.flag(
        "--healer.webhook-timeout",
        default="5s",
        type=duration,
        metavar="DURATION",
        help="timeout of each webhook POST; tried 4 times at most (after a refused "
        "connection, a timeout, a 5xx, 408 or 429), 1s, 2s, 4s apart",
    )


def add_healer_policy_flags(p: FlagParser) -> None:
    """How the healer decides: shared by the exporter, ``status`` and ``explain`` (which
    say what a healer with these settings counts and would do)."""
    p.switch(
        "--healer.dry-run",
        default=False,
        help="decide and report, but never update a service",
    )
    p.flag(
        "--healer.scope",
        default="labelled",
        choices=("labelled", "all"),
        help="labelled: only services labelled swarm-sentinel.heal=true; "
        "all: every service except those labelled swarm-sentinel.heal=false",
    )
    p.flag(
        "--healer.threshold",
        default="2m",
        type=duration,
        metavar="DURATION",
        help="how long a service must stay broken before it is forced",
    )
    p.flag(
        "--healer.cooldown",
        default="5m",
        type=duration,
        metavar="DURATION",
        help="wait after a force before the next one; doubles per further force",
    )
    p.flag(
        "--healer.max-cooldown",
        default="1h",
        type=duration,
        metavar="DURATION",
        help="cap of the doubling cooldown",
    )
    p.flag(
        "--healer.max-attempts",
        default=5,
        type=positive_int,
        metavar="N",
        help="forces within 24h after which the healer gives up on a service",
    )
    p.flag(
        "--healer.rate-limit",
        default=3,
        type=positive_int,
        metavar="N",
        help="forces per minute across the whole swarm at most",
    )
    p.flag(
        "--healer.crash-loop-restarts",
        default=5,
        type=positive_int,
        metavar="N",
        help="task failures within --healer.crash-loop-window that make a service "
        "crash looping, broken even while its running count looks fine",
    )
    p.flag(
        "--healer.crash-loop-window",
        default="10m",
        type=duration,
        metavar="DURATION",
        help="the window of --healer.crash-loop-restarts (at most 1h)",
    )
    p.flag(
        "--healer.on-update-paused",
        default="force",
        choices=("force", "rollback", "none"),
        help="what the healer does for a service whose update paused on failure: force "
        "(runs the failed update again), rollback (docker service rollback: the engine puts "
        "the previous spec back), none (left to the operator); the service label "
        "swarm-sentinel.heal.update-paused overrides it",
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)
