"""Service families: one service's facts, desired and running tasks, update state,
placement, as generators of the service kind (``exporter.metrics.kind``); its tasks'
families are in ``exporter.metrics.tasks``."""

from __future__ import annotations

from collections.abc import Iterable

from common.text import one_line
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
UPDATED = Family(
    "dockerswarm_service_replicas_updated",
    "gauge",
    "Of the tasks observed running, those on the service's current spec (their spec "
    "equals its TaskTemplate, placement aside): a rolling update's or a rollback's progress.",
    _S,
)
UPDATE_STARTED = Family(
    "dockerswarm_service_update_started_timestamp_seconds",
    "gauge",
    "When the service's last update (or rollback) started; absent for a service never updated.",
    _S,
)
UPDATE_COMPLETED = Family(
    "dockerswarm_service_update_completed_timestamp_seconds",
    "gauge",
    "When the service's last update (or rollback) completed; absent while none has.",
    _S,
)
UPDATE_INFO = Family(
    "dockerswarm_service_update_info",
    "gauge",
    "The engine's message on the service's update (UpdateStatus.Message, at most 200 "
    "characters); always 1, absent for a service never updated.",
    (*_S, "message"),
)
UPDATE_CONFIG = Family(
    "dockerswarm_service_update_config_info",
    "gauge",
    "How the engine rolls the service's tasks over: the update's failure action and order, "
    "and the rollback's failure action (the engine's defaults where unset); always 1.",
    (*_S, "failure_action", "order", "rollback_failure_action"),
)
UPDATE_MONITOR = Family(
    "dockerswarm_service_update_monitor_seconds",
    "gauge",
    "How long the engine watches each updated task for a failure (UpdateConfig.Monitor, "
    "the engine's 5s where unset).",
    _S,
)
UPDATE_DELAY = Family(
    "dockerswarm_service_update_delay_seconds",
    "gauge",
    "The wait between two batches of an update (UpdateConfig.Delay).",
    _S,
)
UPDATE_MESSAGE_MAX = 200
"""Characters of an update's message in its info series at most: the engine's are under
a hundred, and a label is no place for more."""
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


def _update_info(v: ServiceView) -> Iterable[Sample]:
    if not v.service.update_state:
        return ()
    return (((("message", one_line(v.service.update_message, UPDATE_MESSAGE_MAX)),), 1),)


def _update_config(v: ServiceView) -> Iterable[Sample]:
    update, rollback = v.service.update_config, v.service.rollback_config
    return (
        (
            (
                ("failure_action", update.failure_action),
                ("order", update.order),
                ("rollback_failure_action", rollback.failure_action),
            ),
            1,
        ),
    )


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
        Generator(UPDATED, one(lambda v: v.updated)),
        Generator(UPDATE_STARTED, one(lambda v: v.service.update_started_at or None)),
        Generator(UPDATE_COMPLETED, one(lambda v: v.service.update_completed_at or None)),
        Generator(UPDATE_INFO, _update_info),
        Generator(UPDATE_CONFIG, _update_config),
        Generator(UPDATE_MONITOR, one(lambda v: v.service.update_config.monitor)),
        Generator(UPDATE_DELAY, one(lambda v: v.service.update_config.delay)),
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
