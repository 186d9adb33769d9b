"""The services dashboard: convergence, tasks, failures, stuck tasks, reservations and
limits, task containers (restarts, OOM kills, health checks, crash loops), jobs and
updates."""

from __future__ import annotations

from grafana.builder import (
    CLUSTER,
    NODE,
    SVC,
    SVC_NODE,
    ZERO,
    Dashboard,
    color_override,
    column_override,
    increase_once,
    merge_organize,
    node_events,
    steps,
    value_map,
)
from grafana.config import Config, seconds, words
from grafana.recording_rules import (
    CONTAINER_EXITS,
    CONTAINER_STARTS,
    CONTAINER_UNHEALTHY,
    DESIRED,
    FAILED_EXITS,
    MISSING,
    RUNNING,
    TASK_FAILURES,
    crash_loop_exits,
)
from grafana.updates_panels import UPDATE_STATE_COLORS, add_update_panels, paused_count

PRE_RUNNING_STATES = "new|allocated|pending|assigned|accepted|preparing|ready|starting"


EXIT_REASON_COLORS = {
    "completed": "green",
    "nonzero_exit": "orange",
    "oom": "red",
    "healthcheck": "purple",
    "stopped": "blue",
}
EXIT_CODE_MAPPINGS = {
    "0": ("0", "green"),
    "137": ("137 (killed)", "red"),
    "143": ("143 (terminated)", "orange"),
}


SERVICE_KEY = "cluster, service_name, stack"


def per_service(metric: str, matcher: str = "") -> str:
    """A service's cluster series, once (every manager's instance reports it)."""
    matchers = f"{matcher}, {SVC}" if matcher else SVC
    return f"max by ({SERVICE_KEY}) ({metric}{{{matchers}}})"


def desired(matcher: str = SVC) -> str:
    return f"{DESIRED}{{{matcher}}}"


def running() -> str:
    return f"{RUNNING}{{{SVC}}}"


def failures(window: str, by: str = "service_name, stack") -> str:
    failed = increase_once(TASK_FAILURES, SVC, "service_name, stack, reason", window)
    return f"sum by (cluster, {by}) ({failed})"


def container_events(
    record: str, by: str, matcher: str = "", window: str = "$__rate_interval"
) -> str:
    """Task-container events on the selected services and nodes, summed by cluster and
    `by`."""
    matchers = f"{matcher}, {SVC_NODE}" if matcher else SVC_NODE
    return node_events(record, matchers, by, window)


def last_exit(metric: str) -> str:
    """A per-node gauge by service and node. One instance reports a node: max only drops
    `instance` (a sum of exit codes would mean nothing)."""
    return f"max by (cluster, service_name, stack, hostname) ({metric}{{{SVC_NODE}}})"


def completions(kind: str) -> str:
    """Jobs and one-shot services only: completions desired or succeeded."""
    return per_service(f"dockerswarm_service_completions_{kind}")


def services(config: Config) -> Dashboard:
    t = config.thresholds
    # The alerts SwarmTasksStuck* fire from there: red where they fire.
    stuck = seconds(t.stuck_tasks)
    d = Dashboard(
        uid="swarm-sentinel-services",
        title="Swarm Sentinel / Services",
        description=(
            "Docker Swarm services: convergence, tasks, failures, stuck tasks, task "
            "containers, jobs, updates."
        ),
    )
    stuck_age = (
        "time() - min by (cluster, service_name, stack, state, reason) "
        "(dockerswarm_service_task_state_since_timestamp_seconds"
        f'{{state=~"{PRE_RUNNING_STATES}", {SVC}}})'
    )
    bad = steps((None, "green"), (1, "red"))
    d.row("Summary")
    d.stat(
        "Services",
        "Services matching the filters.",
        [(f"count by (cluster) ({per_service('dockerswarm_service_info')})", "{{cluster}}")],
    )
    d.stat(
        "Not converged",
        "Services with fewer running than desired replicas.",
        [(f"count by (cluster) ({desired()} > {running()}) or {ZERO}", "{{cluster}}")],
        thresholds=steps((None, "green"), (1, "orange")),
    )
    d.stat(
        "Down",
        "Services that want replicas but run none.",
        [
            (
                f"count by (cluster) (({running()} == 0) and ({desired()} > 0)) or {ZERO}",
                "{{cluster}}",
            )
        ],
        thresholds=bad,
    )
    d.stat(
        f"Stuck > {t.stuck_tasks}",
        f"Services with a task in a pre-running state for more than {words(t.stuck_tasks)}.",
        [
            (
                f"count by (cluster) (max by ({SERVICE_KEY}) ({stuck_age}) > {stuck}) or {ZERO}",
                "{{cluster}}",
            )
        ],
        thresholds=bad,
    )
    d.stat(
        "Updates paused",
        "Services whose update or rollback is paused.",
        [(paused_count(), "{{cluster}}")],
        thresholds=bad,
    )
    d.stat(
        "Task failures (range)",
        "Failed tasks in the selected time range.",
        [
            (
                f"round(sum by (cluster) ({failures('$__range')})) or {ZERO}",
                "{{cluster}}",
            )
        ],
        thresholds=steps((None, "green"), (1, "orange")),
    )

    d.row("Replicas")
    d.timeseries(
        "Desired vs running replicas (total)",
        "Sum over the selected services.",
        [
            (f"sum by (cluster) ({desired()})", "desired {{cluster}}"),
            (f"sum by (cluster) ({running()})", "running {{cluster}}"),
        ],
        overrides=[color_override("desired", "blue"), color_override("running", "green")],
    )
    d.timeseries(
        "Missing replicas per service",
        "desired - running, only for services that are not converged.",
        [(f"{desired()} - {running()} > 0", "{{service_name}} {{cluster}}")],
        stack=True,
    )
    d.table(
        "Services not converged",
        "Services running fewer tasks than desired, with their failures in the time range.",
        [
            (f"{desired()} > {running()}", ""),
            (f"{running()} < {desired()}", ""),
            (
                f"round({failures('$__range')}) and on ({SERVICE_KEY}) {MISSING}{{{CLUSTER}}}",
                "",
            ),
        ],
        merge_organize(
            exclude=[],
            order=["cluster", "service_name", "stack", "Value #A", "Value #B", "Value #C"],
            rename={
                "cluster": "Cluster",
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
            (
                "max by (cluster, service_name, stack, mode, image) "
                f"(dockerswarm_service_info{{{SVC}}})",
                "",
            ),
            (desired(), ""),
            (running(), ""),
            (
                "max by (cluster, service_name, stack, state) "
                f"(dockerswarm_service_update_state{{{SVC}}}) == 1",
                "",
            ),
        ],
        merge_organize(
            exclude=["Value #A", "Value #D"],
            order=[
                "cluster",
                "service_name",
                "stack",
                "mode",
                "Value #B",
                "Value #C",
                "state",
                "image",
            ],
            rename={
                "cluster": "Cluster",
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
                "sum by (cluster, state) (max by (cluster, service_name, stack, state) "
                f"(dockerswarm_service_tasks{{{SVC}}}))",
                "{{state}} {{cluster}}",
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
        [(failures("$__rate_interval", "reason"), "{{reason}} {{cluster}}")],
        stack=True,
        bars=True,
    )
    d.timeseries(
        "Task failures by service",
        "Failed tasks per interval by service.",
        [(failures("$__rate_interval", "service_name"), "{{service_name}} {{cluster}}")],
        stack=True,
        bars=True,
    )
    d.timeseries(
        "Tasks per node (not running)",
        "Current tasks per node that are not running, by observed state: spots nodes "
        "where tasks are rejected, fail or hang.",
        [
            (
                "max by (cluster, hostname, state) "
                f'(dockerswarm_node_tasks{{state!="running", {NODE}}}) > 0',
                "{{hostname}} {{state}} {{cluster}}",
            )
        ],
        stack=True,
    )
    d.timeseries(
        "Time in pre-running state",
        "Age of the oldest task per service in pending / preparing / ... (why: reason).",
        [(stuck_age, "{{service_name}} {{state}} ({{reason}}) {{cluster}}")],
        unit="s",
    )
    d.table(
        "Stuck tasks",
        "Oldest task per service and pre-running state: how long and why "
        "(reason: no_suitable_node, insufficient_resources, max_replicas, image, mount, "
        "network, secret_config, ...).",
        [(stuck_age, "")],
        merge_organize(
            exclude=[],
            order=["cluster", "service_name", "stack", "state", "reason", "Value"],
            rename={
                "cluster": "Cluster",
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
                ("thresholds", steps((None, "green"), (60, "orange"), (stuck, "red"))),
                ("custom.cellOptions", {"type": "color-background"}),
            )
        ],
    )

    d.row("Reservations and limits")
    per_task = {
        kind: per_service(f"dockerswarm_service_{kind}")
        for kind in (
            "reservation_cpus",
            "reservation_memory_bytes",
            "limit_cpus",
            "limit_memory_bytes",
        )
    }
    # An unset reservation is 0 to the scheduler: every service has a row, and a total.
    reserved_total = {
        kind: f"({per_task[kind]} or 0 * {desired()}) * on ({SERVICE_KEY}) {desired(CLUSTER)}"
        for kind in ("reservation_cpus", "reservation_memory_bytes")
    }
    insufficient = (
        f"time() - min by ({SERVICE_KEY}) "
        "(dockerswarm_service_task_state_since_timestamp_seconds"
        f'{{state="pending", reason="insufficient_resources", {SVC}}})'
    )
    d.table(
        "Reservations and limits per task",
        "Every service: what each task reserves (the scheduler places it only on a ready, "
        "active node with that much left: the overview's \"Node capacity and "
        'reservations"; empty: none, counted as 0) and may use at most (empty: no limit), '
        "the desired tasks, what they reserve together, and for how long a task has been "
        "pending for insufficient resources (alert SwarmServiceInsufficientResources).",
        [
            (per_task["reservation_cpus"], ""),
            (per_task["reservation_memory_bytes"], ""),
            (per_task["limit_cpus"], ""),
            (per_task["limit_memory_bytes"], ""),
            (desired(), ""),
            (reserved_total["reservation_cpus"], ""),
            (reserved_total["reservation_memory_bytes"], ""),
            (insufficient, ""),
        ],
        merge_organize(
            exclude=[],
            order=[
                "cluster",
                "service_name",
                "stack",
                "Value #A",
                "Value #B",
                "Value #C",
                "Value #D",
                "Value #E",
                "Value #F",
                "Value #G",
                "Value #H",
            ],
            rename={
                "cluster": "Cluster",
                "service_name": "Service",
                "stack": "Stack",
                "Value #A": "CPUs reserved",
                "Value #B": "Memory reserved",
                "Value #C": "CPU limit",
                "Value #D": "Memory limit",
                "Value #E": "Desired",
                "Value #F": "CPUs reserved (all desired)",
                "Value #G": "Memory reserved (all desired)",
                "Value #H": "Pending, no resources, for",
            },
        ),
        h=8,
        sort_by="CPUs reserved (all desired)",
        overrides=[
            column_override(name, ("unit", "bytes"))
            for name in ("Memory reserved", "Memory limit", "Memory reserved (all desired)")
        ]
        + [
            column_override(
                "Pending, no resources, for",
                ("unit", "dtdurations"),
                ("thresholds", steps((None, "orange"), (stuck, "red"))),
                ("custom.cellOptions", {"type": "color-background"}),
            )
        ],
    )

    d.row("Task containers (summed over the selected nodes)")
    d.timeseries(
        "Container starts per service",
        "Task containers started per interval on the selected nodes: a crash loop starts "
        "them again and again.",
        [(container_events(CONTAINER_STARTS, "service_name"), "{{service_name}} {{cluster}}")],
        stack=True,
        bars=True,
    )
    d.timeseries(
        "Container exits per service (failures)",
        "Task containers that ended per interval with a non-zero exit, an OOM kill or a "
        "failed health check. A finished job or one-shot (exit 0) and a container the "
        "engine stopped (a deploy, a scale down, a drain) are not counted.",
        [
            (
                container_events(CONTAINER_EXITS, "service_name", FAILED_EXITS),
                "{{service_name}} {{cluster}}",
            )
        ],
        stack=True,
        bars=True,
    )
    d.timeseries(
        "OOM kills per service and node",
        "Task containers the kernel's OOM killer ended, per interval.",
        [
            (
                container_events(CONTAINER_EXITS, "service_name, hostname", 'reason="oom"'),
                "{{service_name}} on {{hostname}} {{cluster}}",
            )
        ],
        stack=True,
        bars=True,
    )
    d.timeseries(
        "Unhealthy health checks per service and node",
        "Health checks of task containers that turned unhealthy, per interval.",
        [
            (
                container_events(CONTAINER_UNHEALTHY, "service_name, hostname"),
                "{{service_name}} on {{hostname}} {{cluster}}",
            )
        ],
        stack=True,
        bars=True,
    )
    by_node = "service_name, stack, hostname"
    window = t.crash_loop_window
    # The rows: the nodes the crash-looping services' containers ended on (the record
    # counts the services as this table does).
    looping = f"{crash_loop_exits(config)}{{{CLUSTER}}}"
    on_crash_nodes = f"and on (cluster, {by_node}) {looping}"

    def crash_exits(matcher: str) -> str:
        exits = container_events(CONTAINER_EXITS, by_node, matcher, window)
        return f"round({exits}) > 0 {on_crash_nodes}"

    d.table(
        "Crash-looping services",
        f"Services whose task containers ended {t.dashboard_crash_loop_exits} or more times "
        f"in the last {window} other than with exit 0 (over all nodes), one row per node "
        "they ended on: exits by reason, and the last exit there. Completed exits (exit 0) "
        f"do not count. Alert SwarmServiceCrashLooping fires from {t.crash_loop_exits}.",
        [
            (f"round({crash_loop_exits(config)}{{{SVC_NODE}}})", ""),
            (crash_exits('reason="nonzero_exit"'), ""),
            (crash_exits('reason="oom"'), ""),
            (crash_exits('reason="healthcheck"'), ""),
            (f"{last_exit('dockerswarm_container_last_exit_code')} {on_crash_nodes}", ""),
            (
                f"{last_exit('dockerswarm_container_last_exit_timestamp_seconds')} * 1000 "
                f"{on_crash_nodes}",
                "",
            ),
        ],
        merge_organize(
            exclude=[],
            order=[
                "cluster",
                "service_name",
                "stack",
                "hostname",
                "Value #A",
                "Value #B",
                "Value #C",
                "Value #D",
                "Value #E",
                "Value #F",
            ],
            rename={
                "cluster": "Cluster",
                "service_name": "Service",
                "stack": "Stack",
                "hostname": "Node",
                "Value #A": f"Exits ({window})",
                "Value #B": "Non-zero exit",
                "Value #C": "OOM",
                "Value #D": "Health check",
                "Value #E": "Last exit code",
                "Value #F": "Last exit",
            },
        ),
        h=8,
        sort_by=f"Exits ({window})",
        overrides=[
            column_override(
                f"Exits ({window})",
                ("custom.cellOptions", {"type": "color-background"}),
                ("color", {"mode": "fixed", "fixedColor": "red"}),
            ),
            column_override(
                "Last exit code",
                ("mappings", [value_map(EXIT_CODE_MAPPINGS)]),
                ("thresholds", steps((None, "green"), (1, "red"))),
                ("custom.cellOptions", {"type": "color-text"}),
            ),
            column_override("Last exit", ("unit", "dateTimeAsIso")),
        ],
    )
    d.table(
        "Last exit per service and node",
        "The exit code of each service's task container that ended last on each node, and when.",
        [
            (last_exit("dockerswarm_container_last_exit_code"), ""),
            (f"{last_exit('dockerswarm_container_last_exit_timestamp_seconds')} * 1000", ""),
        ],
        merge_organize(
            exclude=[],
            order=["cluster", "service_name", "stack", "hostname", "Value #A", "Value #B"],
            rename={
                "cluster": "Cluster",
                "service_name": "Service",
                "stack": "Stack",
                "hostname": "Node",
                "Value #A": "Exit code",
                "Value #B": "Ended",
            },
        ),
        w=12,
        h=8,
        sort_by="Ended",
        overrides=[
            column_override(
                "Exit code",
                ("mappings", [value_map(EXIT_CODE_MAPPINGS)]),
                ("thresholds", steps((None, "green"), (1, "red"))),
                ("custom.cellOptions", {"type": "color-text"}),
            ),
            column_override("Ended", ("unit", "dateTimeAsIso")),
        ],
    )
    d.timeseries(
        "Container exits by reason",
        "Task containers that ended per interval, by why: completed (exit 0), "
        "nonzero_exit, oom, healthcheck, stopped (by the engine: a deploy, not a failure).",
        [(container_events(CONTAINER_EXITS, "reason"), "{{reason}} {{cluster}}")],
        stack=True,
        bars=True,
        overrides=[color_override(k, c) for k, c in EXIT_REASON_COLORS.items()],
    )

    d.row("Jobs and one-shots")
    d.table(
        "Completions",
        "Jobs (replicated-job, global-job) and one-shot services (restart condition none or "
        "on-failure): tasks to run to completion, those that completed, and the work still "
        "to run (desired replicas: 0 once finished).",
        [
            (
                f"max by ({SERVICE_KEY}, mode) (dockerswarm_service_info{{{SVC}}}) "
                f"and on ({SERVICE_KEY}) {completions('desired')}",
                "",
            ),
            (completions("desired"), ""),
            (completions("succeeded"), ""),
            (
                # Not clamped: above 100 % the engine ran a replicated job past its
                # completions (SwarmJobOverran).
                f"{completions('succeeded')} / ({completions('desired')} > 0)",
                "",
            ),
            (f"{desired()} and on ({SERVICE_KEY}) {completions('desired')}", ""),
            (f"{running()} and on ({SERVICE_KEY}) {completions('desired')}", ""),
        ],
        merge_organize(
            exclude=["Value #A"],
            order=[
                "cluster",
                "service_name",
                "stack",
                "mode",
                "Value #B",
                "Value #C",
                "Value #D",
                "Value #E",
                "Value #F",
            ],
            rename={
                "cluster": "Cluster",
                "service_name": "Service",
                "stack": "Stack",
                "mode": "Mode",
                "Value #B": "Completions desired",
                "Value #C": "Succeeded",
                "Value #D": "Done",
                "Value #E": "Still to run",
                "Value #F": "Running",
            },
        ),
        w=12,
        h=8,
        overrides=[
            column_override(
                "Done",
                ("unit", "percentunit"),
                ("thresholds", steps((None, "blue"), (1, "green"), (1.0001, "orange"))),
                ("custom.cellOptions", {"type": "color-text"}),
            )
        ],
    )
    d.timeseries(
        "Completions: desired vs succeeded",
        "Per job or one-shot service: tasks to run to completion and those that completed.",
        [
            (completions("desired"), "{{service_name}} desired {{cluster}}"),
            (completions("succeeded"), "{{service_name}} succeeded {{cluster}}"),
        ],
    )

    add_update_panels(d)
    return d
