"""The overview dashboard: Raft quorum, nodes, capacity and reservations, task containers,
Docker events and exporter health."""

from __future__ import annotations

from grafana.builder import (
    NODE,
    OURS,
    ZERO,
    Dashboard,
    color_override,
    color_overrides,
    column_override,
    merge_organize,
    node_events,
    range_map,
    sel,
    steps,
    value_map,
)
from grafana.config import Config, seconds, words
from grafana.recording_rules import (
    CONTAINER_EXITS,
    CONTAINER_UNHEALTHY,
    crash_loop_exits,
    on_schedulable,
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

NODE_KEY = "cluster, node_id, hostname"


def per_node(metric: str) -> str:
    """A node's cluster series, once (every manager's instance reports it)."""
    return f"max by ({NODE_KEY}) ({metric}{{{NODE}}})"


def schedulable(kind: str) -> str:
    """A node's `kind` (NODE_KINDS) on the ready, active nodes only: where the scheduler
    places tasks."""
    return f"{on_schedulable(kind)}{{{NODE}}}"


def free(kind: str) -> str:
    """What a node has left for new reservations: capacity - reserved (cpus, memory_bytes)."""
    capacity = per_node(f"dockerswarm_node_{kind}")
    reserved = per_node(f"dockerswarm_node_reserved_{kind}")
    return f"({capacity} - {reserved})"


def reserved_share(kind: str) -> str:
    """The share of a node's capacity its tasks reserve."""
    return (
        f"{per_node(f'dockerswarm_node_reserved_{kind}')} "
        f"/ ({per_node(f'dockerswarm_node_{kind}')} > 0)"
    )


def overview(config: Config) -> Dashboard:
    d = Dashboard(
        uid="swarm-sentinel-overview",
        title="Swarm Sentinel / Overview",
        description=(
            "Docker Swarm quorum, nodes, capacity, task containers and exporter health "
            "(swarm-sentinel)."
        ),
    )
    quorum_thresholds = steps((None, "red"), (0, "orange"), (1, "green"))

    def cluster_max(metric: str) -> str:
        return f"max by (cluster) ({sel(metric)})"

    reachable = cluster_max("dockerswarm_managers_reachable")
    quorum = cluster_max("dockerswarm_manager_quorum")
    managers = cluster_max("dockerswarm_managers")
    d.row("Quorum")
    d.stat(
        "Has leader",
        "0 means the managers lost Raft quorum.",
        [(cluster_max("dockerswarm_cluster_has_leader"), "{{cluster}}")],
        w=3,
        mappings=[value_map({"1": ("yes", "green"), "0": ("QUORUM LOST", "red")})],
        color_mode="background",
        no_value="n/a",
    )
    d.stat(
        "Leader",
        "Hostname of the current Raft leader.",
        [
            (
                f"max by (cluster, hostname) ({sel('dockerswarm_node_leader')}) == 1",
                "{{hostname}} {{cluster}}",
            )
        ],
        w=4,
        text_mode="name",
        no_value="no leader",
    )
    d.stat(
        "Managers reachable / needed",
        "Reachable managers vs. the Raft quorum floor(N/2)+1, and the number of managers.",
        [
            (reachable, "reachable {{cluster}}"),
            (quorum, "quorum {{cluster}}"),
            (managers, "managers {{cluster}}"),
        ],
        w=7,
        text_mode="value_and_name",
    )
    d.stat(
        "Failures tolerated now",
        "How many more managers may fail before quorum is lost (reachable - quorum).",
        [(f"{reachable} - {quorum}", "{{cluster}}")],
        w=5,
        thresholds=quorum_thresholds,
        mappings=[range_map(-1000, -1, "QUORUM LOST", "red")],
        color_mode="background",
        no_value="n/a",
    )
    d.stat(
        "Fault tolerance (design)",
        "floor((N-1)/2): failures the manager count tolerates when all are healthy.",
        [(cluster_max("dockerswarm_manager_fault_tolerance"), "{{cluster}}")],
        w=5,
        thresholds=quorum_thresholds,
        no_value="n/a",
    )
    d.timeseries(
        "Managers reachable vs quorum",
        "Quorum is lost when reachable drops below the quorum line.",
        [
            (reachable, "reachable {{cluster}}"),
            (quorum, "quorum {{cluster}}"),
            (managers, "managers {{cluster}}"),
        ],
        w=12,
        overrides=[color_override("reachable", "green"), color_override("quorum", "red")],
    )
    d.timeseries(
        "Exporters",
        "Scraped exporters (up, of the targets that exported dockerswarm_up within the "
        "hour, whatever their scrape job) and exporters whose last refresh succeeded "
        "(dockerswarm_up).",
        [
            (
                f"sum by (cluster) ({sel('up')} and on (cluster, instance, job) {OURS})",
                "scraped {{cluster}}",
            ),
            (f"sum by (cluster) ({sel('dockerswarm_up')})", "refreshing {{cluster}}"),
            (f"count by (cluster) ({sel('dockerswarm_up')})", "instances {{cluster}}"),
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
                "sum by (cluster, state) (max by (cluster, node_id, state) "
                f"(dockerswarm_node_state{{{NODE}}}))",
                "{{state}} {{cluster}}",
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
                "sum by (cluster, availability) (max by (cluster, node_id, availability) "
                f"(dockerswarm_node_availability{{{NODE}}}))",
                "{{availability}} {{cluster}}",
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
                "sum by (cluster, reachability) (max by (cluster, node_id, reachability) "
                f"(dockerswarm_node_manager_reachability{{{NODE}}}))",
                "{{reachability}} {{cluster}}",
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
                "max by (cluster, node_id, hostname, role, engine_version, address) "
                f"(dockerswarm_node_info{{{NODE}}})",
                "",
            ),
            (
                f"max by (cluster, node_id, state) (dockerswarm_node_state{{{NODE}}}) == 1",
                "",
            ),
            (
                "max by (cluster, node_id, availability) "
                f"(dockerswarm_node_availability{{{NODE}}}) == 1",
                "",
            ),
            (
                "max by (cluster, node_id, reachability) "
                f"(dockerswarm_node_manager_reachability{{{NODE}}}) == 1",
                "",
            ),
            (f"max by (cluster, node_id) (dockerswarm_node_leader{{{NODE}}})", ""),
            (
                f'max by (cluster, node_id) (dockerswarm_node_tasks{{state="running", {NODE}}})',
                "",
            ),
        ],
        merge_organize(
            exclude=["Value #A", "Value #B", "Value #C", "Value #D"],
            order=[
                "cluster",
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
                "cluster": "Cluster",
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
                "sum by (cluster, state) (max by (cluster, node_id, state) "
                f"(dockerswarm_node_state{{{NODE}}}))",
                "{{state}} {{cluster}}",
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
                f'max by (cluster, hostname) (dockerswarm_node_tasks{{state="running", {NODE}}})',
                "{{hostname}} {{cluster}}",
            )
        ],
        stack=True,
    )

    d.row("Capacity and reservations")
    # What the scheduler sees: a task is placed only on a ready, active node with its
    # reservation still free (else: pending, insufficient resources).
    d.stat(
        "Most free CPUs on a node",
        "The most CPUs any ready, active node has left for new reservations (its CPUs "
        "minus what its tasks reserve). A task whose CPU reservation is larger stays "
        "pending (alert SwarmServiceInsufficientResources).",
        [
            (
                f"max by (cluster) ({schedulable('cpus')} - {schedulable('reserved_cpus')})",
                "{{cluster}}",
            )
        ],
        w=6,
        no_value="n/a",
        unit="none",
    )
    d.stat(
        "Most free memory on a node",
        "The most memory any ready, active node has left for new reservations. A task "
        "whose memory reservation is larger stays pending.",
        [
            (
                f"max by (cluster) ({schedulable('memory_bytes')} "
                f"- {schedulable('reserved_memory_bytes')})",
                "{{cluster}}",
            )
        ],
        w=6,
        no_value="n/a",
        unit="bytes",
    )
    for kind, title in (("cpus", "CPUs reserved"), ("memory_bytes", "Memory reserved")):
        d.stat(
            f"{title} (ready, active nodes)",
            "Share of the ready, active nodes' capacity that the tasks placed there reserve.",
            [
                (
                    f"sum by (cluster) ({schedulable('reserved_' + kind)}) "
                    f"/ (sum by (cluster) ({schedulable(kind)}) > 0)",
                    "{{cluster}}",
                )
            ],
            w=6,
            unit="percentunit",
            thresholds=steps((None, "green"), (0.8, "orange"), (0.95, "red")),
            no_value="n/a",
        )
    d.table(
        "Node capacity and reservations",
        "Per node: the CPUs and memory it offers the scheduler, what the tasks placed "
        "there reserve, and what is left for new reservations. Only ready, active nodes "
        "take new tasks.",
        [
            (per_node("dockerswarm_node_cpus"), ""),
            (per_node("dockerswarm_node_reserved_cpus"), ""),
            (free("cpus"), ""),
            (per_node("dockerswarm_node_memory_bytes"), ""),
            (per_node("dockerswarm_node_reserved_memory_bytes"), ""),
            (free("memory_bytes"), ""),
            (f"max by (cluster, node_id, state) (dockerswarm_node_state{{{NODE}}}) == 1", ""),
            (
                "max by (cluster, node_id, availability) "
                f"(dockerswarm_node_availability{{{NODE}}}) == 1",
                "",
            ),
        ],
        merge_organize(
            exclude=["Value #G", "Value #H"],
            order=[
                "cluster",
                "hostname",
                "state",
                "availability",
                "Value #A",
                "Value #B",
                "Value #C",
                "Value #D",
                "Value #E",
                "Value #F",
                "node_id",
            ],
            rename={
                "cluster": "Cluster",
                "hostname": "Hostname",
                "state": "State",
                "availability": "Availability",
                "Value #A": "CPUs",
                "Value #B": "CPUs reserved",
                "Value #C": "CPUs free",
                "Value #D": "Memory",
                "Value #E": "Memory reserved",
                "Value #F": "Memory free",
                "node_id": "Node ID",
            },
        ),
        h=8,
        sort_by="CPUs free",
        overrides=[
            column_override(
                name,
                ("mappings", [value_map(STATE_COLORS)]),
                ("custom.cellOptions", {"type": "color-text"}),
            )
            for name in ("State", "Availability")
        ]
        + [
            column_override(name, ("unit", "bytes"))
            for name in ("Memory", "Memory reserved", "Memory free")
        ]
        + [
            column_override(name, ("decimals", 2))
            for name in ("CPUs", "CPUs reserved", "CPUs free")
        ],
    )
    d.timeseries(
        "CPUs reserved per node",
        "Share of each node's CPUs reserved by the tasks placed there.",
        [(reserved_share("cpus"), "{{hostname}} {{cluster}}")],
        unit="percentunit",
    )
    d.timeseries(
        "Memory reserved per node",
        "Share of each node's memory reserved by the tasks placed there.",
        [(reserved_share("memory_bytes"), "{{hostname}} {{cluster}}")],
        unit="percentunit",
    )

    d.row("Task containers")
    t = config.thresholds
    by_node = "service_name, stack, hostname"
    oom_killed = node_events(CONTAINER_EXITS, f'reason="oom", {NODE}', by_node, "1h")
    unhealthy = node_events(CONTAINER_UNHEALTHY, NODE, by_node, "1h")
    d.stat(
        "OOM-killed containers (1h)",
        "Task containers the kernel's OOM killer ended in the last hour, on the selected "
        "nodes (alert SwarmContainerOOMKilled).",
        [(f"round(sum by (cluster) ({oom_killed})) or {ZERO}", "{{cluster}}")],
        w=8,
        thresholds=steps((None, "green"), (1, "red")),
        color_mode="background",
    )
    d.stat(
        "Crash-looping services (1h)",
        f"Services whose task containers ended {t.dashboard_crash_loop_exits} or more times "
        f"within {words(t.crash_loop_window)} other than with exit 0, at any time in the last "
        f"hour, on the selected nodes (alert SwarmServiceCrashLooping fires from "
        f"{t.crash_loop_exits}). The services dashboard lists them.",
        [
            (
                "count by (cluster) (max by (cluster, service_name, stack) "
                f"(max_over_time({crash_loop_exits(config)}{{{NODE}}}[1h]))) or {ZERO}",
                "{{cluster}}",
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
        [(f"round(sum by (cluster) ({unhealthy})) or {ZERO}", "{{cluster}}")],
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
                "max by (cluster, event_type) "
                f"(rate({sel('dockerswarm_exporter_events_total')}[$__rate_interval]))",
                "{{event_type}} {{cluster}}",
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
                "sum by (cluster, instance) "
                f"(rate({sel('dockerswarm_exporter_api_requests_total')}[$__rate_interval]))",
                "{{instance}} requests {{cluster}}",
            ),
            (
                "sum by (cluster, instance) "
                f"(rate({sel('dockerswarm_exporter_api_errors_total')}[$__rate_interval]))",
                "{{instance}} errors {{cluster}}",
            ),
            (
                "sum by (cluster, instance, stream) (increase("
                f"{sel('dockerswarm_exporter_stream_reconnects_total')}[$__rate_interval]))",
                "{{instance}} {{stream}} stream reconnects {{cluster}}",
            ),
        ],
        w=12,
        axis_label="per second / reconnects",
    )
    d.timeseries(
        "Seconds since last successful refresh",
        "Per exporter instance; alert SwarmExporterStale fires above "
        f"{seconds(config.thresholds.exporter_stale)}s.",
        [
            (
                "time() - max by (cluster, instance) "
                f"({sel('dockerswarm_last_refresh_timestamp_seconds')})",
                "{{instance}} {{cluster}}",
            )
        ],
        w=24,
        h=6,
        unit="s",
    )
    reconnects = sel("dockerswarm_exporter_stream_reconnects_total", 'stream="containers"')
    d.table(
        "Exporter instances",
        "Every instance: its version, its engine's role (a worker's instance reports its "
        "own node's containers only), whether its engine answers, whether the stream of "
        "its node's task-container events is open, and how often that stream was lost in "
        "the range.",
        [
            (f"max by (cluster, instance, role) ({sel('dockerswarm_exporter_role')} == 1)", ""),
            (f"max by (cluster, instance) ({sel('dockerswarm_up')})", ""),
            (f"max by (cluster, instance) ({sel('dockerswarm_exporter_container_stream_up')})", ""),
            (f"round(sum by (cluster, instance) (increase({reconnects}[$__range])))", ""),
            (f"max by (cluster, instance, version) ({sel('dockerswarm_build_info')})", ""),
        ],
        merge_organize(
            exclude=["Value #A", "Value #E"],
            order=["cluster", "instance", "version", "role", "Value #B", "Value #C", "Value #D"],
            rename={
                "cluster": "Cluster",
                "instance": "Instance",
                "version": "Version",
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
                "count by (cluster, role) (max by (cluster, instance, role) "
                f"({sel('dockerswarm_exporter_role')} == 1))",
                "{{role}} instances {{cluster}}",
            ),
            (
                "sum by (cluster) (max by (cluster, instance) "
                f"({sel('dockerswarm_exporter_container_stream_up')}))",
                "streams open {{cluster}}",
            ),
        ],
        w=12,
        h=8,
    )
    return d
