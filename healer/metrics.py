"""The healer's metric families, rendered from its own bookkeeping on change."""

from __future__ import annotations

from collections import Counter

from exporter.metrics.services import service_ident
from exporter.metrics.text import Family, TextStore, sample
from exporter.types import Labels, ServiceKey

_S = ("service_name", "stack")
ACTIONS = Family(
    "dockerswarm_healer_actions",
    "counter",
    "Healer decisions about broken services, by reason, result and the write they are "
    "about (force, rollback; none for a skip).",
    (*_S, "reason", "result", "action"),
)
NEXT_ACTION = Family(
    "dockerswarm_healer_next_action_timestamp_seconds",
    "gauge",
    "Earliest time the healer may force the service again (cooldown end).",
    _S,
)
GAVE_UP = Family(
    "dockerswarm_healer_gave_up",
    "gauge",
    "1 while the healer has given up on the service (max attempts reached).",
    _S,
)
ACTING = Family(
    "dockerswarm_healer_acting",
    "gauge",
    "1 on the healer instance that acts (its engine is the raft leader), 0 elsewhere.",
)
DRY_RUN = Family("dockerswarm_healer_dry_run", "gauge", "1 when the healer runs in dry run.")
LABEL_ERRORS = Family(
    "dockerswarm_healer_label_errors",
    "counter",
    "Malformed swarm-sentinel.heal* service labels seen (the default was used).",
    (*_S, "label"),
)
WEBHOOK_SENT = Family(
    "dockerswarm_healer_webhook_sent",
    "counter",
    "Healer decisions POSTed to --healer.webhook-url and answered 2xx.",
)
WEBHOOK_FAILURES = Family(
    "dockerswarm_healer_webhook_failures",
    "counter",
    "Healer decisions the webhook gave up on: a 4xx (or other final) answer, or every "
    "attempt refused, timed out or answered 5xx.",
)
WEBHOOK_DROPPED = Family(
    "dockerswarm_healer_webhook_dropped",
    "counter",
    "Healer decisions not sent because the webhook's queue was full.",
)
WEBHOOK_FAMILIES = (WEBHOOK_SENT, WEBHOOK_FAILURES, WEBHOOK_DROPPED)
HEALER_FAMILIES = (
    ACTIONS,
    NEXT_ACTION,
    GAVE_UP,
    ACTING,
    DRY_RUN,
    LABEL_ERRORS,
    *WEBHOOK_FAMILIES,
)


class HealerMetrics:
    def __init__(self, dry_run: bool) -> None:
        self.store = TextStore(HEALER_FAMILIES)
        self.actions: Counter[tuple[str, str, str, str, str]] = Counter()
        self.label_errors: Counter[tuple[str, str, str]] = Counter()
        self.next_action: dict[ServiceKey, float] = {}
        self.gave_up: set[ServiceKey] = set()
        self.acting = False
        self.dry_run = dry_run

    def render(self) -> None:
        ident = _ident
        chunks = {
            ACTING.name: sample(ACTING, (), int(self.acting)),
            DRY_RUN.name: sample(DRY_RUN, (), int(self.dry_run)),
            ACTIONS.name: "".join(
                sample(ACTIONS, (*ident((n, s)), ("reason", r), ("result", res), ("action", a)), c)
                for (n, s, r, res, a), c in sorted(self.actions.items())
            ),
            NEXT_ACTION.name: "".join(
                sample(NEXT_ACTION, ident(k), round(t, 3))
                for k, t in sorted(self.next_action.items())
            ),
            GAVE_UP.name: "".join(sample(GAVE_UP, ident(k), 1) for k in sorted(self.gave_up)),
            LABEL_ERRORS.name: "".join(
                sample(LABEL_ERRORS, (*ident((n, s)), ("label", lb)), c)
                for (n, s, lb), c in sorted(self.label_errors.items())
            ),
        }
        self.store.put("healer", chunks)


def _ident(key: ServiceKey) -> Labels:
    return service_ident(*key)


def render_webhook(sent: int, failures: int, dropped: int) -> dict[str, str]:
    """The webhook's counters (only while it is configured: present from 0)."""
    return {
        WEBHOOK_SENT.name: sample(WEBHOOK_SENT, (), sent),
        WEBHOOK_FAILURES.name: sample(WEBHOOK_FAILURES, (), failures),
        WEBHOOK_DROPPED.name: sample(WEBHOOK_DROPPED, (), dropped),
    }
