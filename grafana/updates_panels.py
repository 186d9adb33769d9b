"""The services dashboard's updates: how many services in each update state, the updates
in progress with how far each has got, and the rollbacks of the time range (a rollback
is a deploy that failed)."""

from __future__ import annotations

from grafana.builder import (
    CLUSTER,
    SVC,
    ZERO,
    Dashboard,
    color_overrides,
    column_override,
    merge_organize,
    steps,
    value_map,
)
from grafana.recording_rules import (
    DESIRED,
    IN_PROGRESS,
    SERVICE_KEY,
    UPDATE_BEHIND,
    UPDATE_STATE,
    UPDATED,
)

PAUSED = 'state=~"paused|rollback_paused"'
ROLLING = 'state=~"updating|rollback_started"'
ROLLED_BACK = 'state=~"rollback_started|rollback_paused|rollback_completed"'
ROLLBACK_COMPLETED = 'state="rollback_completed"'

UPDATE_STATE_COLORS = {
    "updating": ("updating", "blue"),
    "paused": ("paused", "red"),
    "completed": ("completed", "green"),
    "rollback_started": ("rollback started", "orange"),
    "rollback_paused": ("rollback paused", "red"),
    "rollback_completed": ("rollback completed", "yellow"),
}
STATE_COLUMN = column_override(
    "Update state",
    ("mappings", [value_map(UPDATE_STATE_COLORS)]),
    ("custom.cellOptions", {"type": "color-background"}),
)
PROGRESS_COLUMN = column_override(
    "Progress",
    ("unit", "percentunit"),
    ("min", 0),
    ("max", 1),
    ("thresholds", steps((None, "blue"), (1, "green"))),
    ("custom.cellOptions", {"type": "gauge", "mode": "basic"}),
)


def per_service(metric: str, matcher: str = "", by: str = "") -> str:
    """A service's cluster series, once (every manager's instance reports it)."""
    matchers = f"{matcher}, {SVC}" if matcher else SVC
    return f"max by ({SERVICE_KEY}{', ' + by if by else ''}) ({metric}{{{matchers}}})"


def state(matcher: str, selected: str = SVC) -> str:
    """The services whose update state matches, with their state."""
    return f"{UPDATE_STATE}{{{matcher}, {selected}}} == 1"


def updated() -> str:
    return f"{UPDATED}{{{SVC}}}"


def desired() -> str:
    return f"{DESIRED}{{{SVC}}}"


def rolled_back(selected: str = CLUSTER) -> str:
    """The services rolled back at some time in the range (`selected`: their matchers),
    with the state they were in (a join ignores it)."""
    return f"max_over_time({UPDATE_STATE}{{{ROLLED_BACK}, {selected}}}[$__range]) == 1"


def paused_count() -> str:
    """For the summary: services whose update or rollback is paused."""
    return f"count by (cluster) ({state(PAUSED)}) or {ZERO}"


def add_update_panels(d: Dashboard) -> None:
    d.row("Updates")
    d.stat(
        "Updating",
        "Services whose update or rollback is under way.",
        [(f"count by (cluster) ({state(ROLLING)}) or {ZERO}", "{{cluster}}")],
        thresholds=steps((None, "green"), (1, "blue")),
    )
    d.stat(
        "Rolled back",
        "Services whose last update was rolled back: their deploy failed (alert "
        "SwarmServiceRolledBack). Until their next update.",
        [
            (
                f"count by (cluster) ({state(ROLLBACK_COMPLETED)}) or {ZERO}",
                "{{cluster}}",
            )
        ],
        thresholds=steps((None, "green"), (1, "orange")),
    )
    d.timeseries(
        "Services by update state",
        "Number of services per update / rollback state.",
        [
            (
                f"sum by (cluster, state) ({UPDATE_STATE}{{{SVC}}})",
                "{{state}} {{cluster}}",
            )
        ],
        w=16,
        stack=True,
        overrides=color_overrides(UPDATE_STATE_COLORS),
    )
    # What is not where its deploy meant it to be (the record says which).
    behind = f"{UPDATE_BEHIND}{{{CLUSTER}}}"
    d.table(
        "Updates in progress",
        "Services updating, rolling back, or paused in either, and services with fewer "
        "tasks running their current spec than they want: their update state, the tasks "
        "on the current spec (during a rollback, the previous one) against those desired, "
        "since when the update runs, and the engine's message.",
        [
            (state(IN_PROGRESS), ""),
            (f"{updated()} and on ({SERVICE_KEY}) ({behind})", ""),
            (f"{desired()} and on ({SERVICE_KEY}) ({behind})", ""),
            (
                f"clamp_max({updated()} / ({desired()} > 0), 1) and on ({SERVICE_KEY}) ({behind})",
                "",
            ),
            (
                "time() - "
                + per_service("dockerswarm_service_update_started_timestamp_seconds")
                + f" and on ({SERVICE_KEY}) ({state(IN_PROGRESS, CLUSTER)})",
                "",
            ),
            (
                per_service("dockerswarm_service_update_info", by="message")
                + f" and on ({SERVICE_KEY}) ({state(IN_PROGRESS, CLUSTER)})",
                "",
            ),
        ],
        merge_organize(
            exclude=["Value #A", "Value #F"],
            order=[
                "cluster",
                "service_name",
                "stack",
                "state",
                "Value #D",
                "Value #B",
                "Value #C",
                "Value #E",
                "message",
            ],
            rename={
                "cluster": "Cluster",
                "service_name": "Service",
                "stack": "Stack",
                "state": "Update state",
                "Value #B": "On the current spec",
                "Value #C": "Desired",
                "Value #D": "Progress",
                "Value #E": "Running for",
                "message": "The engine says",
            },
        ),
        w=24,
        h=8,
        overrides=[
            STATE_COLUMN,
            PROGRESS_COLUMN,
            column_override("Running for", ("unit", "s")),
        ],
    )
    d.timeseries(
        "Tasks on the current spec",
        "Per service, the share of its desired tasks running its current spec: 1 when it "
        "has converged; a rolling update (or a rollback) is the climb back to 1.",
        [
            (
                f"clamp_max({updated()} / ({desired()} > 0), 1)",
                "{{service_name}} {{cluster}}",
            )
        ],
        unit="percentunit",
    )
    d.table(
        "Rollbacks in the time range",
        "Services rolled back (by their failure action, by hand or by the healer) at some "
        "time in the selected range, with their update state now and when their last "
        "update or rollback completed.",
        [
            (f"max by ({SERVICE_KEY}) ({rolled_back(SVC)})", ""),
            (
                f"{UPDATE_STATE}{{{SVC}}} == 1 and on ({SERVICE_KEY}) ({rolled_back()})",
                "",
            ),
            (
                per_service("dockerswarm_service_update_completed_timestamp_seconds")
                + f" * 1000 and on ({SERVICE_KEY}) ({rolled_back()})",
                "",
            ),
        ],
        merge_organize(
            exclude=["Value #A", "Value #B"],
            order=["cluster", "service_name", "stack", "state", "Value #C"],
            rename={
                "cluster": "Cluster",
                "service_name": "Service",
                "stack": "Stack",
                "state": "Update state",
                "Value #C": "Completed",
            },
        ),
        w=12,
        h=8,
        overrides=[STATE_COLUMN, column_override("Completed", ("unit", "dateTimeAsIso"))],
    )
