"""Task families: one service's current tasks by state, its failures, its stuck tasks."""

from __future__ import annotations

from collections.abc import Iterable

from exporter.metrics.kind import Generator, Sample
from exporter.metrics.text import Family
from exporter.views import ServiceView

_S = ("service_name", "stack")

BY_STATE = Family(
    "dockerswarm_service_tasks",
    "gauge",
    "Latest task per slot (per node for global services), by observed state.",
    (*_S, "state"),
)
FAILURES = Family(
    "dockerswarm_service_task_failures",
    "counter",
    "Tasks seen entering failed or rejected, by reason classified from the task error.",
    (*_S, "reason"),
)
STATE_SINCE = Family(
    "dockerswarm_service_task_state_since_timestamp_seconds",
    "gauge",
    "Since when the oldest current task has been in this pre-running state, with its reason.",
    (*_S, "state", "reason"),
)


def _by_state(v: ServiceView) -> Iterable[Sample]:
    states = dict(v.task_states)
    states.setdefault("running", 0)
    return (((("state", s),), c) for s, c in sorted(states.items()))


GENERATORS: tuple[Generator[ServiceView], ...] = (
    Generator(BY_STATE, _by_state),
    Generator(FAILURES, lambda v: (((("reason", r),), c) for r, c in sorted(v.failures.items()))),
    Generator(
        STATE_SINCE,
        lambda v: (((("state", s), ("reason", r)), ts) for (s, r), ts in sorted(v.stuck.items())),
    ),
)
