"""The healer dashboard: who acts, what the healer forced or skipped, and back-off."""

from __future__ import annotations

from grafana.builder import (
    SVC,
    Dashboard,
    color_override,
    column_override,
    increase_once,
    merge_organize,
    steps,
    value_map,
)

HEALER_RESULT_COLORS = {
    "forced": "orange",
    "dry_run": "purple",
    "skipped_cooldown": "blue",
    "skipped_rate_limit": "light-blue",
    "skipped_no_quorum": "yellow",
    "skipped_no_eligible_node": "light-yellow",
    "gave_up": "red",
    "error": "dark-red",
    "conflict": "dark-orange",
}

# Why the healer acted (label reason of dockerswarm_healer_actions_total).
HEALER_REASON_COLORS = {
    "replicas_missing": "red",
    "tasks_stuck": "yellow",
    "update_paused": "blue",
    "uneven_spread": "purple",
    "crash_looping": "orange",
}


def actions(window: str, result: str | None = None, by: str = "result") -> str:
    matcher = f'result="{result}", {SVC}' if result else SVC
    decided = increase_once(
        "dockerswarm_healer_actions_total", matcher, "service_name, stack, reason, result", window
    )
    return f"sum by ({by}) ({decided})"


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
    result_colors = [color_override(k, c) for k, c in HEALER_RESULT_COLORS.items()]
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
        overrides=result_colors,
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
        "Healer decisions per interval by the reason that triggered them: "
        + ", ".join(HEALER_REASON_COLORS)
        + ".",
        [(actions("$__rate_interval", by="reason"), "{{reason}}")],
        stack=True,
        bars=True,
        overrides=[color_override(k, c) for k, c in HEALER_REASON_COLORS.items()],
    )
    d.timeseries(
        "Skips and errors",
        "Why the healer did not act: cooldown, rate limit, no quorum, no eligible node, "
        "gave up, errors, conflicts.",
        [
            (
                "sum by (result) (max by (service_name, stack, reason, result) "
                "(increase(dockerswarm_healer_actions_total"
                f'{{result=~"skipped_.*|gave_up|error|conflict", {SVC}}}[$__rate_interval])))',
                "{{result}}",
            )
        ],
        stack=True,
        bars=True,
        overrides=result_colors,
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
