"""The one config of the generated rules and dashboards (``python -m grafana.build``).

Every threshold, ``for`` duration, severity, the selector and the runbook base URL live
here and only here: the rule modules and the dashboard modules read them from the
``Config`` they are given, so a value changed here (or with ``--set``) changes the alert,
its text and the panels that show the same limit at once. ``DEFAULT`` builds the files
committed in the repository.
"""

from __future__ import annotations

import dataclasses
import re
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args, get_type_hints

Severity = Literal["critical", "warning", "info"]
SEVERITIES: tuple[str, ...] = get_args(Severity)
_DURATION = re.compile(r"(\d+)([smh])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}
_UNIT_WORDS = {"s": "second", "m": "minute", "h": "hour"}


class ConfigError(ValueError):
    """A bad key or value: its message is the one line the build prints."""


def seconds(duration: str) -> int:
    """A Prometheus duration of one unit (``30s``, ``5m``, ``1h``) in seconds."""
    match = _DURATION.fullmatch(duration)
    if match is None:
        raise ConfigError(f"not a duration like 30s, 5m or 1h: {duration!r}")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def words(duration: str) -> str:
    """A duration as the alert texts say it: ``1 minute``, ``5 minutes``, ``an hour``."""
    seconds(duration)  # validates
    match = _DURATION.fullmatch(duration)
    assert match is not None
    count, unit = int(match.group(1)), _UNIT_WORDS[match.group(2)]
    if count == 1:
        return f"an {unit}" if unit == "hour" else f"1 {unit}"
    return f"{count} {unit}s"


@dataclass(frozen=True)
class AlertSettings:
    """How long an alert's condition must hold before it fires, and how loud it is."""

    # "0s": no `for:` (the condition already waits, e.g. a state older than N minutes).
    for_: str
    severity: Severity

    def __post_init__(self) -> None:
        seconds(self.for_)
        if self.severity not in SEVERITIES:
            raise ConfigError(f"severity must be one of {', '.join(SEVERITIES)}: {self.severity!r}")


@dataclass(frozen=True)
class Thresholds:
    """The limits the alerts fire at; panels showing the same limit read them too."""

    # SwarmTooManyManagers: more managers than this (Docker recommends at most 7).
    max_managers: int = 7
    # SwarmTasksStuck{Preparing,Pending,Allocating}, SwarmServiceInsufficientResources:
    # a task in such a state for longer than this (the services dashboard's "Stuck").
    stuck_tasks: str = "5m"
    # SwarmServiceCrashLooping: this many failed exits of a service within the window.
    crash_loop_exits: int = 5
    crash_loop_window: str = "10m"
    # The services dashboard lists a service as crash looping from this many failed exits
    # within crash_loop_window: earlier than the alert, to see one coming.
    dashboard_crash_loop_exits: int = 3
    # SwarmContainerOOMKilled, SwarmContainerUnhealthy, SwarmHealerForced: an event
    # within this window.
    oom_window: str = "15m"
    unhealthy_window: str = "10m"
    healer_forced_window: str = "10m"
    # SwarmExporterStale: the exporter's last refresh is older than this.
    exporter_stale: str = "2m"
    # SwarmServiceUpdateStuck: updating this long without a task replaced in as long (an
    # update whose batches wait this long or longer is left out).
    update_stuck: str = "15m"
    # SwarmCACertificateExpiring, SwarmNodeCertificateExpiring: days left; a node
    # certificate with more than this share of its lifetime left is not yet due.
    ca_expiry_days: int = 30
    node_certificate_expiry_days: int = 7
    node_certificate_renewal_share: float = 0.2
    # SwarmTaskHistoryRetentionHigh: a retention limit above this (Docker's default: 5).
    task_history_retention: int = 5
    # SwarmNetworkAddressesExhausted: this share of a network's addresses in use.
    network_addresses_used: float = 0.85
    # The usage jobs (compose/usage.yml). SwarmServiceMemoryNearLimit: a task container's
    # working set above this share of its service's memory limit (the kernel OOM-kills
    # it at the limit); the usage dashboard draws the same line on CPU and memory.
    memory_near_limit: float = 0.9
    # SwarmNodeDiskFillingUp: a filesystem whose free space, extrapolated linearly from
    # the last disk_fill_lookback, runs out within disk_fill_horizon, while less than
    # disk_fill_free_share of it is free (a big, mostly empty disk that fills slowly is
    # not news). swarmprom's swarm_node.rules.yml predicted from 1h; 6h is steadier.
    disk_fill_lookback: str = "6h"
    disk_fill_horizon: str = "24h"
    disk_fill_free_share: float = 0.4

    def __post_init__(self) -> None:
        for name in ("stuck_tasks", "crash_loop_window", "oom_window", "unhealthy_window"):
            seconds(getattr(self, name))
        for name in ("healer_forced_window", "exporter_stale", "update_stuck"):
            seconds(getattr(self, name))
        for name in ("disk_fill_lookback", "disk_fill_horizon"):
            seconds(getattr(self, name))
        for name in ("network_addresses_used", "memory_near_limit", "disk_fill_free_share"):
            if not 0 < getattr(self, name) <= 1:
                raise ConfigError(f"thresholds.{name} is a share: 0 < x <= 1")
        if not 0 <= self.node_certificate_renewal_share < 1:
            raise ConfigError("thresholds.node_certificate_renewal_share is a share: 0 <= x < 1")


def _alerts(**settings: tuple[str, Severity]) -> Mapping[str, AlertSettings]:
    return types.MappingProxyType(
        {name: AlertSettings(for_, severity) for name, (for_, severity) in settings.items()}
    )


DEFAULT_ALERTS = _alerts(
    SwarmQuorumLost=("1m", "critical"),
    SwarmQuorumAtRisk=("5m", "warning"),
    SwarmEvenManagerCount=("15m", "info"),
    SwarmTooManyManagers=("15m", "warning"),
    SwarmNodeDown=("1m", "warning"),
    SwarmManagerUnreachable=("2m", "warning"),
    SwarmServiceDown=("1m", "critical"),
    SwarmServiceDegraded=("5m", "warning"),
    SwarmTasksStuckPreparing=("0s", "warning"),
    SwarmTasksStuckPending=("0s", "warning"),
    SwarmServiceInsufficientResources=("0s", "warning"),
    SwarmServiceUpdatePaused=("1m", "warning"),
    SwarmServiceRolledBack=("0s", "warning"),
    SwarmServiceUpdateStuck=("0s", "warning"),
    SwarmManagerLocked=("1m", "warning"),
    SwarmCACertificateExpiring=("10m", "warning"),
    SwarmNodeCertificateExpiring=("10m", "warning"),
    SwarmCARotationStuck=("1h", "warning"),
    SwarmTaskHistoryRetentionHigh=("15m", "warning"),
    SwarmNetworkAddressesExhausted=("5m", "warning"),
    SwarmTasksStuckAllocating=("0s", "warning"),
    SwarmJobOverran=("0s", "warning"),
    SwarmJobFailed=("0s", "warning"),
    SwarmServiceCrashLooping=("5m", "warning"),
    SwarmContainerOOMKilled=("0s", "warning"),
    SwarmContainerUnhealthy=("0s", "warning"),
    SwarmExporterDown=("2m", "warning"),
    SwarmExporterStale=("2m", "warning"),
    SwarmHealerForced=("0s", "info"),
    SwarmHealerGaveUp=("0s", "warning"),
    SwarmExportersMissing=("5m", "warning"),
    SwarmExportersAbsent=("5m", "critical"),
    SwarmServiceMemoryNearLimit=("5m", "warning"),
    SwarmNodeDiskFillingUp=("1h", "warning"),
)


@dataclass(frozen=True)
class Config:
    """What the generated rules and dashboards are built with."""

    # Where each alert's runbook_url points: `<runbook_url>#<alert name, lower case>`, a
    # section of docs/runbooks.md. The default is where the repository would publish it on
    # GitHub; the project has no public home yet, so set it to the docs/runbooks.md your
    # people can open (docs/alerts.md, "Runbooks").
    runbook_url: str = "https://github.com/swarm-sentinel/swarm-sentinel/blob/main/docs/runbooks.md"
    # Extra label matchers every selector of a raw series gets, in rules and dashboards
    # (e.g. `env="prod"`): for a Prometheus that also scrapes series of the same names
    # that are not swarm-sentinel's. Empty: the rules assume no job name (docs/alerts.md).
    selector: str = ""
    # The label that tells swarms apart in one Prometheus (docs/alerts.md, "Many
    # swarms"): every aggregation and join of the rules and panels keeps it.
    cluster_label: str = "cluster"
    thresholds: Thresholds = Thresholds()
    alerts: Mapping[str, AlertSettings] = field(default_factory=lambda: DEFAULT_ALERTS)

    def __post_init__(self) -> None:
        if not re.fullmatch(r"https?://\S+", self.runbook_url) or "#" in self.runbook_url:
            raise ConfigError(f"runbook_url must be an http(s) URL without #: {self.runbook_url!r}")
        if self.selector and not re.fullmatch(
            r'\s*\w+\s*(=|!=|=~|!~)\s*"[^"]*"(\s*,\s*\w+\s*(=|!=|=~|!~)\s*"[^"]*")*\s*',
            self.selector,
        ):
            raise ConfigError(f'selector must be label matchers like env="prod": {self.selector!r}')
        if not re.fullmatch(r"[a-zA-Z_]\w*", self.cluster_label) or self.cluster_label.startswith(
            "__"
        ):
            raise ConfigError(f"cluster_label must be a label name: {self.cluster_label!r}")
        if set(self.alerts) != set(DEFAULT_ALERTS):
            unknown = sorted(set(self.alerts) ^ set(DEFAULT_ALERTS))
            raise ConfigError(f"alerts must name every shipped alert, no other: {unknown}")

    def alert(self, name: str) -> AlertSettings:
        return self.alerts[name]

    def held(self, name: str) -> str:
        """How long the alert's condition must hold before it fires, in words."""
        return words(self.alerts[name].for_)


DEFAULT = Config()


# ------------------------------------------------------------------- --set KEY=VALUE


def _convert(value: str, kind: Any, key: str) -> Any:
    if kind is int:
        try:
            return int(value)
        except ValueError:
            raise ConfigError(f"{key} takes a whole number: {value!r}") from None
    if kind is float:
        try:
            return float(value)
        except ValueError:
            raise ConfigError(f"{key} takes a number: {value!r}") from None
    return value


def _replace(obj: Any, path: list[str], value: str, key: str) -> Any:
    if isinstance(obj, Mapping):
        name, rest = path[0], path[1:]
        if name not in obj:
            raise ConfigError(f"no such key {key!r}: no alert {name!r}")
        return types.MappingProxyType({**obj, name: _replace(obj[name], rest, value, key)})
    fields = {f.name: f for f in dataclasses.fields(obj)}
    # `for` is a keyword in Python: the field is for_, the key says for.
    name = "for_" if path and path[0] == "for" else (path[0] if path else "")
    if name not in fields:
        known = ", ".join(sorted(n.rstrip("_") for n in fields))
        raise ConfigError(f"no such key {key!r} (known here: {known})")
    kind = get_type_hints(type(obj))[name]
    current = getattr(obj, name)
    if dataclasses.is_dataclass(current) or isinstance(current, Mapping):
        if len(path) == 1:
            raise ConfigError(f"{key!r} is a group of keys, not a value")
        new = _replace(current, path[1:], value, key)
    elif len(path) > 1:
        raise ConfigError(f"no such key {key!r}: {path[0]} is a value")
    else:
        new = _convert(value, kind, key)
    try:
        return dataclasses.replace(obj, **{name: new})
    except ConfigError as error:
        raise ConfigError(f"{key}: {error}") from None


def override(config: Config, assignment: str) -> Config:
    """`config` with one ``key=value`` set, e.g. ``thresholds.max_managers=9``,
    ``alerts.SwarmNodeDown.for=5m``, ``runbook_url=https://...``; ConfigError otherwise."""
    key, sep, value = assignment.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set takes KEY=VALUE: {assignment!r}")
    key = key.strip()
    result: Config = _replace(config, key.split("."), value.strip(), key)
    return result
