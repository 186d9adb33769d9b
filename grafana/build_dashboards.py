"""Generate the swarm-sentinel Grafana dashboards (stdlib only).

Usage (from the repository root)::

    python -m grafana.build_dashboards          # (re)write grafana/dashboards/*.json
    python -m grafana.build_dashboards --check  # exit 1 if the committed JSON is stale

Both this script and the generated JSON are committed; edit the script, not the JSON.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grafana.builder import (
    JOB,
    NODE,
    SVC,
    Dashboard,
    color_override,
    column_override,
    merge_organize,
    range_map,
    render,
    stale_files,
    steps,
    value_map,
    write_files,
)

DASHBOARD_DIR = Path(__file__).resolve().parent / "dashboards"

PRE_RUNNING_STATES = "new|allocated|pending|assigned|accepted|preparing|ready|starting"

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

UPDATE_STATE_COLORS = {
    "updating": ("updating", "blue"),
    "paused": ("paused", "red"),
    "completed": ("completed", "green"),
    "rollback_started": ("rollback started", "orange"),
    "rollback_paused": ("rollback paused", "red"),
    "rollback_completed": ("rollback completed", "yellow"),
}

HEALER_RESULT_COLORS = {
    "forced": "orange",
    "dry_run": "purple",
    "skipped_cooldown": "blue",
    "skipped_rate_limit": "light-blue",
    "skipped_no_quorum": "yellow",
    "skipped_no_eligible_node": "light-yellow",
    "gave_up": "red",
    "error": "dark-red",
}


# --------------------------------------------------------------------------- overview


def overview() -> Dashboard:
    d = Dashboard(
        uid="swarm-sentinel-overview",
        title="Swarm Sentinel / Overview",
        description="Docker Swarm quorum, nodes and exporter health (swarm-sentinel).",
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
    node_state_overrides = [color_override(k, c) for k, (_, c) in STATE_COLORS.items()]
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
                "sum by (instance) "
                "(increase(dockerswarm_exporter_stream_reconnects_total[$__rate_interval]))",
                "{{instance}} stream reconnects",
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
    return d


# --------------------------------------------------------------------------- services


def desired(by: str = "service_name, stack") -> str:
    return f"max by ({by}) (dockerswarm_service_replicas_desired{{{SVC}}})"


def running(by: str = "service_name, stack") -> str:
    return f"max by ({by}) (dockerswarm_service_replicas_running{{{SVC}}})"


def failures(window: str, by: str = "service_name, stack") -> str:
    return (
        f"sum by ({by}) (max by (service_name, stack, reason) "
        f"(increase(dockerswarm_service_task_failures_total{{{SVC}}}[{window}])))"
    )


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
        overrides=[color_override(k, c) for k, (_, c) in UPDATE_STATE_COLORS.items()],
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


# --------------------------------------------------------------------------- healer


def actions(window: str, result: str | None = None, by: str = "result") -> str:
    matcher = f'result="{result}", {SVC}' if result else SVC
    return (
        f"sum by ({by}) (max by (service_name, stack, reason, result) "
        f"(increase(dockerswarm_healer_actions_total{{{matcher}}}[{window}])))"
    )


def healer() -> Dashboard:
    d = Dashboard(
        uid="swarm-sentinel-healer",
        title="Swarm Sentinel / Healer",
        description="Decisions of the swarm-sentinel auto-healer: forces, skips, back-off.",
        hidden_variables=frozenset({"node"}),
    )
    next_action = (
        f"max by (service_name, stack) (dockerswarm_healer_next_action_timestamp_seconds{{{SVC}}})"
    )
    gave_up = f"max by (service_name, stack) (dockerswarm_healer_gave_up{{{SVC}}})"
    d.row("Status")
    d.stat(
        "Acting instance",
        "Exporter instance whose engine is the leader; only it heals.",
        [("max by (instance) (dockerswarm_healer_acting) == 1", "{{instance}}")],
        w=5,
        text_mode="name",
        no_value="none",
    )
    d.stat(
        "Acting instances",
        "Must be exactly 1 (0: nobody heals, >1: split brain).",
        [("sum(dockerswarm_healer_acting)", "")],
        w=3,
        thresholds=steps((None, "red"), (1, "green"), (2, "red")),
        color_mode="background",
    )
    d.stat(
        "Mode",
        "Dry run: the healer only reports what it would do.",
        [("max(dockerswarm_healer_dry_run)", "")],
        w=3,
        mappings=[value_map({"1": ("DRY RUN", "purple"), "0": ("live", "green")})],
        color_mode="background",
        no_value="n/a",
    )
    d.stat(
        "Forced (range)",
        "Forced updates in the selected time range.",
        [(f"round(sum({actions('$__range', 'forced', 'service_name, stack')})) or vector(0)", "")],
        w=3,
        thresholds=steps((None, "green"), (1, "orange")),
    )
    d.stat(
        "Would force (range)",
        "Dry-run decisions in the selected time range.",
        [(f"round(sum({actions('$__range', 'dry_run', 'service_name, stack')})) or vector(0)", "")],
        w=3,
        thresholds=steps((None, "green"), (1, "purple")),
    )
    d.stat(
        "In back-off",
        "Services whose next allowed action is in the future.",
        [(f"count({next_action} > time()) or vector(0)", "")],
        w=3,
        thresholds=steps((None, "green"), (1, "yellow")),
    )
    d.stat(
        "Given up",
        "Services the healer has given up on.",
        [(f"count({gave_up} == 1) or vector(0)", "")],
        w=4,
        thresholds=steps((None, "green"), (1, "red")),
        color_mode="background",
    )

    d.row("Decisions")
    d.timeseries(
        "Decisions by result",
        "Healer decisions per interval by result.",
        [(actions("$__rate_interval"), "{{result}}")],
        stack=True,
        bars=True,
        overrides=[color_override(k, c) for k, c in HEALER_RESULT_COLORS.items()],
    )
    d.timeseries(
        "Forced updates by service",
        "Forced (and dry-run would-force) decisions per interval by service.",
        [
            (actions("$__rate_interval", "forced", "service_name"), "{{service_name}} forced"),
            (
                actions("$__rate_interval", "dry_run", "service_name"),
                "{{service_name}} would force",
            ),
        ],
        stack=True,
        bars=True,
    )
    d.timeseries(
        "Decisions by reason",
        "Healer decisions per interval by the reason that triggered them.",
        [(actions("$__rate_interval", by="reason"), "{{reason}}")],
        stack=True,
        bars=True,
    )
    d.timeseries(
        "Skips and errors",
        "Why the healer did not act: cooldown, rate limit, no quorum, no eligible node, "
        "gave up, errors.",
        [
            (
                "sum by (result) (max by (service_name, stack, reason, result) "
                "(increase(dockerswarm_healer_actions_total"
                f'{{result=~"skipped_.*|gave_up|error", {SVC}}}[$__rate_interval])))',
                "{{result}}",
            )
        ],
        stack=True,
        bars=True,
        overrides=[color_override(k, c) for k, c in HEALER_RESULT_COLORS.items()],
    )

    d.row("Services")
    d.table(
        "Back-off and given up",
        "Services in back-off (next action in the future) or given up.",
        [
            (f"({next_action} > time()) * 1000", ""),
            (f"{next_action} - time() > 0", ""),
            (f"{gave_up} == 1", ""),
        ],
        merge_organize(
            exclude=[],
            order=["service_name", "stack", "Value #A", "Value #B", "Value #C"],
            rename={
                "service_name": "Service",
                "stack": "Stack",
                "Value #A": "Next action",
                "Value #B": "Back-off left",
                "Value #C": "Given up",
            },
        ),
        w=12,
        overrides=[
            column_override("Next action", ("unit", "dateTimeAsIso")),
            column_override("Back-off left", ("unit", "dtdurations")),
            column_override(
                "Given up",
                ("mappings", [value_map({"1": ("GAVE UP", "red")})]),
                ("custom.cellOptions", {"type": "color-background"}),
            ),
        ],
    )
    d.table(
        "Dry run: would force",
        "Services the healer would have forced in the selected time range (dry run).",
        [
            (
                "round(max by (service_name, stack, reason) "
                "(increase(dockerswarm_healer_actions_total"
                f'{{result="dry_run", {SVC}}}[$__range]))) > 0',
                "",
            )
        ],
        merge_organize(
            exclude=[],
            order=["service_name", "stack", "reason", "Value"],
            rename={
                "service_name": "Service",
                "stack": "Stack",
                "reason": "Reason",
                "Value": "Would force (count)",
            },
        ),
        w=12,
        sort_by="Would force (count)",
    )
    d.table(
        "Forced in range",
        "Services the healer forced in the selected time range, by reason.",
        [
            (
                "round(max by (service_name, stack, reason) "
                "(increase(dockerswarm_healer_actions_total"
                f'{{result="forced", {SVC}}}[$__range]))) > 0',
                "",
            )
        ],
        merge_organize(
            exclude=[],
            order=["service_name", "stack", "reason", "Value"],
            rename={
                "service_name": "Service",
                "stack": "Stack",
                "reason": "Reason",
                "Value": "Forced (count)",
            },
        ),
        w=24,
        h=7,
        sort_by="Forced (count)",
    )
    return d


# --------------------------------------------------------------------------- output

DASHBOARDS = {
    "swarm-overview.json": overview,
    "swarm-services.json": services,
    "swarm-healer.json": healer,
}


def render_all() -> dict[str, str]:
    """File name -> JSON text for every dashboard."""
    return {name: render(build()) for name, build in DASHBOARDS.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--check", action="store_true", help="fail if the committed JSON is out of date"
    )
    parser.add_argument("--out", type=Path, default=DASHBOARD_DIR, help="output directory")
    args = parser.parse_args(argv)
    out: Path = args.out
    rendered = render_all()
    if args.check:
        stale = stale_files(rendered, out)
        if stale:
            print(
                "out of date, run python -m grafana.build_dashboards: "
                + ", ".join(str(path) for path in stale)
            )
            return 1
        return 0
    for path in write_files(rendered, out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
