"""The services dashboard: convergence, tasks, failures, stuck tasks and updates."""

from __future__ import annotations

from grafana.builder import (
    NODE,
    SVC,
    Dashboard,
    color_override,
    color_overrides,
    column_override,
    increase_once,
    merge_organize,
    steps,
    value_map,
)

PRE_RUNNING_STATES = "new|allocated|pending|assigned|accepted|preparing|ready|starting"

UPDATE_STATE_COLORS = {
    "updating": ("updating", "blue"),
    "paused": ("paused", "red"),
    "completed": ("completed", "green"),
    "rollback_started": ("rollback started", "orange"),
    "rollback_paused": ("rollback paused", "red"),
    "rollback_completed": ("rollback completed", "yellow"),
}


def desired(by: str = "service_name, stack") -> str:
    return f"max by ({by}) (dockerswarm_service_replicas_desired{{{SVC}}})"


def running(by: str = "service_name, stack") -> str:
    return f"max by ({by}) (dockerswarm_service_replicas_running{{{SVC}}})"


def failures(window: str, by: str = "service_name, stack") -> str:
    failed = increase_once(
        "dockerswarm_service_task_failures_total", SVC, "service_name, stack, reason", window
    )
    return f"sum by ({by}) ({failed})"


def services() -> Dashboard:
    d = Dashboard(
        uid="swarm-sentinel-services",
        title="Swarm Sentinel / Services",
        description="Docker Swarm services: convergence, tasks, failures, stuck tasks, updates.",
    )
    stuck_age = (
        "time() - min by (service_name, stack, state, reason) "
        "(dockerswarm_service_task_state_since_timestamp_seconds"
        f'{{state=~"{PRE_RUNNING_STATES}", {SVC}}})'
    )
    bad = steps((None, "green"), (1, "red"))
    d.row("Summary")
    d.stat(
        "Services",
        "Services matching the filters.",
        [(f"count(max by (service_name, stack) (dockerswarm_service_info{{{SVC}}}))", "")],
    )
    d.stat(
        "Not converged",
        "Services with fewer running than desired replicas.",
        [(f"count({desired()} > {running()}) or vector(0)", "")],
        thresholds=steps((None, "green"), (1, "orange")),
    )
    d.stat(
        "Down",
        "Services that want replicas but run none.",
        [(f"count(({running()} == 0) and ({desired()} > 0)) or vector(0)", "")],
        thresholds=bad,
    )
    d.stat(
        "Stuck > 5m",
        "Services with a task in a pre-running state for more than 5 minutes.",
        [(f"count(max by (service_name, stack) ({stuck_age}) > 300) or vector(0)", "")],
        thresholds=bad,
    )
    d.stat(
        "Updates paused",
        "Services whose update or rollback is paused.",
        [
            (
                "count(max by (service_name, stack) (dockerswarm_service_update_state"
                f'{{state=~"paused|rollback_paused", {SVC}}}) == 1) or vector(0)',
                "",
            )
        ],
        thresholds=bad,
    )
    d.stat(
        "Task failures (range)",
        "Failed tasks in the selected time range.",
        [(f"round(sum({failures('$__range')})) or vector(0)", "")],
        thresholds=steps((None, "green"), (1, "orange")),
    )

    d.row("Replicas")
    d.timeseries(
        "Desired vs running replicas (total)",
        "Sum over the selected services.",
        [(f"sum({desired()})", "desired"), (f"sum({running()})", "running")],
        overrides=[color_override("desired", "blue"), color_override("running", "green")],
    )
    d.timeseries(
        "Missing replicas per service",
        "desired - running, only for services that are not converged.",
        [(f"{desired()} - {running()} > 0", "{{service_name}}")],
        stack=True,
    )
    d.table(
        "Services not converged",
        "Services running fewer tasks than desired, with their failures in the time range.",
        [
            (f"{desired()} > {running()}", ""),
            (f"{running()} < {desired()}", ""),
            (
                f"round({failures('$__range')}) "
                f"and on (service_name, stack) ({desired()} > {running()})",
                "",
            ),
        ],
        merge_organize(
            exclude=[],
            order=["service_name", "stack", "Value #A", "Value #B", "Value #C"],
            rename={
                "service_name": "Service",
                "stack": "Stack",
                "Value #A": "Desired",
                "Value #B": "Running",
                "Value #C": "Failures (range)",
            },
        ),
        w=12,
        h=8,
        overrides=[
            column_override(
                "Running",
                ("custom.cellOptions", {"type": "color-background"}),
                ("color", {"mode": "fixed", "fixedColor": "orange"}),
            )
        ],
    )
    d.table(
        "Services",
        "All selected services with mode, image, replicas and the last update state.",
        [
            (f"max by (service_name, stack, mode, image) (dockerswarm_service_info{{{SVC}}})", ""),
            (desired(), ""),
            (running(), ""),
            (
                "max by (service_name, stack, state) "
                f"(dockerswarm_service_update_state{{{SVC}}}) == 1",
                "",
            ),
        ],
        merge_organize(
            exclude=["Value #A", "Value #D"],
            order=["service_name", "stack", "mode", "Value #B", "Value #C", "state", "image"],
            rename={
                "service_name": "Service",
                "stack": "Stack",
                "mode": "Mode",
                "Value #B": "Desired",
                "Value #C": "Running",
                "state": "Update",
                "image": "Image",
            },
        ),
        w=12,
        h=8,
        overrides=[
            column_override(
                "Update",
                ("mappings", [value_map(UPDATE_STATE_COLORS)]),
                ("custom.cellOptions", {"type": "color-text"}),
            )
        ],
    )

    d.row("Tasks")
    d.timeseries(
        "Task states",
        "Latest task per slot by observed state.",
        [
            (
                "sum by (state) (max by (service_name, stack, state) "
                f"(dockerswarm_service_tasks{{{SVC}}}))",
                "{{state}}",
            )
        ],
        stack=True,
        overrides=[
            color_override("running", "green"),
            color_override("failed", "red"),
            color_override("rejected", "dark-red"),
            color_override("pending", "orange"),
            color_override("preparing", "yellow"),
        ],
    )
    d.timeseries(
        "Task failures by reason",
        "Failed tasks per interval by classified reason.",
        [(failures("$__rate_interval", "reason"), "{{reason}}")],
        stack=True,
        bars=True,
    )
    d.timeseries(
        "Task failures by service",
        "Failed tasks per interval by service.",
        [(failures("$__rate_interval", "service_name"), "{{service_name}}")],
        stack=True,
        bars=True,
    )
    d.timeseries(
        "Tasks per node (not running)",
        "Current tasks per node that are not running, by observed state: spots nodes "
        "where tasks are rejected, fail or hang.",
        [
            (
                "max by (hostname, state) "
                f'(dockerswarm_node_tasks{{state!="running", {NODE}}}) > 0',
                "{{hostname}} {{state}}",
            )
        ],
        stack=True,
    )
    d.timeseries(
        "Time in pre-running state",
        "Age of the oldest task per service in pending / preparing / ... (why: reason).",
        [(stuck_age, "{{service_name}} {{state}} ({{reason}})")],
        unit="s",
    )
    d.table(
        "Stuck tasks",
        "Oldest task per service and pre-running state: how long and why "
        "(reason: no_suitable_node, insufficient_resources, image, ...).",
        [(stuck_age, "")],
        merge_organize(
            exclude=[],
            order=["service_name", "stack", "state", "reason", "Value"],
            rename={
                "service_name": "Service",
                "stack": "Stack",
                "state": "State",
                "reason": "Reason",
                "Value": "In state for",
            },
        ),
        w=12,
        h=8,
        sort_by="In state for",
        overrides=[
            column_override(
                "In state for",
                ("unit", "dtdurations"),
                ("thresholds", steps((None, "green"), (60, "orange"), (300, "red"))),
                ("custom.cellOptions", {"type": "color-background"}),
            )
        ],
    )

    d.row("Updates")
    d.timeseries(
        "Services by update state",
        "Number of services per update / rollback state.",
        [
            (
                "sum by (state) (max by (service_name, stack, state) "
                f"(dockerswarm_service_update_state{{{SVC}}}))",
                "{{state}}",
            )
        ],
        stack=True,
        overrides=color_overrides(UPDATE_STATE_COLORS),
    )
    d.table(
        "Update state per service",
        "Current update state of services that have been updated.",
        [
            (
                "max by (service_name, stack, state) "
                f"(dockerswarm_service_update_state{{{SVC}}}) == 1",
                "",
            )
        ],
        merge_organize(
            exclude=["Value"],
            order=["service_name", "stack", "state"],
            rename={"service_name": "Service", "stack": "Stack", "state": "Update state"},
        ),
        w=12,
        h=8,
        overrides=[
            column_override(
                "Update state",
                ("mappings", [value_map(UPDATE_STATE_COLORS)]),
                ("custom.cellOptions", {"type": "color-background"}),
            )
        ],
    )
    return d
