"""Service families: one service's facts, desired and running tasks, update state."""

from __future__ import annotations

from exporter.metrics.text import Family, Labels, Rendered, sample, state_set
from exporter.model import ServiceView
from exporter.types import UPDATE_STATES, Service

_S = ("service_name", "stack")

INFO = Family(
    "dockerswarm_service_info",
    "gauge",
    "Static facts of a service; always 1.",
    ("service_id", *_S, "mode", "image"),
)
DESIRED = Family(
    "dockerswarm_service_replicas_desired",
    "gauge",
    "Tasks the service should run now (global: eligible ready, active nodes); for a job "
    "or a one-shot, the work not yet done: a finished one wants none.",
    _S,
)
RUNNING = Family(
    "dockerswarm_service_replicas_running",
    "gauge",
    "Tasks of the service observed running (latest task per slot, not on a down node).",
    _S,
)
UPDATE_STATE = Family(
    "dockerswarm_service_update_state",
    "gauge",
    "Service update state as a state set; absent for a service never updated.",
    (*_S, "state"),
)
COMPLETIONS_DESIRED = Family(
    "dockerswarm_service_completions_desired",
    "gauge",
    "Jobs and one-shot services (restart condition none or on-failure): tasks to run "
    "to completion.",
    _S,
)
COMPLETIONS_SUCCEEDED = Family(
    "dockerswarm_service_completions_succeeded",
    "gauge",
    "Jobs and one-shot services: tasks that completed (exit 0).",
    _S,
)
FAMILIES = (INFO, DESIRED, RUNNING, UPDATE_STATE, COMPLETIONS_DESIRED, COMPLETIONS_SUCCEEDED)


def service_ident(svc: Service) -> Labels:
    """The labels that name a service in every service and task family."""
    return (("service_name", svc.name), ("stack", svc.stack))


def render_service(view: ServiceView) -> Rendered:
    svc = view.service
    ident = service_ident(svc)
    facts = (("mode", svc.mode), ("image", svc.image))
    out = {
        INFO.name: sample(INFO, (("service_id", svc.id), *ident, *facts), 1),
        DESIRED.name: sample(DESIRED, ident, view.desired),
        RUNNING.name: sample(RUNNING, ident, view.running),
    }
    if view.completions_desired is not None:
        out[COMPLETIONS_DESIRED.name] = sample(COMPLETIONS_DESIRED, ident, view.completions_desired)
    if view.completions_succeeded is not None:
        out[COMPLETIONS_SUCCEEDED.name] = sample(
            COMPLETIONS_SUCCEEDED, ident, view.completions_succeeded
        )
    if svc.update_state:
        out[UPDATE_STATE.name] = state_set(
            UPDATE_STATE, ident, "state", UPDATE_STATES, svc.update_state
        )
    return out
