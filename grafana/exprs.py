"""Extract the PromQL expressions of the swarm-sentinel dashboards and alert rules.

Used by the tests: ``dashboard_exprs()`` returns every query of every dashboard with the
Grafana template variables replaced by values that keep it valid PromQL (``$stack`` ->
``.*``, ``$__rate_interval`` -> ``1m``, ...), so the expressions can be checked with
promtool or evaluated against a real Prometheus. ``cluster_problems()`` finds where an
expression would merge two swarms (docs/alerts.md, "Many swarms").
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

GRAFANA_DIR = Path(__file__).resolve().parent
ROOT_DIR = GRAFANA_DIR.parent
DASHBOARD_DIR = GRAFANA_DIR / "dashboards"
RULES_FILE = GRAFANA_DIR / "alerts" / "swarm-sentinel.rules.yml"
RULES_TEST_FILE = GRAFANA_DIR / "alerts" / "swarm-sentinel.rules.test.yml"
RECORDS_TEST_FILE = GRAFANA_DIR / "alerts" / "swarm-sentinel.records.test.yml"
# The rules of the usage override's jobs (compose/usage.yml), loaded with those jobs.
USAGE_RULES_FILE = GRAFANA_DIR / "alerts" / "swarm-usage.rules.yml"
USAGE_RULES_TEST_FILE = GRAFANA_DIR / "alerts" / "swarm-usage.rules.test.yml"
DISCOVERY_RULES_FILE = ROOT_DIR / "compose" / "discovery.rules.yml"
DISCOVERY_RULES_TEST_FILE = ROOT_DIR / "compose" / "discovery.rules.test.yml"
RUNBOOKS_FILE = ROOT_DIR / "docs" / "runbooks.md"

# Values substituted for Grafana variables. Dashboard variables are only used as regex
# matchers (=~"$stack"), so ".*" selects everything (including an empty label).
VARIABLE_VALUES: dict[str, str] = {
    "DS_PROMETHEUS": "prometheus",
    "cluster": ".*",
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


def substitute_variables(expr: str, **values: str) -> str:
    """Replace Grafana template variables (``values`` over ``VARIABLE_VALUES``, e.g.
    ``cluster="a"``); raises KeyError for an unknown variable."""
    chosen = {**VARIABLE_VALUES, **values}

    def replace(match: re.Match[str]) -> str:
        name = match.group("braced") or match.group("old") or match.group("plain")
        return chosen[name]

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


def query_exprs(dashboard: dict[str, Any]) -> list[str]:
    """The queries of a dashboard's panels and Prometheus annotations, as written."""
    exprs: list[str] = []
    for panel in iter_panels(dashboard.get("panels", [])):
        exprs.extend(str(t.get("expr", "")) for t in panel.get("targets", []))
    for annotation in dashboard.get("annotations", {}).get("list", []):
        if "expr" in annotation:
            exprs.append(str(annotation["expr"]))
    return exprs


def variable_selectors(dashboard: dict[str, Any]) -> dict[str, str]:
    """Variable name -> the metric selector of its ``label_values(<selector>, <label>)``."""
    selectors: dict[str, str] = {}
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        query = variable.get("query")
        text = query.get("query", "") if isinstance(query, dict) else str(query or "")
        match = _LABEL_VALUES.match(text)
        if match:
            selectors[str(variable["name"])] = match.group("selector")
    return selectors


def raw_dashboard_exprs(dashboard: dict[str, Any]) -> list[str]:
    """Every PromQL expression of a dashboard as written (variables not substituted).

    Panel targets, Prometheus annotation queries and the metric selectors of the
    ``label_values(<selector>, <label>)`` template variable queries.
    """
    return query_exprs(dashboard) + list(variable_selectors(dashboard).values())


def dashboard_exprs(**values: str) -> list[tuple[str, str]]:
    """(dashboard uid, expression with template variables substituted) for all
    dashboards; ``values`` chooses variables, e.g. ``cluster="a"``."""
    result: list[tuple[str, str]] = []
    for path in dashboard_files():
        dashboard = load_dashboard(path)
        uid = str(dashboard["uid"])
        result.extend(
            (uid, substitute_variables(expr, **values)) for expr in raw_dashboard_exprs(dashboard)
        )
    return result


def load_rules(path: Path = RULES_FILE) -> list[dict[str, Any]]:
    """All rules of an alert rule file (each group's rules, in file order); by default
    the shipped grafana/alerts/swarm-sentinel.rules.yml."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    rules: list[dict[str, Any]] = []
    for group in data["groups"]:
        rules.extend(group["rules"])
    return rules


def alert_exprs(path: Path = RULES_FILE) -> list[tuple[str, str]]:
    """(alert name, expression) for every alerting rule of a rule file."""
    return [(str(r["alert"]), str(r["expr"]).strip()) for r in load_rules(path) if "alert" in r]


# ------------------------------------------------------------------- many swarms

CLUSTER_MATCHER = 'cluster=~"$cluster"'
"""What every dashboard selector carries."""

_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"' + r"|'(?:[^'\\]|\\.)*'" + r"|`[^`]*`")
_AGGREGATION = re.compile(
    r"\b(?P<op>sum|min|max|avg|group|stddev|stdvar|count_values|count|bottomk|topk|quantile)"
    r"\s*(?:(?P<mod>by|without)\s*\((?P<labels>[^)]*)\)\s*)?\("
)
_POSTFIX = re.compile(r"\s*(?P<mod>by|without)\s*\((?P<labels>[^)]*)\)")
_MATCHING = re.compile(r"\b(?P<kind>on|ignoring)\s*\((?P<labels>[^)]*)\)")
# A raw series, or a recorded one (level:metric:operations): both select the cluster. The
# usage jobs' series too (compose/usage.yml): cAdvisor's, node-exporter's, the engines'.
_SELECTOR = re.compile(
    r"(?<![\w:])(?P<metric>\w+:(?:dockerswarm|container|node_filesystem|swarm)_\w+:\w+"
    r"|dockerswarm_\w+|container_\w+|node_filesystem_\w+|swarm_\w+"
    r"|up|process_start_time_seconds)\b"
)


def _blank_strings(expr: str) -> str:
    """`expr` with the inside of every string literal blanked (same length, same places)."""
    return _QUOTED.sub(lambda m: m.group(0)[0] + " " * (len(m.group(0)) - 2) + m.group(0)[-1], expr)


def _closing(code: str, start: int, opening: str = "(", closing: str = ")") -> int:
    """Index of the bracket closing the one at `start`."""
    depth = 0
    for i in range(start, len(code)):
        if code[i] == opening:
            depth += 1
        elif code[i] == closing:
            depth -= 1
            if depth == 0:
                return i
    raise ValueError(f"unbalanced {opening}{closing} in {code!r}")


def _labels(text: str) -> set[str]:
    return {label.strip() for label in text.split(",") if label.strip()}


def cluster_problems(expr: str, *, selectors: bool = False) -> list[str]:
    """Where `expr` would merge two swarms; [] when it keeps them apart.

    Every aggregation must keep ``cluster`` (``by (cluster, ...)``, or ``without``
    leaving it), every vector matching ``on (...)`` must include it and no ``ignoring``
    may drop it. With `selectors` (dashboards), every selector of a metric must carry
    ``cluster=~"$cluster"``, and ``vector()`` (a series without a cluster) is not used.
    """
    code = _blank_strings(expr)
    problems: list[str] = []
    for m in _AGGREGATION.finditer(code):
        mod, labels = m.group("mod"), m.group("labels")
        if mod is None:  # sum (...) by (...): the modifier after the argument
            after = _POSTFIX.match(code, _closing(code, m.end() - 1) + 1)
            if after:
                mod, labels = after.group("mod"), after.group("labels")
        where = code[m.start() : m.end() + 40].strip()
        if mod is None:
            problems.append(f"{m.group('op')} without by (cluster, ...): {where}")
        elif (mod == "by") != ("cluster" in _labels(labels or "")):
            problems.append(f"{m.group('op')} {mod} ({labels}) merges clusters: {where}")
    for m in _MATCHING.finditer(code):
        if (m.group("kind") == "on") != ("cluster" in _labels(m.group("labels"))):
            problems.append(f"{m.group(0)} matches across clusters")
    if selectors:
        for m in _SELECTOR.finditer(code):
            rest = code[m.end() :]
            brace = len(rest) - len(rest.lstrip())
            if rest[brace : brace + 1] != "{":
                problems.append(f"{m.group('metric')} without {{{CLUSTER_MATCHER}}}")
                continue
            start = m.end() + brace
            matchers = expr[start : _closing(code, start, "{", "}") + 1]
            if CLUSTER_MATCHER not in matchers:
                problems.append(f"{m.group('metric')}{matchers} without {CLUSTER_MATCHER}")
        if re.search(r"\bvector\s*\(", code):
            problems.append("vector() has no cluster label")
    return problems
