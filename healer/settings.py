"""The healer's settings and the per-service labels that override them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar
from urllib.parse import urlsplit

from common.durations import parse_positive_duration
from common.text import parse_bool
from exporter.types import Service

LABEL_HEAL = "swarm-sentinel.heal"
LABEL_THRESHOLD = "swarm-sentinel.heal.threshold"
LABEL_COOLDOWN = "swarm-sentinel.heal.cooldown"
LABEL_MAX_ATTEMPTS = "swarm-sentinel.heal.max-attempts"
LABEL_REBALANCE = "swarm-sentinel.heal.rebalance"
LABEL_UPDATE_PAUSED = "swarm-sentinel.heal.update-paused"
# Written by the healer itself, in the same versioned update as the force.
LABEL_STATE = "swarm-sentinel.heal.state"

T = TypeVar("T")


class Scope(StrEnum):
    LABELLED = "labelled"
    ALL = "all"


class Action(StrEnum):
    """What the healer writes: what it does for an update paused on failure
    (``--healer.on-update-paused``, the label ``swarm-sentinel.heal.update-paused``), and
    which write a decision is about."""

    FORCE = "force"
    """``docker service update --force``: the service's current spec, its tasks replaced
    (for a paused update, that is the update that failed, run again)."""
    ROLLBACK = "rollback"
    """``docker service rollback``: the engine puts the service's previous spec back."""
    NONE = "none"
    """Nothing: a paused update is left to the operator."""


def parse_action(text: str) -> Action:
    try:
        return Action(text.strip().lower())
    except ValueError:
        raise ValueError(f"{text!r} is not one of force, rollback, none") from None


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """Where and how the healer POSTs each decision it reports (``healer/webhook.py``)."""

    url: str = ""
    """An http(s) URL; empty: no webhook. It may hold secrets (user:password@, a token
    in its path or query): logs show only its scheme, host and port."""
    timeout: float = 5.0
    """Seconds one POST may take, connecting and answering."""
    attempts: int = 4
    """POSTs of one document at most: again after a refused connection, a timeout, a 5xx,
    408 or 429 answer; any other answer is final."""
    backoff: float = 1.0
    """Seconds before the second attempt; doubles before each further one (1s, 2s, 4s)."""
    queue_size: int = 256
    """Documents waiting to be sent at most; one reported while it is full is dropped."""


@dataclass(frozen=True, slots=True)
class HealerSettings:
    enabled: bool = True
    dry_run: bool = False
    """Decide and report everything, write nothing."""
    scope: Scope = Scope.LABELLED
    """labelled: only services labelled heal=true; all: all but those labelled heal=false."""
    threshold: float = 120.0
    """Seconds a service must stay broken, continuously, before it is forced."""
    cooldown: float = 300.0
    """Seconds after a force before the next; doubles per further force."""
    max_cooldown: float = 3600.0
    """Cap of the doubling cooldown."""
    max_attempts: int = 5
    """Forces within ``attempts_window`` after which the healer gives up."""
    rate_limit: int = 3
    """Forces per minute across the swarm at most."""
    healthy_reset: float = 600.0
    """Seconds of health after which back-off and attempts start again from zero."""
    attempts_window: float = 86400.0
    interval: float = 5.0
    """Seconds between two evaluations of every service."""
    force_timeout: float = 15.0
    """Seconds one force (inspect + update) may take."""
    crash_loop_restarts: int = 5
    """Task failures within ``crash_loop_window`` that make a service crash looping."""
    crash_loop_window: float = 600.0
    on_update_paused: Action = Action.FORCE
    """What to do for a service whose update paused on failure (its label overrides it)."""
    webhook: WebhookSettings = WebhookSettings()
    """Where each reported decision is POSTed; no URL: nowhere."""


@dataclass(frozen=True, slots=True)
class ServicePolicy:
    """The settings that apply to one service, after its labels."""

    heal: bool
    threshold: float
    cooldown: float
    max_attempts: int
    rebalance: bool
    on_update_paused: Action = Action.FORCE


@dataclass(frozen=True, slots=True)
class LabelProblem:
    label: str
    value: str
    problem: str


def _count(value: str) -> int:
    n = int(value.strip())
    if n < 1:
        raise ValueError(f"{value!r} must be 1 or more")
    return n


def _read(
    service: Service,
    label: str,
    parse: Callable[[str], T],
    default: T,
    problems: list[LabelProblem],
) -> T:
    raw = service.label(label)
    if raw is None:
        return default
    try:
        return parse(raw)
    except ValueError as exc:
        problems.append(LabelProblem(label, raw, str(exc)))
        return default


def service_policy(
    service: Service, settings: HealerSettings
) -> tuple[ServicePolicy, list[LabelProblem]]:
    """The policy of ``service``; a malformed label is reported and its default used."""
    p: list[LabelProblem] = []
    policy = ServicePolicy(
        heal=_read(service, LABEL_HEAL, parse_bool, settings.scope == Scope.ALL, p),
        threshold=_read(service, LABEL_THRESHOLD, parse_positive_duration, settings.threshold, p),
        cooldown=_read(service, LABEL_COOLDOWN, parse_positive_duration, settings.cooldown, p),
        max_attempts=_read(service, LABEL_MAX_ATTEMPTS, _count, settings.max_attempts, p),
        rebalance=_read(service, LABEL_REBALANCE, parse_bool, False, p),
        on_update_paused=_read(
            service, LABEL_UPDATE_PAUSED, parse_action, settings.on_update_paused, p
        ),
    )
    return policy, p


def shown_url(url: str) -> str:
    """``url`` as logs and errors may show it: its scheme, host and port only, and
    ``/…`` for whatever followed (a path or a query can hold a token, as can
    user:password@)."""
    try:
        parts = urlsplit(url.strip())
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return "…"
    if parts.scheme.lower() not in ("http", "https") or not host:
        return "…"
    host = f"[{host}]" if ":" in host else host
    rest = "/…" if parts.path.strip("/") or parts.query or parts.fragment else ""
    return f"{parts.scheme.lower()}://{host}{f':{port}' if port is not None else ''}{rest}"


def check_webhook_url(text: str) -> str:
    """``text`` if it is an http(s) URL ("" means no webhook); ``ValueError`` with a
    one-line reason that never repeats the URL's secrets otherwise."""
    url = text.strip()
    if not url:
        return ""
    if any(c.isspace() or not c.isprintable() for c in url):
        raise ValueError("the URL contains spaces or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (ValueError when the port is not a number in range)
    except ValueError:
        raise ValueError("not a URL (use http://host[:port]/path or https://...)") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("not an http:// or https:// URL")
    if not parts.hostname:
        raise ValueError(f"{parts.scheme.lower()}://…: no host in the URL")
    return url
