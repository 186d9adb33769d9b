"""Service families: one service's facts, desired and running tasks, update state."""

from __future__ import annotations

from exporter.metrics.labels import NO_LABELS, Allowlist
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
LABELS = Family(
    "dockerswarm_service_labels",
    "gauge",
    "Service labels allowlisted by --metric.service-labels, as label_<key> labels, keys "
    "sanitised; always 1.",
    (*_S, "label_<key>"),
)
RESERVATION_CPUS = Family(
    "dockerswarm_service_reservation_cpus",
    "gauge",
    "CPUs reserved per task (TaskTemplate.Resources.Reservations); absent when unset.",
    _S,
)
RESERVATION_MEMORY = Family(
    "dockerswarm_service_reservation_memory_bytes",
    "gauge",
    "Memory reserved per task; absent when unset.",
    _S,
)
LIMIT_CPUS = Family(
    "dockerswarm_service_limit_cpus",
    "gauge",
    "CPU limit per task (TaskTemplate.Resources.Limits); absent when unset.",
    _S,
)
LIMIT_MEMORY = Family(
    "dockerswarm_service_limit_memory_bytes",
    "gauge",
    "Memory limit per task; absent when unset.",
    _S,
)
PLACEMENT_FIT = Family(
    "dockerswarm_service_placement_fit_nodes",
    "gauge",
    "While a task of the service is pending: nodes that could take one more of its tasks, "
    "by the scheduler's filters (for a global service, among the nodes its pending tasks "
    "are meant for).",
    _S,
)
PLACEMENT_EXCLUDED = Family(
    "dockerswarm_service_placement_excluded_nodes",
    "gauge",
    "While a task of the service is pending: nodes excluded, by the first of the "
    "scheduler's filters that rejects them (not_ready, drain, pause, cpu, memory, generic, "
    "constraint, platform, host_port, max_replicas); for constraint, which one.",
    (*_S, "filter", "constraint"),
)
FAMILIES = (
    INFO,
    DESIRED,
    RUNNING,
    UPDATE_STATE,
    COMPLETIONS_DESIRED,
    COMPLETIONS_SUCCEEDED,
    LABELS,
    RESERVATION_CPUS,
    RESERVATION_MEMORY,
    LIMIT_CPUS,
    LIMIT_MEMORY,
    PLACEMENT_FIT,
    PLACEMENT_EXCLUDED,
)


def service_ident(svc: Service) -> Labels:
    """The labels that name a service in every service and task family."""
    return (("service_name", svc.name), ("stack", svc.stack))


def render_service(view: ServiceView, labels: Allowlist = NO_LABELS) -> Rendered:
    """``labels``: which of the service's labels to export (none by default)."""
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
    exported = labels.select(svc.labels)
    if exported:
        out[LABELS.name] = sample(LABELS, (*ident, *exported), 1)
    for cpus, memory, res in (
        (RESERVATION_CPUS, RESERVATION_MEMORY, svc.reservation),
        (LIMIT_CPUS, LIMIT_MEMORY, svc.limit),
    ):
        if res.cpus:
            out[cpus.name] = sample(cpus, ident, res.cpus)
        if res.memory_bytes:
            out[memory.name] = sample(memory, ident, res.memory_bytes)
    if view.placement is not None:
        out[PLACEMENT_FIT.name] = sample(PLACEMENT_FIT, ident, len(view.placement.fit))
        out[PLACEMENT_EXCLUDED.name] = "".join(
            sample(
                PLACEMENT_EXCLUDED,
                (*ident, ("filter", e.filter), ("constraint", e.constraint)),
                len(e.nodes),
            )
            for e in view.placement.exclusions
        )
    if svc.update_state:
        out[UPDATE_STATE.name] = state_set(
            UPDATE_STATE, ident, "state", UPDATE_STATES, svc.update_state
        )
    return out
