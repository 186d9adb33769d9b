"""The overview dashboard: Raft quorum, nodes, task containers, Docker events and exporter
health."""

from __future__ import annotations

from grafana.builder import (
    JOB,
    NODE,
    Dashboard,
    color_override,
    color_overrides,
    column_override,
    merge_organize,
    node_events,
    range_map,
    steps,
    value_map,
)

STATE_COLORS = {
    "ready": ("ready", "green"),
    "down": ("down", "red"),
    "disconnected": ("disconnected", "orange"),
    "unknown": ("unknown", "text"),
    "active": ("active", "green"),
    "pause": ("pause", "orange"),
    "drain": ("drain", "blue"),
    "reachable": ("reachable", "green"),
    "unreachable": ("unreachable", "red"),
}


def overview() -> Dashboard:
    d = Dashboard(
        uid="swarm-sentinel-overview",
        title="Swarm Sentinel / Overview",
        description=(
            "Docker Swarm quorum, nodes, task containers and exporter health (swarm-sentinel)."
        ),
    )
    quorum_thresholds = steps((None, "red"), (0, "orange"), (1, "green"))
    d.row("Quorum")
    d.stat(
        "Has leader",
        "0 means the managers lost Raft quorum.",
        [("max(dockerswarm_cluster_has_leader)", "")],
        w=3,
        mappings=[value_map({"1": ("yes", "green"), "0": ("QUORUM LOST", "red")})],
        color_mode="background",
        no_value="n/a",
    )
    d.stat(
        "Leader",
        "Hostname of the current Raft leader.",
        [("max by (hostname) (dockerswarm_node_leader) == 1", "{{hostname}}")],
        w=4,
        text_mode="name",
        no_value="no leader",
    )
    d.stat(
        "Managers reachable / needed",
        "Reachable managers vs. the Raft quorum floor(N/2)+1, and the number of managers.",
        [
            ("max(dockerswarm_managers_reachable)", "reachable"),
            ("max(dockerswarm_manager_quorum)", "quorum"),
            ("max(dockerswarm_managers)", "managers"),
        ],
        w=7,
        text_mode="value_and_name",
    )
    d.stat(
        "Failures tolerated now",
        "How many more managers may fail before quorum is lost (reachable - quorum).",
        [
            (
                "max(dockerswarm_managers_reachable) - max(dockerswarm_manager_quorum)",
                "",
            )
        ],
        w=5,
        thresholds=quorum_thresholds,
        mappings=[range_map(-1000, -1, "QUORUM LOST", "red")],
        color_mode="background",
        no_value="n/a",
    )
    d.stat(
        "Fault tolerance (design)",
        "floor((N-1)/2): failures the manager count tolerates when all are healthy.",
        [("max(dockerswarm_manager_fault_tolerance)", "")],
        w=5,
        thresholds=quorum_thresholds,
        no_value="n/a",
    )
    d.timeseries(
        "Managers reachable vs quorum",
        "Quorum is lost when reachable drops below the quorum line.",
        [
            ("max(dockerswarm_managers_reachable)", "reachable"),
            ("max(dockerswarm_manager_quorum)", "quorum"),
            ("max(dockerswarm_managers)", "managers"),
        ],
        w=12,
        overrides=[color_override("reachable", "green"), color_override("quorum", "red")],
    )
    d.timeseries(
        "Exporters",
        "Scraped exporters (up) and exporters whose last refresh succeeded (dockerswarm_up).",
        [
            (f"sum(up{{{JOB}}})", "scraped"),
            ("sum(dockerswarm_up)", "refreshing"),
            ("count(dockerswarm_up)", "instances"),
        ],
        w=12,
    )

    d.row("Nodes")
    node_state_overrides = color_overrides(STATE_COLORS)
    d.stat(
        "Nodes by state",
        "Number of nodes per state.",
        [
            (
                f"sum by (state) (max by (node_id, state) (dockerswarm_node_state{{{NODE}}}))",
                "{{state}}",
            )
        ],
        w=8,
        text_mode="value_and_name",
        color_mode="background",
        overrides=node_state_overrides,
    )
    d.stat(
        "Nodes by availability",
        "Number of nodes per availability (active, pause, drain).",
        [
            (
                "sum by (availability) (max by (node_id, availability) "
                f"(dockerswarm_node_availability{{{NODE}}}))",
                "{{availability}}",
            )
        ],
        w=8,
        text_mode="value_and_name",
        color_mode="background",
        overrides=node_state_overrides,
    )
    d.stat(
        "Managers by reachability",
        "Raft reachability of the managers.",
        [
            (
                "sum by (reachability) (max by (node_id, reachability) "
                f"(dockerswarm_node_manager_reachability{{{NODE}}}))",
                "{{reachability}}",
            )
        ],
        w=8,
        text_mode="value_and_name",
        color_mode="background",
        overrides=node_state_overrides,
    )
    d.table(
        "Nodes",
        "One row per node. Leader: 1 = Raft leader.",
        [
            (
                "max by (node_id, hostname, role, engine_version, address) "
                f"(dockerswarm_node_info{{{NODE}}})",
                "",
            ),
            (f"max by (node_id, state) (dockerswarm_node_state{{{NODE}}}) == 1", ""),
            (
                f"max by (node_id, availability) (dockerswarm_node_availability{{{NODE}}}) == 1",
                "",
            ),
            (
                "max by (node_id, reachability) "
                f"(dockerswarm_node_manager_reachability{{{NODE}}}) == 1",
                "",
            ),
            (f"max by (node_id) (dockerswarm_node_leader{{{NODE}}})", ""),
            (
                f'max by (node_id) (dockerswarm_node_tasks{{state="running", {NODE}}})',
                "",
            ),
        ],
        merge_organize(
            exclude=["Value #A", "Value #B", "Value #C", "Value #D"],
            order=[
                "hostname",
                "role",
                "state",
                "availability",
                "reachability",
                "Value #E",
                "engine_version",
                "address",
                "Value #F",
                "node_id",
            ],
            rename={
                "hostname": "Hostname",
                "role": "Role",
                "state": "State",
                "availability": "Availability",
                "reachability": "Reachability",
                "Value #E": "Leader",
                "engine_version": "Engine",
                "address": "Address",
                "Value #F": "Running tasks",
                "node_id": "Node ID",
            },
        ),
        overrides=[
            column_override(
                name,
                ("mappings", [value_map(STATE_COLORS)]),
                ("custom.cellOptions", {"type": "color-text"}),
            )
            for name in ("State", "Availability", "Reachability")
        ]
        + [
            column_override(
                "Leader",
                ("mappings", [value_map({"1": ("leader", "green"), "0": ("", "text")})]),
                ("custom.cellOptions", {"type": "color-text"}),
            )
        ],
    )
    d.timeseries(
        "Node states over time",
        "Nodes per state.",
        [
            (
                f"sum by (state) (max by (node_id, state) (dockerswarm_node_state{{{NODE}}}))",
                "{{state}}",
            )
        ],
        stack=True,
        overrides=node_state_overrides,
    )
    d.timeseries(
        "Running tasks per node",
        "Current tasks in state running per node.",
        [
            (
                f'max by (hostname) (dockerswarm_node_tasks{{state="running", {NODE}}})',
                "{{hostname}}",
            )
        ],
        stack=True,
    )

    d.row("Task containers")
    exits = "dockerswarm_container_exits_total"
    by_node = "service_name, stack, hostname"
    oom_killed = node_events(exits, f'reason="oom", {NODE}', by_node, "1h", "3600")
    exits_10m = node_events(
        exits, f'reason!="completed", {NODE}', "service_name, stack", "10m", "600"
    )
    unhealthy = node_events("dockerswarm_container_unhealthy_total", NODE, by_node, "1h", "3600")
    d.stat(
        "OOM-killed containers (1h)",
        "Task containers the kernel's OOM killer ended in the last hour, on the selected "
        "nodes (alert SwarmContainerOOMKilled).",
        [(f"round(sum({oom_killed})) or vector(0)", "")],
        w=8,
        thresholds=steps((None, "green"), (1, "red")),
        color_mode="background",
    )
    d.stat(
        "Crash-looping services (1h)",
        "Services whose task containers ended 3 or more times within 10 minutes other than "
        "with exit 0, at any time in the last hour (alert SwarmServiceCrashLooping fires "
        "from 5). The services dashboard lists them.",
        [
            (
                "count(max by (service_name, stack) "
                f"(max_over_time(({exits_10m} >= 3)[1h:1m]))) or vector(0)",
                "",
            )
        ],
        w=8,
        thresholds=steps((None, "green"), (1, "red")),
        color_mode="background",
    )
    d.stat(
        "Unhealthy health checks (1h)",
        "Health checks of task containers that turned unhealthy in the last hour "
        "(alert SwarmContainerUnhealthy).",
        [(f"round(sum({unhealthy})) or vector(0)", "")],
        w=8,
        thresholds=steps((None, "green"), (1, "orange")),
        color_mode="background",
    )

    d.row("Events and exporter")
    d.timeseries(
        "Docker events by type",
        "Rate of Docker events seen by the exporters (max over instances, they see the "
        "same cluster events).",
        [
            (
                "max by (event_type) (rate(dockerswarm_exporter_events_total[$__rate_interval]))",
                "{{event_type}}",
            )
        ],
        w=12,
        unit="short",
        axis_label="events/s",
        stack=True,
    )
    d.timeseries(
        "Engine API requests and errors per exporter",
        "Docker API calls per second by instance, errors and event stream reconnects.",
        [
            (
                "sum by (instance) "
                "(rate(dockerswarm_exporter_api_requests_total[$__rate_interval]))",
                "{{instance}} requests",
            ),
            (
                "sum by (instance) (rate(dockerswarm_exporter_api_errors_total[$__rate_interval]))",
                "{{instance}} errors",
            ),
            (
                "sum by (instance, stream) "
                "(increase(dockerswarm_exporter_stream_reconnects_total[$__rate_interval]))",
                "{{instance}} {{stream}} stream reconnects",
            ),
        ],
        w=12,
        axis_label="per second / reconnects",
    )
    d.timeseries(
        "Seconds since last successful refresh",
        "Per exporter instance; alert SwarmExporterStale fires above 120s.",
        [
            (
                "time() - max by (instance) (dockerswarm_last_refresh_timestamp_seconds)",
                "{{instance}}",
            )
        ],
        w=24,
        h=6,
        unit="s",
    )
    d.table(
        "Exporter instances",
        "Every instance: its engine's role (a worker's instance reports its own node's "
        "containers only), whether its engine answers, whether the stream of its node's "
        "task-container events is open, and how often that stream was lost in the range.",
        [
            ("max by (instance, role) (dockerswarm_exporter_role == 1)", ""),
            ("max by (instance) (dockerswarm_up)", ""),
            ("max by (instance) (dockerswarm_exporter_container_stream_up)", ""),
            (
                "round(sum by (instance) (increase(dockerswarm_exporter_stream_reconnects_total"
                '{stream="containers"}[$__range])))',
                "",
            ),
        ],
        merge_organize(
            exclude=["Value #A"],
            order=["instance", "role", "Value #B", "Value #C", "Value #D"],
            rename={
                "instance": "Instance",
                "role": "Role",
                "Value #B": "Engine",
                "Value #C": "Container stream",
                "Value #D": "Container stream lost (range)",
            },
        ),
        w=12,
        h=8,
        overrides=[
            column_override(
                "Engine",
                ("mappings", [value_map({"1": ("up", "green"), "0": ("DOWN", "red")})]),
                ("custom.cellOptions", {"type": "color-text"}),
            ),
            column_override(
                "Container stream",
                ("mappings", [value_map({"1": ("open", "green"), "0": ("CLOSED", "red")})]),
                ("custom.cellOptions", {"type": "color-text"}),
            ),
        ],
    )
    d.timeseries(
        "Container event streams",
        "Instances by role, and those whose stream of their node's task-container events "
        "is open: a closed stream misses its node's exits, OOM kills and health checks.",
        [
            (
                "count by (role) (max by (instance, role) (dockerswarm_exporter_role == 1))",
                "{{role}} instances",
            ),
            ("sum(max by (instance) (dockerswarm_exporter_container_stream_up))", "streams open"),
        ],
        w=12,
        h=8,
    )
    return d
