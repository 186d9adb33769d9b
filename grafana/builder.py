"""The shared dashboard builder: panels, layout, template variables and the JSON text.

Two kinds of series, aggregated as the alert rules do (docs/metrics.md):

- Cluster series: every manager's instance reports the whole cluster, so a query
  aggregates `instance` away with ``max by (...)`` before summing or counting.
- Per-node series (``dockerswarm_container_*``): each instance reports its own node's
  task containers, so instances are summed (``sum by (...)``), see ``node_events``.

Many swarms in one Prometheus: every selector has ``cluster=~"$cluster"`` and every
aggregation and join keeps ``cluster`` (``max by (cluster, ...)``, ``on (cluster, ...)``).
The label comes from Prometheus (a scrape job's label, or an external label), never from
the exporter; with one swarm it is absent, and an absent label groups, joins and matches
``=~".*"`` as the empty value. ``tests/unit/test_grafana_alerts.py`` checks every query
for it (``grafana.exprs.cluster_problems``).

Template variables are only ever used as regex matchers (``=~"$stack"``) so "All"
(``.*``) also matches series without the label: services that are not part of a stack
(``stack=""``), and every series when no ``cluster`` label is set (the cluster variable
then has no value but "All").
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grafana.config import DEFAULT, Config
from grafana.exprs import iter_panels
from grafana.recording_rules import HEALER_ACTIONS
from grafana.rules import localized

JSON = dict[str, Any]
# Raw value -> (display text, color); feeds both value mappings and series colors.
Palette = Mapping[str, tuple[str, str]]

SCHEMA_VERSION = 39
TAGS = ["swarm-sentinel", "docker-swarm"]
# The data source: one name serves both ways the dashboards are loaded. Imported from
# grafana.com, Grafana asks for the Prometheus (__inputs) and writes its uid wherever
# ${DS_PROMETHEUS} stands. Provisioned (grafana/provisioning/), nothing is replaced and
# ${DS_PROMETHEUS} is the dashboard's own data source variable of that name, whose default
# is the provisioned Prometheus (uid "prometheus").
DS_INPUT = "DS_PROMETHEUS"
PROVISIONED_DS = {"text": "Prometheus", "value": "prometheus"}
DS: JSON = {"type": "prometheus", "uid": f"${{{DS_INPUT}}}"}
# Oldest Grafana known to show them: the one compose/swarm-sentinel.yml runs.
GRAFANA_VERSION = "11.2.0"

# Label filters built from the template variables; each selects the cluster too.
CLUSTER = 'cluster=~"$cluster"'
STACK = 'stack=~"$stack"'
SVC = f'{CLUSTER}, {STACK}, service_name=~"$service"'
NODE = f'{CLUSTER}, hostname=~"$node"'
SVC_NODE = f'{SVC}, hostname=~"$node"'


# ---------------------------------------------------------------------- queries and fields


def ds() -> JSON:
    return dict(DS)


def sel(metric: str, matcher: str = "") -> str:
    """A selector of `metric` in the selected clusters, with more matchers if given."""
    return f"{metric}{{{CLUSTER}, {matcher}}}" if matcher else f"{metric}{{{CLUSTER}}}"


# 0 for every selected cluster: what a count or a sum shows when nothing matched
# (``vector(0)`` would be one series without a cluster, beside the clusters' own).
ZERO = f"0 * group by (cluster) ({sel('dockerswarm_up')})"
# swarm-sentinel's targets, whatever their scrape job is called: those that exported
# dockerswarm_up within the hour (a target that is down has no samples of its own).
OURS = f"present_over_time({sel('dockerswarm_up')}[1h])"


def increase_once(record: str, matcher: str, series: str, window: str) -> str:
    """What a cluster counter counted within `window` per series (`series` lists its
    labels), counted once: from its ``instance:<counter>:increase1m`` `record`
    (grafana/recording_rules.py), a series born within the window included.

    Every manager's instance reports the whole cluster, so the instances' counts are
    collapsed with max: summing them would multiply by the number of managers.
    """
    return f"max by (cluster, {series}) (sum_over_time({record}{{{matcher}}}[{window}]))"


def node_events(record: str, matcher: str, by: str, window: str) -> str:
    """What a per-node counter counted within `window` (its `record`, as in
    ``increase_once``), summed over the instances by cluster and `by`: each instance
    reports its own node, so instances are summed, never collapsed with max."""
    return f"sum by (cluster, {by}) (sum_over_time({record}{{{matcher}}}[{window}]))"


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


def value_map(mapping: Palette) -> JSON:
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


def series_pattern(name: str) -> str:
    """The display names of the series `name`: legends end in `` {{cluster}}``, which is
    empty with one swarm (Grafana renders a missing label as nothing)."""
    return f"^{re.escape(name)}( .*)?$"


def color_override(name: str, color: str) -> JSON:
    return {
        "matcher": {"id": "byRegexp", "options": series_pattern(name)},
        "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": color}}],
    }


def color_overrides(palette: Palette) -> list[JSON]:
    """Series named after a raw value take the color its value mapping shows."""
    return [color_override(raw, color) for raw, (_, color) in palette.items()]


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


# --------------------------------------------------------------------------- layout


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
        threshold_line: JSON | None = None,
        minimum: float | None = 0,
    ) -> None:
        """`threshold_line`: thresholds (``steps``) drawn as lines, e.g. an alert's;
        `minimum` None: the axis goes below 0 (a prediction of less than nothing)."""
        custom_lines = {"thresholdsStyle": {"mode": "line"}} if threshold_line else {}
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
                        **({"min": minimum} if minimum is not None else {}),
                        "color": {"mode": "palette-classic"},
                        "custom": {
                            "drawStyle": "bars" if bars else "line",
                            "lineWidth": 1,
                            "fillOpacity": 60 if bars else (25 if stack else 10),
                            "showPoints": "never",
                            "spanNulls": False,
                            "axisLabel": axis_label,
                            "stacking": {"mode": "normal" if stack else "none", "group": "A"},
                            **custom_lines,
                        },
                        **({"thresholds": threshold_line} if threshold_line else {}),
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
            "__inputs": [
                {
                    "name": DS_INPUT,
                    "label": "Prometheus",
                    "description": "The Prometheus that scrapes swarm-sentinel",
                    "type": "datasource",
                    "pluginId": "prometheus",
                    "pluginName": "Prometheus",
                }
            ],
            "__requires": requirements(self.panels),
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


PANEL_NAMES = {"stat": "Stat", "table": "Table", "timeseries": "Time series"}


def requirements(panels: list[JSON]) -> list[JSON]:
    """What an import needs (grafana.com lists it): Grafana, Prometheus, the panel types."""
    kinds = sorted({p["type"] for p in panels if p["type"] != "row"})
    return [
        {"type": "grafana", "id": "grafana", "name": "Grafana", "version": GRAFANA_VERSION},
        {"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"},
        *(
            {"type": "panel", "id": kind, "name": PANEL_NAMES[kind], "version": ""}
            for kind in kinds
        ),
    ]


# --------------------------------------------------------------- variables and annotations


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
    """The datasource variable plus cluster / stack / service / node filters.

    Every dashboard defines all filters so that the dashboard links (includeVars) carry
    them; filters a dashboard cannot use are hidden there. The clusters are those of
    dockerswarm_up, which every instance exports, manager or worker; without a
    ``cluster`` label anywhere the list is empty and "All" (``.*``) selects everything.
    """
    result = [
        {
            "name": DS_INPUT,
            "label": "Data source",
            "type": "datasource",
            "query": "prometheus",
            "current": {"selected": False, **PROVISIONED_DS},
            "options": [],
            "refresh": 1,
            "regex": "",
            "includeAll": False,
            "multi": False,
            "hide": 0,
            "skipUrlSync": False,
        },
        query_variable("cluster", "Cluster", "label_values(dockerswarm_up, cluster)"),
        query_variable("stack", "Stack", f"label_values({sel('dockerswarm_service_info')}, stack)"),
        query_variable(
            "service",
            "Service",
            f"label_values({sel('dockerswarm_service_info', STACK)}, service_name)",
        ),
        query_variable("node", "Node", f"label_values({sel('dockerswarm_node_info')}, hostname)"),
    ]
    for variable in result:
        if variable["name"] in hidden:
            variable["hide"] = 2
    return result


HEALER_FORCES_EXPR = (
    increase_once(
        HEALER_ACTIONS,
        f'result="forced", {SVC}',
        "service_name, stack, reason",
        "$__rate_interval",
    )
    + " > 0"
)


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
            "tagKeys": "cluster,stack,reason",
            "useValueForTime": False,
            "refId": "HealerForces",
        },
    ]


# --------------------------------------------------------------------------- output


def _renamed_key(mapping: JSON, old: str, new: str) -> JSON:
    return {new if key == old else key: value for key, value in mapping.items()}


def localized_dashboard(dashboard: JSON, config: Config) -> JSON:
    """`dashboard` for `config`: the selector added to the raw series of every query
    (panels, annotations, the template variables' label_values()), the cluster label's
    name wherever a query, a legend, a table column or an annotation tag names it."""
    label = config.cluster_label
    for panel in iter_panels(dashboard["panels"]):
        for target in panel.get("targets", []):
            target["expr"] = localized(target["expr"], config)
            target["legendFormat"] = target["legendFormat"].replace(
                "{{cluster}}", f"{{{{{label}}}}}"
            )
        for transformation in panel.get("transformations", []):
            options = transformation["options"]
            for key in ("excludeByName", "indexByName", "renameByName"):
                if key in options:
                    options[key] = _renamed_key(options[key], "cluster", label)
    for annotation in dashboard["annotations"]["list"]:
        if "expr" in annotation:
            annotation["expr"] = localized(annotation["expr"], config)
            tags = annotation["tagKeys"].split(",")
            annotation["tagKeys"] = ",".join(label if t == "cluster" else t for t in tags)
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = localized(variable["query"]["query"], config)
            variable["query"]["query"] = variable["definition"] = query
    return dashboard


def render(dashboard: Dashboard, config: Config = DEFAULT) -> str:
    """The committed form: indented, non-ASCII kept, final newline (--check compares text)."""
    data = localized_dashboard(dashboard.to_json(), config)
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def stale_files(files: Mapping[Path, str]) -> list[Path]:
    """The paths that are missing or differ from their rendered text."""
    return [
        path
        for path, text in files.items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]


def write_files(files: Mapping[Path, str]) -> list[Path]:
    """Write every rendered file; the paths written."""
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return list(files)
