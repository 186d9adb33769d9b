"""Service families: one service's facts, desired and running tasks, update state,
placement, as generators of the service kind (``exporter.metrics.kind``); its tasks'
families are in ``exporter.metrics.tasks``."""

from __future__ import annotations

from collections.abc import Iterable

from exporter.metrics.kind import Generator, Sample, one, state_set
from exporter.metrics.labels import Allowlist
from exporter.metrics.text import Family
from exporter.types import UPDATE_STATES, Labels
from exporter.views import JOB_STATES, ServiceView

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
JOB_STATE = Family(
    "dockerswarm_service_job_state",
    "gauge",
    "Jobs and one-shot services, as a state set: active (a task runs or is to run), "
    "succeeded (its completions done), failed (nothing more runs, completions short, the "
    "last task to end failed).",
    (*_S, "state"),
)
LAST_SUCCESS = Family(
    "dockerswarm_service_last_success_timestamp_seconds",
    "gauge",
    "Jobs and one-shot services: when a task of it last completed (exit 0), of those the "
    "engine still holds; absent until one did.",
    _S,
)
NETWORK_INFO = Family(
    "dockerswarm_service_network_info",
    "gauge",
    "1 per network the service's tasks attach to (its networks, and ingress when it "
    "publishes a port); join on network_id with dockerswarm_network_addresses.",
    (*_S, "network_id"),
)


def service_ident(name: str, stack: str) -> Labels:
    """The labels that name a service in every family of a service: its own, its
    tasks', its containers', the healer's."""
    return (("service_name", name), ("stack", stack))


def _resource(value: float) -> float | None:
    return value or None


def _placement_excluded(v: ServiceView) -> Iterable[Sample]:
    if v.placement is None:
        return ()
    return (
        ((("filter", e.filter), ("constraint", e.constraint)), len(e.nodes))
        for e in v.placement.exclusions
    )


def service_generators(labels: Allowlist) -> tuple[Generator[ServiceView], ...]:
    """``labels``: which of a service's labels to export."""

    def exported(v: ServiceView) -> Iterable[Sample]:
        chosen = labels.select(v.service.labels)
        return ((chosen, 1),) if chosen else ()

    return (
        Generator(
            INFO,
            lambda v: (((("mode", v.service.mode), ("image", v.service.image)), 1),),
            lead=lambda v: (("service_id", v.service.id),),
        ),
        Generator(DESIRED, one(lambda v: v.desired)),
        Generator(RUNNING, one(lambda v: v.running)),
        Generator(
            UPDATE_STATE,
            lambda v: (
                state_set("state", UPDATE_STATES, v.service.update_state)
                if v.service.update_state
                else ()
            ),
        ),
        Generator(COMPLETIONS_DESIRED, one(lambda v: v.completions_desired)),
        Generator(COMPLETIONS_SUCCEEDED, one(lambda v: v.completions_succeeded)),
        Generator(LABELS, exported),
        Generator(RESERVATION_CPUS, one(lambda v: _resource(v.service.reservation.cpus))),
        Generator(RESERVATION_MEMORY, one(lambda v: _resource(v.service.reservation.memory_bytes))),
        Generator(LIMIT_CPUS, one(lambda v: _resource(v.service.limit.cpus))),
        Generator(LIMIT_MEMORY, one(lambda v: _resource(v.service.limit.memory_bytes))),
        Generator(
            PLACEMENT_FIT,
            one(lambda v: len(v.placement.fit) if v.placement is not None else None),
        ),
        Generator(PLACEMENT_EXCLUDED, _placement_excluded),
        Generator(
            JOB_STATE,
            lambda v: state_set("state", JOB_STATES, v.job_state) if v.job_state else (),
        ),
        Generator(LAST_SUCCESS, one(lambda v: round(v.last_success, 3) or None)),
        Generator(NETWORK_INFO, lambda v: (((("network_id", n),), 1) for n in v.service.networks)),
    )


def view_ident(v: ServiceView) -> Labels:
    return service_ident(v.service.name, v.service.stack)
