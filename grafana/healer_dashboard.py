"""The healer dashboard: who acts, what the healer forced or skipped, and back-off."""

from __future__ import annotations

from grafana.builder import (
    SVC,
    ZERO,
    Dashboard,
    color_override,
    column_override,
    increase_once,
    merge_organize,
    sel,
    steps,
    value_map,
)
from grafana.config import Config
from grafana.recording_rules import HEALER_ACTIONS

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


SKIPS = "skipped_.*|gave_up|error|conflict"
SERVICE_KEY = "cluster, service_name, stack"


def actions(
    window: str, result: str | None = None, by: str = "result", *, regex: bool = False
) -> str:
    """Healer decisions within `window` (a first decision included: its series is born
    with the value 1), summed by cluster and `by`. `result`: one result, or with `regex`
    a pattern of results."""
    op = "=~" if regex else "="
    matcher = f'result{op}"{result}", {SVC}' if result else SVC
    decided = increase_once(HEALER_ACTIONS, matcher, "service_name, stack, reason, result", window)
    return f"sum by (cluster, {by}) ({decided})"


def healer(config: Config) -> Dashboard:
    d = Dashboard(
        uid="swarm-sentinel-healer",
        title="Swarm Sentinel / Healer",
        description="Decisions of the swarm-sentinel auto-healer: forces, skips, back-off.",
        hidden_variables=frozenset({"node"}),
    )
    next_action = (
        f"max by ({SERVICE_KEY}) (dockerswarm_healer_next_action_timestamp_seconds{{{SVC}}})"
    )
    # As alert SwarmHealerGaveUp: the acting instance's word, not a former leader's.
    gave_up = (
        f"max by ({SERVICE_KEY}) (dockerswarm_healer_gave_up{{{SVC}}} "
        f"and on (cluster, instance, job) ({sel('dockerswarm_healer_acting')} == 1))"
    )
    result_colors = [color_override(k, c) for k, c in HEALER_RESULT_COLORS.items()]
    d.row("Status")
    d.stat(
        "Acting instance",
        "Exporter instance whose engine is the leader; only it heals.",
        [
            (
                f"max by (cluster, instance) ({sel('dockerswarm_healer_acting')}) == 1",
                "{{instance}} {{cluster}}",
            )
        ],
        w=5,
        text_mode="name",
        no_value="none",
    )
    d.stat(
        "Acting instances",
        "Must be exactly 1 (0: nobody heals, >1: split brain).",
        [(f"sum by (cluster) ({sel('dockerswarm_healer_acting')})", "{{cluster}}")],
        w=3,
        thresholds=steps((None, "red"), (1, "green"), (2, "red")),
        color_mode="background",
    )
    d.stat(
        "Mode",
        "Dry run: the healer only reports what it would do.",
        [(f"max by (cluster) ({sel('dockerswarm_healer_dry_run')})", "{{cluster}}")],
        w=3,
        mappings=[value_map({"1": ("DRY RUN", "purple"), "0": ("live", "green")})],
        color_mode="background",
        no_value="n/a",
    )
    d.stat(
        "Forced (range)",
        "Forced updates in the selected time range.",
        [
            (
                f"round(sum by (cluster) ({actions('$__range', 'forced', 'service_name')})) "
                f"or {ZERO}",
                "{{cluster}}",
            )
        ],
        w=3,
        thresholds=steps((None, "green"), (1, "orange")),
    )
    d.stat(
        "Would force (range)",
        "Dry-run decisions in the selected time range.",
        [
            (
                f"round(sum by (cluster) ({actions('$__range', 'dry_run', 'service_name')})) "
                f"or {ZERO}",
                "{{cluster}}",
            )
        ],
        w=3,
        thresholds=steps((None, "green"), (1, "purple")),
    )
    d.stat(
        "In back-off",
        "Services whose next allowed action is in the future.",
        [(f"count by (cluster) ({next_action} > time()) or {ZERO}", "{{cluster}}")],
        w=3,
        thresholds=steps((None, "green"), (1, "yellow")),
    )
    d.stat(
        "Given up",
        "Services the healer has given up on.",
        [(f"count by (cluster) ({gave_up} == 1) or {ZERO}", "{{cluster}}")],
        w=4,
        thresholds=steps((None, "green"), (1, "red")),
        color_mode="background",
    )

    d.row("Decisions")
    d.timeseries(
        "Decisions by result",
        "Healer decisions per interval by result.",
        [(actions("$__rate_interval"), "{{result}} {{cluster}}")],
        stack=True,
        bars=True,
        overrides=result_colors,
    )
    d.timeseries(
        "Forced updates by service",
        "Forced (and dry-run would-force) decisions per interval by service.",
        [
            (
                actions("$__rate_interval", "forced", "service_name"),
                "{{service_name}} forced {{cluster}}",
            ),
            (
                actions("$__rate_interval", "dry_run", "service_name"),
                "{{service_name}} would force {{cluster}}",
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
        [(actions("$__rate_interval", by="reason"), "{{reason}} {{cluster}}")],
        stack=True,
        bars=True,
        overrides=[color_override(k, c) for k, c in HEALER_REASON_COLORS.items()],
    )
    d.timeseries(
        "Skips and errors",
        "Why the healer did not act: cooldown, rate limit, no quorum, no eligible node, "
        "gave up, errors, conflicts.",
        [(actions("$__rate_interval", SKIPS, regex=True), "{{result}} {{cluster}}")],
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
            order=["cluster", "service_name", "stack", "Value #A", "Value #B", "Value #C"],
            rename={
                "cluster": "Cluster",
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
        [(f"round({actions('$__range', 'dry_run', 'service_name, stack, reason')}) > 0", "")],
        merge_organize(
            exclude=[],
            order=["cluster", "service_name", "stack", "reason", "Value"],
            rename={
                "cluster": "Cluster",
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
        [(f"round({actions('$__range', 'forced', 'service_name, stack, reason')}) > 0", "")],
        merge_organize(
            exclude=[],
            order=["cluster", "service_name", "stack", "reason", "Value"],
            rename={
                "cluster": "Cluster",
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
