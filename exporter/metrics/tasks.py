"""Task families: one service's current tasks by state, its failures, its stuck tasks."""

from __future__ import annotations

from exporter.metrics.services import service_ident
from exporter.metrics.text import Family, Rendered, sample
from exporter.model import ServiceView

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
FAMILIES = (BY_STATE, FAILURES, STATE_SINCE)


def render_service_tasks(view: ServiceView) -> Rendered:
    ident = service_ident(view.service)
    states = dict(view.task_states)
    states.setdefault("running", 0)
    out = {
        BY_STATE.name: "".join(
            sample(BY_STATE, (*ident, ("state", s)), c) for s, c in sorted(states.items())
        )
    }
    if view.failures:
        out[FAILURES.name] = "".join(
            sample(FAILURES, (*ident, ("reason", r)), c) for r, c in sorted(view.failures.items())
        )
    if view.stuck:
        out[STATE_SINCE.name] = "".join(
            sample(STATE_SINCE, (*ident, ("state", s), ("reason", r)), ts)
            for (s, r), ts in sorted(view.stuck.items())
        )
    return out
