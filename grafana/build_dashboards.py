"""Generate the swarm-sentinel Grafana dashboards (stdlib only).

Usage (from the repository root)::

    python -m grafana.build_dashboards          # (re)write grafana/dashboards/*.json
    python -m grafana.build_dashboards --check  # exit 1 if the committed JSON is stale

Both this script and the generated JSON are committed; edit the script, not the JSON.

Every exporter instance (one per manager) reports the whole cluster, so every query
aggregates `instance` away (``max by (...)``) before summing or counting, exactly like the
alert rules do. Template variables are only ever used as regex matchers (``=~"$stack"``)
so "All" (``.*``) also matches services that are not part of a stack (``stack=""``).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

JSON = dict[str, Any]

DASHBOARD_DIR = Path(__file__).resolve().parent / "dashboards"
SCHEMA_VERSION = 39
TAGS = ["swarm-sentinel", "docker-swarm"]
DS: JSON = {"type": "prometheus", "uid": "${datasource}"}

# Label filters built from the template variables.
SVC = 'stack=~"$stack", service_name=~"$service"'
NODE = 'hostname=~"$node"'
JOB = 'job="swarm-sentinel"'

PRE_RUNNING_STATES = "new|allocated|pending|assigned|accepted|preparing|ready|starting"

HEALER_FORCES_EXPR = (
    "max by (service_name, stack, reason) ("
    f'increase(dockerswarm_healer_actions_total{{result="forced", {SVC}}}[$__rate_interval])'
    ") > 0"
)


# --------------------------------------------------------------------------- helpers


def ds() -> JSON:
    return dict(DS)


def target(
    expr: str,
    legend: str = "",
    ref: str = "A",
    *,
    table: bool = False,
    instant: bool = False,
) -> JSON:
    """A Prometheus query. Tables use instant queries in table format."""
    is_instant = table or instant
    return {
        "datasource": ds(),
        "refId": ref,
        "expr": expr,
        "legendFormat": legend or "__auto",
        "range": not is_instant,
        "instant": is_instant,
        "format": "table" if table else "time_series",
        "editorMode": "code",
    }


def targets(*queries: tuple[str, str], table: bool = False, instant: bool = False) -> list[JSON]:
    refs = "ABCDEFGHIJKLMNOP"
    return [
        target(expr, legend, refs[i], table=table, instant=instant)
        for i, (expr, legend) in enumerate(queries)
    ]


def steps(*pairs: tuple[float | None, str]) -> JSON:
    return {
        "mode": "absolute",
        "steps": [{"color": color, "value": value} for value, color in pairs],
    }


def value_map(mapping: dict[str, tuple[str, str]]) -> JSON:
    """Value mapping: raw value -> (display text, color)."""
    return {
        "type": "value",
        "options": {
            raw: {"text": text, "color": color, "index": i}
            for i, (raw, (text, color)) in enumerate(mapping.items())
        },
    }


def range_map(low: float, high: float, text: str, color: str) -> JSON:
    return {
        "type": "range",
        "options": {"from": low, "to": high, "result": {"text": text, "color": color}},
    }


def color_override(name: str, color: str) -> JSON:
    return {
        "matcher": {"id": "byName", "options": name},
        "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": color}}],
    }


def column_override(name: str, *properties: tuple[str, Any]) -> JSON:
    return {
        "matcher": {"id": "byName", "options": name},
        "properties": [{"id": pid, "value": value} for pid, value in properties],
    }


def merge_organize(
    exclude: list[str], order: list[str], rename: dict[str, str] | None = None
) -> list[JSON]:
    """Merge the instant table queries on their shared labels, then tidy the columns."""
    return [
        {"id": "merge", "options": {}},
        {
            "id": "organize",
            "options": {
                "excludeByName": {name: True for name in ["Time", *exclude]},
                "indexByName": {name: i for i, name in enumerate(order)},
                "renameByName": rename or {},
            },
        },
    ]


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


@dataclass
class Dashboard:
    """Collects panels and lays them out left to right on the 24 column grid."""

    uid: str
    title: str
    description: str
    hidden_variables: frozenset[str] = frozenset()
    panels: list[JSON] = field(default_factory=list)
    _x: int = 0
    _y: int = 0
    _row_h: int = 0

    def _place(self, w: int, h: int) -> JSON:
        if self._x + w > 24:
            self._newline()
        pos = {"h": h, "w": w, "x": self._x, "y": self._y}
        self._x += w
        self._row_h = max(self._row_h, h)
        return pos

    def _newline(self) -> None:
        self._y += self._row_h
        self._x = 0
        self._row_h = 0

    def row(self, title: str) -> None:
        self._newline()
        self.panels.append(
            {
                "type": "row",
                "title": title,
                "collapsed": False,
                "panels": [],
                "id": len(self.panels) + 1,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": self._y},
            }
        )
        self._y += 1

    def add(self, panel: JSON, w: int, h: int) -> None:
        panel["id"] = len(self.panels) + 1
        panel["gridPos"] = self._place(w, h)
        self.panels.append(panel)

    def stat(
        self,
        title: str,
        description: str,
        queries: list[tuple[str, str]],
        *,
        w: int = 4,
        h: int = 4,
        unit: str = "none",
        thresholds: JSON | None = None,
        mappings: list[JSON] | None = None,
        text_mode: str = "auto",
        color_mode: str = "value",
        no_value: str = "0",
        overrides: list[JSON] | None = None,
    ) -> None:
        self.add(
            {
                "type": "stat",
                "title": title,
                "description": description,
                "datasource": ds(),
                "targets": targets(*queries, instant=True),
                "fieldConfig": {
                    "defaults": {
                        "unit": unit,
                        "noValue": no_value,
                        "color": {"mode": "thresholds"},
                        "thresholds": thresholds or steps((None, "green")),
                        "mappings": mappings or [],
                    },
                    "overrides": overrides or [],
                },
                "options": {
                    "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "orientation": "auto",
                    "textMode": text_mode,
                    "colorMode": color_mode,
                    "graphMode": "none",
                    "justifyMode": "auto",
                    "wideLayout": True,
                    "showPercentChange": False,
                },
            },
            w,
            h,
        )

    def timeseries(
        self,
        title: str,
        description: str,
        queries: list[tuple[str, str]],
        *,
        w: int = 12,
        h: int = 8,
        unit: str = "short",
        stack: bool = False,
        bars: bool = False,
        axis_label: str = "",
        overrides: list[JSON] | None = None,
        legend_table: bool = False,
    ) -> None:
        self.add(
            {
                "type": "timeseries",
                "title": title,
                "description": description,
                "datasource": ds(),
                "targets": targets(*queries),
                "fieldConfig": {
                    "defaults": {
                        "unit": unit,
                        "min": 0,
                        "color": {"mode": "palette-classic"},
                        "custom": {
                            "drawStyle": "bars" if bars else "line",
                            "lineWidth": 1,
                            "fillOpacity": 60 if bars else (25 if stack else 10),
                            "showPoints": "never",
                            "spanNulls": False,
                            "axisLabel": axis_label,
                            "stacking": {"mode": "normal" if stack else "none", "group": "A"},
                        },
                    },
                    "overrides": overrides or [],
                },
                "options": {
                    "legend": {
                        "showLegend": True,
                        "displayMode": "table" if legend_table else "list",
                        "placement": "right" if legend_table else "bottom",
                        "calcs": ["lastNotNull", "max"] if legend_table else [],
                    },
                    "tooltip": {"mode": "multi", "sort": "desc"},
                },
            },
            w,
            h,
        )

    def table(
        self,
        title: str,
        description: str,
        queries: list[tuple[str, str]],
        transformations: list[JSON],
        *,
        w: int = 24,
        h: int = 9,
        overrides: list[JSON] | None = None,
        sort_by: str | None = None,
    ) -> None:
        self.add(
            {
                "type": "table",
                "title": title,
                "description": description,
                "datasource": ds(),
                "targets": targets(*queries, table=True),
                "transformations": transformations,
                "fieldConfig": {
                    "defaults": {
                        "custom": {
                            "align": "auto",
                            "cellOptions": {"type": "auto"},
                            "inspect": False,
                            "filterable": True,
                        },
                        "mappings": [],
                        "thresholds": steps((None, "green")),
                    },
                    "overrides": overrides or [],
                },
                "options": {
                    "showHeader": True,
                    "cellHeight": "sm",
                    "footer": {"show": False, "reducer": ["sum"], "fields": "", "countRows": False},
                    "sortBy": [{"displayName": sort_by, "desc": True}] if sort_by else [],
                },
            },
            w,
            h,
        )

    def to_json(self) -> JSON:
        return {
            "id": None,
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": TAGS,
            "editable": True,
            "graphTooltip": 1,
            "timezone": "browser",
            "fiscalYearStartMonth": 0,
            "liveNow": False,
            "weekStart": "",
            "refresh": "30s",
            "schemaVersion": SCHEMA_VERSION,
            "version": 1,
            "time": {"from": "now-6h", "to": "now"},
            "timepicker": {},
            "links": [
                {
                    "title": "Swarm Sentinel",
                    "type": "dashboards",
                    "tags": ["swarm-sentinel"],
                    "asDropdown": False,
                    "includeVars": True,
                    "keepTime": True,
                    "icon": "external link",
                    "targetBlank": False,
                    "tooltip": "",
                    "url": "",
                }
            ],
            "annotations": {"list": dashboard_annotations()},
            "templating": {"list": variables(self.hidden_variables)},
            "panels": self.panels,
        }


def query_variable(name: str, label: str, query: str) -> JSON:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": ds(),
        "definition": query,
        "query": {
            "qryType": 1,
            "query": query,
            "refId": "PrometheusVariableQueryEditor-VariableQuery",
        },
        "refresh": 2,
        "includeAll": True,
        "multi": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "options": [],
        "regex": "",
        "sort": 1,
        "hide": 0,
        "skipUrlSync": False,
    }


def variables(hidden: frozenset[str] = frozenset()) -> list[JSON]:
    """The datasource variable plus stack / service / node filters.

    Every dashboard defines all filters so that the dashboard links (includeVars) carry
    them; filters a dashboard cannot use are hidden there.
    """
    result = [
        {
            "name": "datasource",
            "label": "Data source",
            "type": "datasource",
            "query": "prometheus",
            "current": {"selected": False, "text": "Prometheus", "value": "prometheus"},
            "options": [],
            "refresh": 1,
            "regex": "",
            "includeAll": False,
            "multi": False,
            "hide": 0,
            "skipUrlSync": False,
        },
        query_variable("stack", "Stack", "label_values(dockerswarm_service_info, stack)"),
        query_variable(
            "service",
            "Service",
            'label_values(dockerswarm_service_info{stack=~"$stack"}, service_name)',
        ),
        query_variable("node", "Node", "label_values(dockerswarm_node_info, hostname)"),
    ]
    for variable in result:
        if variable["name"] in hidden:
            variable["hide"] = 2
    return result


def dashboard_annotations() -> list[JSON]:
    return [
        {
            "builtIn": 1,
            "datasource": {"type": "grafana", "uid": "-- Grafana --"},
            "enable": True,
            "hide": True,
            "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts",
            "type": "dashboard",
        },
        {
            "name": "Healer forces",
            "datasource": ds(),
            "enable": True,
            "hide": False,
            "iconColor": "orange",
            "expr": HEALER_FORCES_EXPR,
            "step": "1m",
            "titleFormat": "Healer forced {{service_name}}",
            "textFormat": "reason: {{reason}}, stack: {{stack}}",
            "tagKeys": "stack,reason",
            "useValueForTime": False,
            "refId": "HealerForces",
        },
    ]


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
    return {
        name: json.dumps(build().to_json(), indent=2, ensure_ascii=False) + "\n"
        for name, build in DASHBOARDS.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--check", action="store_true", help="fail if the committed JSON is out of date"
    )
    parser.add_argument("--out", type=Path, default=DASHBOARD_DIR, help="output directory")
    args = parser.parse_args(argv)
    out: Path = args.out
    stale = []
    for name, text in render_all().items():
        path = out / name
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
            continue
        out.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    if stale:
        print("out of date, run python -m grafana.build_dashboards: " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
