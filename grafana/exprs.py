"""Extract the PromQL expressions of the swarm-sentinel dashboards and alert rules.

Used by the tests: ``dashboard_exprs()`` returns every query of every dashboard with the
Grafana template variables replaced by values that keep it valid PromQL (``$stack`` ->
``.*``, ``$__rate_interval`` -> ``1m``, ...), so the expressions can be checked with
promtool or evaluated against a real Prometheus.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

GRAFANA_DIR = Path(__file__).resolve().parent
DASHBOARD_DIR = GRAFANA_DIR / "dashboards"
RULES_FILE = GRAFANA_DIR / "alerts" / "swarm-sentinel.rules.yml"
RULES_TEST_FILE = GRAFANA_DIR / "alerts" / "swarm-sentinel.rules.test.yml"

# Values substituted for Grafana variables. Dashboard variables are only used as regex
# matchers (=~"$stack"), so ".*" selects everything (including an empty label).
VARIABLE_VALUES: dict[str, str] = {
    "datasource": "prometheus",
    "stack": ".*",
    "service": ".*",
    "node": ".*",
    "__rate_interval": "1m",
    "__interval": "1m",
    "__interval_ms": "60000",
    "__range": "1h",
    "__range_s": "3600",
    "__range_ms": "3600000",
}

# $name, ${name}, ${name:format}, [[name]]
_VARIABLE = re.compile(
    r"\$\{(?P<braced>\w+)(?::\w+)?\}|\[\[(?P<old>\w+)(?::\w+)?\]\]|\$(?P<plain>\w+)"
)
_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?P<selector>.+?)\s*,\s*\w+\s*\)\s*$", re.S)


def substitute_variables(expr: str) -> str:
    """Replace Grafana template variables; raises KeyError for an unknown variable."""

    def replace(match: re.Match[str]) -> str:
        name = match.group("braced") or match.group("old") or match.group("plain")
        return VARIABLE_VALUES[name]

    return _VARIABLE.sub(replace, expr)


def variable_names(expr: str) -> list[str]:
    """Names of the template variables used in an expression."""
    return [
        m.group("braced") or m.group("old") or m.group("plain") for m in _VARIABLE.finditer(expr)
    ]


def dashboard_files() -> list[Path]:
    return sorted(DASHBOARD_DIR.glob("*.json"))


def load_dashboard(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: dashboard is not a JSON object")
    return data


def iter_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """All panels, including the ones nested in (collapsed) rows."""
    for panel in panels:
        yield panel
        yield from iter_panels(panel.get("panels", []))


def raw_dashboard_exprs(dashboard: dict[str, Any]) -> list[str]:
    """Every PromQL expression of a dashboard as written (variables not substituted).

    Panel targets, Prometheus annotation queries and the metric selectors of the
    ``label_values(<selector>, <label>)`` template variable queries.
    """
    exprs: list[str] = []
    for panel in iter_panels(dashboard.get("panels", [])):
        exprs.extend(str(t.get("expr", "")) for t in panel.get("targets", []))
    for annotation in dashboard.get("annotations", {}).get("list", []):
        if "expr" in annotation:
            exprs.append(str(annotation["expr"]))
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        query = variable.get("query")
        text = query.get("query", "") if isinstance(query, dict) else str(query or "")
        match = _LABEL_VALUES.match(text)
        if match:
            exprs.append(match.group("selector"))
    return exprs


def dashboard_exprs() -> list[tuple[str, str]]:
    """(dashboard uid, expression with template variables substituted) for all dashboards."""
    result: list[tuple[str, str]] = []
    for path in dashboard_files():
        dashboard = load_dashboard(path)
        uid = str(dashboard["uid"])
        result.extend((uid, substitute_variables(expr)) for expr in raw_dashboard_exprs(dashboard))
    return result


def load_rules() -> list[dict[str, Any]]:
    """All rules of the alert rule file (each group's rules, in file order)."""
    data = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    rules: list[dict[str, Any]] = []
    for group in data["groups"]:
        rules.extend(group["rules"])
    return rules


def alert_exprs() -> list[tuple[str, str]]:
    """(alert name, expression) for every alerting rule."""
    return [(str(r["alert"]), str(r["expr"]).strip()) for r in load_rules() if "alert" in r]
