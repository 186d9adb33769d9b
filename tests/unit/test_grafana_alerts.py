"""Static checks of the Grafana dashboards and the Prometheus alert rules (grafana/)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from grafana import build_dashboards
from grafana.exprs import (
    DASHBOARD_DIR,
    GRAFANA_DIR,
    RULES_FILE,
    RULES_TEST_FILE,
    alert_exprs,
    dashboard_exprs,
    iter_panels,
    load_dashboard,
    load_rules,
    raw_dashboard_exprs,
    variable_names,
)

EXPECTED_ALERTS = {
    "SwarmQuorumLost",
    "SwarmQuorumAtRisk",
    "SwarmEvenManagerCount",
    "SwarmTooManyManagers",
    "SwarmNodeDown",
    "SwarmManagerUnreachable",
    "SwarmServiceDown",
    "SwarmServiceDegraded",
    "SwarmTasksStuckPreparing",
    "SwarmTasksStuckPending",
    "SwarmServiceUpdatePaused",
    "SwarmServiceCrashLooping",
    "SwarmContainerOOMKilled",
    "SwarmContainerUnhealthy",
    "SwarmExporterDown",
    "SwarmExporterStale",
    "SwarmHealerGaveUp",
}
SEVERITIES = {"critical", "warning", "info"}

EXPECTED_DASHBOARDS = {
    "swarm-overview.json": "swarm-sentinel-overview",
    "swarm-services.json": "swarm-sentinel-services",
    "swarm-healer.json": "swarm-sentinel-healer",
}
DASHBOARD_VARIABLES = {"stack", "service", "node"}

# The exporter's metric contract (plus Prometheus' own `up`).
KNOWN_METRICS = {
    "up",
    "dockerswarm_node_info",
    "dockerswarm_node_state",
    "dockerswarm_node_availability",
    "dockerswarm_node_manager_reachability",
    "dockerswarm_node_leader",
    "dockerswarm_node_labels",
    "dockerswarm_node_tasks",
    "dockerswarm_managers",
    "dockerswarm_managers_reachable",
    "dockerswarm_manager_quorum",
    "dockerswarm_manager_fault_tolerance",
    "dockerswarm_cluster_has_leader",
    "dockerswarm_service_info",
    "dockerswarm_service_replicas_desired",
    "dockerswarm_service_replicas_running",
    "dockerswarm_service_tasks",
    "dockerswarm_service_update_state",
    "dockerswarm_service_task_failures_total",
    "dockerswarm_service_task_state_since_timestamp_seconds",
    "dockerswarm_service_completions_desired",
    "dockerswarm_service_completions_succeeded",
    "dockerswarm_container_exits_total",
    "dockerswarm_container_starts_total",
    "dockerswarm_container_unhealthy_total",
    "dockerswarm_container_last_exit_code",
    "dockerswarm_container_last_exit_timestamp_seconds",
    "dockerswarm_up",
    "dockerswarm_last_refresh_timestamp_seconds",
    "dockerswarm_exporter_role",
    "dockerswarm_exporter_container_stream_up",
    "dockerswarm_exporter_events_total",
    "dockerswarm_exporter_stream_reconnects_total",
    "dockerswarm_exporter_api_requests_total",
    "dockerswarm_exporter_api_errors_total",
    "dockerswarm_healer_actions_total",
    "dockerswarm_healer_next_action_timestamp_seconds",
    "dockerswarm_healer_acting",
    "dockerswarm_healer_gave_up",
    "dockerswarm_healer_dry_run",
}
# Per-node counters: a series is born at its first increment, which increase() misses.
_CONTAINER_INCREASE = re.compile(r"increase\((dockerswarm_container_\w+_total)\b")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"' + r"|'(?:[^'\\]|\\.)*'")


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("promtool")
    if exe is None:
        pytest.skip("promtool is not installed")
    return subprocess.run(
        [exe, *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def assert_ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, (
        f"{' '.join(result.args)} exited {result.returncode}\n"
        f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
    )


def balanced(expr: str) -> bool:
    """Brackets balance and nest correctly outside of string literals."""
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    for char in _STRING.sub('""', expr):
        if char in "([{":
            stack.append(char)
        elif char in pairs and (not stack or stack.pop() != pairs[char]):
            return False
    return not stack


def all_dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: load_dashboard(p) for p in sorted(DASHBOARD_DIR.glob("*.json"))}


def metric_names(expr: str) -> set[str]:
    """The swarm-sentinel metrics (and `up`) an expression selects."""
    code = _STRING.sub('""', expr)
    names = set(re.findall(r"\bdockerswarm_\w+", code))
    if re.search(r"\bup\s*\{", code):
        names.add("up")
    return names


# --------------------------------------------------------------------------- alert rules


def test_promtool_check_rules() -> None:
    assert_ok(promtool("check", "rules", RULES_FILE))


def test_promtool_test_rules() -> None:
    result = promtool("test", "rules", RULES_TEST_FILE)
    assert_ok(result)
    assert "SUCCESS" in result.stdout + result.stderr


def test_expected_alerts_exist() -> None:
    names = [name for name, _ in alert_exprs()]
    assert len(names) == len(set(names)), Counter(names).most_common(3)
    assert set(names) == EXPECTED_ALERTS


@pytest.mark.parametrize("rule", load_rules(), ids=lambda r: str(r.get("alert")))
def test_alert_annotations_and_severity(rule: dict[str, Any]) -> None:
    annotations = rule.get("annotations", {})
    for key in ("summary", "description", "runbook"):
        assert str(annotations.get(key, "")).strip(), f"{rule['alert']}: missing {key}"
    assert "docker " in annotations["runbook"], f"{rule['alert']}: runbook has no command"
    assert rule.get("labels", {}).get("severity") in SEVERITIES


@pytest.mark.parametrize("rule", load_rules(), ids=lambda r: str(r.get("alert")))
def test_alert_for_durations_are_sane(rule: dict[str, Any]) -> None:
    duration = str(rule.get("for", "0s"))
    match = re.fullmatch(r"(\d+)([smh])", duration)
    assert match, f"{rule['alert']}: unexpected for: {duration}"
    seconds = int(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2)]
    assert seconds <= 30 * 60


def test_rule_tests_cover_every_alert_firing_and_not_firing() -> None:
    data = yaml.safe_load(RULES_TEST_FILE.read_text(encoding="utf-8"))
    assert data["rule_files"] == [RULES_FILE.name]
    firing: set[str] = set()
    silent: set[str] = set()
    for test in data["tests"]:
        for check in test.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    names = {name for name, _ in alert_exprs()}
    assert names - firing == set(), "alerts without a firing test case"
    assert names - silent == set(), "alerts without a not-firing test case"
    assert firing | silent <= names, "tests for unknown alerts"


def test_rule_tests_use_two_exporter_instances() -> None:
    """Every alert is tested with cluster data reported by more than one exporter."""
    data = yaml.safe_load(RULES_TEST_FILE.read_text(encoding="utf-8"))
    covered: set[str] = set()
    for test in data["tests"]:
        instances = {
            m.group(1)
            for s in test["input_series"]
            if (m := re.search(r'instance="([^"]+)"', s["series"]))
        }
        if len(instances) >= 2:
            covered |= {c["alertname"] for c in test.get("alert_rule_test", []) if c["exp_alerts"]}
    assert {name for name, _ in alert_exprs()} - covered == set()


@pytest.mark.parametrize(("name", "expr"), alert_exprs(), ids=[n for n, _ in alert_exprs()])
def test_alert_exprs_balanced_and_known_metrics(name: str, expr: str) -> None:
    assert balanced(expr), name
    assert metric_names(expr) <= KNOWN_METRICS, metric_names(expr) - KNOWN_METRICS


def all_exprs() -> list[tuple[str, str]]:
    """(where, expression) for every alert and every dashboard query."""
    return [(f"alert {n}", e) for n, e in alert_exprs()] + [
        (f"dashboard {uid}", e) for uid, e in dashboard_exprs()
    ]


def test_container_counters_count_series_born_in_the_window() -> None:
    """increase() of a per-node counter is always completed by the series born within the
    window (``x unless x offset w``, guarded by the exporter's scrape then)."""
    checked = 0
    for where, expr in all_exprs():
        for metric in set(_CONTAINER_INCREASE.findall(expr)):
            checked += 1
            assert re.search(rf"{metric}(\{{[^}}]*\}})? offset ", expr), (where, metric)
            assert 'up{job="swarm-sentinel"} offset ' in expr, (where, metric)
    assert checked


def test_per_node_series_are_summed_not_maxed() -> None:
    """Instances report different nodes' containers: max over them would drop counts."""
    for where, expr in all_exprs():
        code = _STRING.sub('""', expr)
        assert not re.search(r"max by \([^)]*\) \(\s*increase\(dockerswarm_container_", code), where


# --------------------------------------------------------------------------- dashboards


def test_dashboard_files_and_uids() -> None:
    dashboards = all_dashboards()
    assert set(dashboards) == set(EXPECTED_DASHBOARDS)
    uids = [d["uid"] for d in dashboards.values()]
    assert len(uids) == len(set(uids))
    for name, uid in EXPECTED_DASHBOARDS.items():
        assert dashboards[name]["uid"] == uid
        assert dashboards[name]["schemaVersion"] >= 39
        assert dashboards[name].get("id") is None


def test_dashboards_are_generated_from_builder() -> None:
    rendered = build_dashboards.render_all()
    assert set(rendered) == set(EXPECTED_DASHBOARDS)
    for name, text in rendered.items():
        committed = (DASHBOARD_DIR / name).read_text(encoding="utf-8")
        assert committed == text, f"{name} is stale: run python -m grafana.build_dashboards"


@pytest.mark.parametrize("name", sorted(EXPECTED_DASHBOARDS))
def test_dashboard_variables(name: str) -> None:
    dashboard = load_dashboard(DASHBOARD_DIR / name)
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    ds = variables["datasource"]
    assert ds["type"] == "datasource"
    assert ds["query"] == "prometheus"
    for var in DASHBOARD_VARIABLES:
        assert variables[var]["type"] == "query"
        assert variables[var]["datasource"]["uid"] == "${datasource}"
        assert variables[var]["query"]["query"].startswith("label_values(")


@pytest.mark.parametrize("name", sorted(EXPECTED_DASHBOARDS))
def test_dashboard_panels(name: str) -> None:
    dashboard = load_dashboard(DASHBOARD_DIR / name)
    panels = list(iter_panels(dashboard["panels"]))
    assert panels
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
            assert str(target.get("expr", "")).strip(), panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
        if panel["type"] == "table" and len(refs) > 1:
            ids_ = [t["id"] for t in panel.get("transformations", [])]
            assert "merge" in ids_ and "organize" in ids_, panel["title"]


@pytest.mark.parametrize("name", sorted(EXPECTED_DASHBOARDS))
def test_dashboard_healer_force_annotation(name: str) -> None:
    dashboard = load_dashboard(DASHBOARD_DIR / name)
    prom = [a for a in dashboard["annotations"]["list"] if "expr" in a]
    assert any(
        a["datasource"]["uid"] == "${datasource}"
        and "increase(dockerswarm_healer_actions_total{" in a["expr"]
        and 'result="forced"' in a["expr"]
        for a in prom
    ), prom


def test_overview_node_table_and_quorum() -> None:
    dashboard = load_dashboard(DASHBOARD_DIR / "swarm-overview.json")
    panels = {p["title"]: p for p in iter_panels(dashboard["panels"])}
    table = panels["Nodes"]
    assert table["type"] == "table"
    assert [t["id"] for t in table["transformations"]] == ["merge", "organize"]
    renamed = set(table["transformations"][1]["options"]["renameByName"].values())
    assert {"Hostname", "Role", "State", "Availability", "Reachability", "Engine"} <= renamed
    assert "Running tasks" in renamed
    exprs = " ".join(raw_dashboard_exprs(dashboard))
    for metric in (
        "dockerswarm_managers_reachable",
        "dockerswarm_manager_quorum",
        "dockerswarm_manager_fault_tolerance",
        "dockerswarm_node_leader",
        "dockerswarm_exporter_events_total",
    ):
        assert metric in exprs


def test_healer_dashboard_colours_every_reason() -> None:
    from healer.policy import Reason

    dashboard = load_dashboard(DASHBOARD_DIR / "swarm-healer.json")
    panels = {p["title"]: p for p in iter_panels(dashboard["panels"])}
    overrides = panels["Decisions by reason"]["fieldConfig"]["overrides"]
    assert {o["matcher"]["options"] for o in overrides} == {r.value for r in Reason}


def test_services_dashboard_container_panels() -> None:
    dashboard = load_dashboard(DASHBOARD_DIR / "swarm-services.json")
    panels = {p["title"]: p for p in iter_panels(dashboard["panels"])}
    for title in (
        "Container starts per service",
        "Container exits per service (not completed)",
        "OOM kills per service and node",
        "Unhealthy health checks per service and node",
        "Crash-looping services",
        "Last exit per service and node",
        "Completions",
    ):
        assert title in panels, title
    crash = panels["Crash-looping services"]
    exprs = [t["expr"] for t in crash["targets"]]
    assert all('reason!="completed"' in e for e in exprs), "completed exits are no crash"
    assert all('hostname=~"$node"' in e for e in exprs)


def test_every_dashboard_uses_its_visible_variables() -> None:
    for name, dashboard in all_dashboards().items():
        visible = {
            v["name"]
            for v in dashboard["templating"]["list"]
            if v["name"] in DASHBOARD_VARIABLES and v.get("hide", 0) != 2
        }
        used = {v for e in raw_dashboard_exprs(dashboard) for v in variable_names(e)}
        assert visible <= used, (name, visible - used)
        assert used <= DASHBOARD_VARIABLES | {"__rate_interval", "__range"}, (name, used)


def test_dashboard_variables_only_used_as_regex_matchers() -> None:
    for name, dashboard in all_dashboards().items():
        for expr in raw_dashboard_exprs(dashboard):
            for var in DASHBOARD_VARIABLES:
                for match in re.finditer(rf"\$\{{?{var}\b", expr):
                    before = expr[: match.start()]
                    assert before.endswith('=~"'), f"{name}: ${var} not used as =~ in {expr}"


def test_dashboard_exprs_helper() -> None:
    exprs = dashboard_exprs()
    assert {uid for uid, _ in exprs} == set(EXPECTED_DASHBOARDS.values())
    for uid, expr in exprs:
        assert expr.strip(), uid
        assert "$" not in expr and "[[" not in expr, (uid, expr)
        assert balanced(expr), (uid, expr)
        assert metric_names(expr) <= KNOWN_METRICS, (uid, metric_names(expr) - KNOWN_METRICS)


def test_dashboard_exprs_parse_with_promtool(tmp_path: Path) -> None:
    """promtool cannot check a bare expression, but it parses recording rule expressions."""
    rules = [
        {"record": f"dashboard:{uid.replace('-', '_')}:expr{i}", "expr": expr}
        for i, (uid, expr) in enumerate(dashboard_exprs())
    ]
    path = tmp_path / "dashboard-exprs.rules.yml"
    path.write_text(
        yaml.safe_dump({"groups": [{"name": "dashboard-exprs", "rules": rules}]}),
        encoding="utf-8",
    )
    assert_ok(promtool("check", "rules", path))


def test_dashboards_are_valid_json() -> None:
    for path in DASHBOARD_DIR.glob("*.json"):
        json.loads(path.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- provisioning


def test_provisioning() -> None:
    datasources = yaml.safe_load(
        (GRAFANA_DIR / "provisioning/datasources/prometheus.yml").read_text(encoding="utf-8")
    )
    (ds,) = datasources["datasources"]
    assert ds["name"] == "Prometheus"
    assert ds["type"] == "prometheus"
    assert ds["uid"] == "prometheus"
    assert ds["url"] == "http://prometheus:9090"
    providers = yaml.safe_load(
        (GRAFANA_DIR / "provisioning/dashboards/swarm-sentinel.yml").read_text(encoding="utf-8")
    )
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
