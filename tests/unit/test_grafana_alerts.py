"""Static checks of the Grafana dashboards, the Prometheus alert rules (grafana/ and
compose/discovery.rules.yml), their runbooks (docs/runbooks.md) and the Alertmanager
configuration (compose/alertmanager.yml)."""

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

from grafana.builder import series_pattern
from grafana.config import DEFAULT
from grafana.exprs import (
    CLUSTER_MATCHER,
    DASHBOARD_DIR,
    DISCOVERY_RULES_FILE,
    DISCOVERY_RULES_TEST_FILE,
    GRAFANA_DIR,
    RECORDS_TEST_FILE,
    ROOT_DIR,
    RULES_FILE,
    RULES_TEST_FILE,
    RUNBOOKS_FILE,
    USAGE_RULES_FILE,
    USAGE_RULES_TEST_FILE,
    alert_exprs,
    cluster_problems,
    dashboard_exprs,
    iter_panels,
    load_dashboard,
    load_rules,
    query_exprs,
    raw_dashboard_exprs,
    variable_names,
    variable_selectors,
)
from grafana.recording_rules import COUNTERS, HEALER_ACTIONS, SCHEDULABLE, crash_loop_exits
from grafana.usage_rules import FILESYSTEM, TASK_CONTAINER

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
    "SwarmServiceRolledBack",
    "SwarmServiceUpdateStuck",
    "SwarmServiceCrashLooping",
    "SwarmContainerOOMKilled",
    "SwarmContainerUnhealthy",
    "SwarmExporterDown",
    "SwarmExporterStale",
    "SwarmHealerGaveUp",
    "SwarmHealerForced",
    "SwarmServiceInsufficientResources",
    "SwarmManagerLocked",
    "SwarmCACertificateExpiring",
    "SwarmNodeCertificateExpiring",
    "SwarmCARotationStuck",
    "SwarmTaskHistoryRetentionHigh",
    "SwarmNetworkAddressesExhausted",
    "SwarmTasksStuckAllocating",
    "SwarmJobOverran",
    "SwarmJobFailed",
}
DISCOVERY_ALERTS = {"SwarmExportersMissing", "SwarmExportersAbsent"}
USAGE_ALERTS = {"SwarmServiceMemoryNearLimit", "SwarmNodeDiskFillingUp"}
SEVERITIES = {"critical", "warning", "info"}
# Each rule file with its promtool tests.
RULE_FILES = {
    RULES_FILE: RULES_TEST_FILE,
    DISCOVERY_RULES_FILE: DISCOVERY_RULES_TEST_FILE,
    USAGE_RULES_FILE: USAGE_RULES_TEST_FILE,
}
ALL_RULES = [r for path in RULE_FILES for r in load_rules(path) if "alert" in r]
ALERTMANAGER_FILE = ROOT_DIR / "compose" / "alertmanager.yml"

EXPECTED_DASHBOARDS = {
    "swarm-overview.json": "swarm-sentinel-overview",
    "swarm-services.json": "swarm-sentinel-services",
    "swarm-healer.json": "swarm-sentinel-healer",
    "swarm-hazards.json": "swarm-sentinel-hazards",
    "swarm-usage.json": "swarm-sentinel-usage",
}
DASHBOARD_VARIABLES = {"cluster", "stack", "service", "node"}

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
    "dockerswarm_node_cpus",
    "dockerswarm_node_memory_bytes",
    "dockerswarm_node_reserved_cpus",
    "dockerswarm_node_reserved_memory_bytes",
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
    "dockerswarm_service_update_started_timestamp_seconds",
    "dockerswarm_service_update_completed_timestamp_seconds",
    "dockerswarm_service_update_info",
    "dockerswarm_service_update_delay_seconds",
    "dockerswarm_service_replicas_updated",
    "dockerswarm_service_task_failures_total",
    "dockerswarm_service_task_state_since_timestamp_seconds",
    "dockerswarm_service_completions_desired",
    "dockerswarm_service_completions_succeeded",
    "dockerswarm_service_reservation_cpus",
    "dockerswarm_service_reservation_memory_bytes",
    "dockerswarm_service_limit_cpus",
    "dockerswarm_service_limit_memory_bytes",
    "dockerswarm_container_exits_total",
    "dockerswarm_container_starts_total",
    "dockerswarm_container_unhealthy_total",
    "dockerswarm_container_last_exit_code",
    "dockerswarm_container_last_exit_timestamp_seconds",
    "dockerswarm_up",
    "dockerswarm_build_info",
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
    "dockerswarm_node_local_state",
    "dockerswarm_node_certificate_expiry_timestamp_seconds",
    "dockerswarm_node_certificate_issuer_current",
    "dockerswarm_cluster_ca_expiry_timestamp_seconds",
    "dockerswarm_cluster_ca_rotation_in_progress",
    "dockerswarm_cluster_node_certificate_lifetime_seconds",
    "dockerswarm_cluster_task_history_retention_limit",
    "dockerswarm_cluster_settings_info",
    "dockerswarm_network_addresses",
    "dockerswarm_network_addresses_used",
    "dockerswarm_service_network_info",
    "dockerswarm_service_job_state",
    "dockerswarm_service_last_success_timestamp_seconds",
    "dockerswarm_secret_created_timestamp_seconds",
    "dockerswarm_secret_services",
    "dockerswarm_config_created_timestamp_seconds",
    "dockerswarm_config_services",
}
# The recorded series of the shipped rules (grafana/recording_rules.py), which the
# dashboards read.
RECORDS = {str(r["record"]) for r in load_rules() if "record" in r}
# Counters whose series are born at their first increment, which increase() misses: the
# per-node container counters, the healer's decisions, the services' task failures.
_BORN_COUNTER_INCREASE = re.compile(
    r"increase\((dockerswarm_(?:container_\w+_total|healer_actions_total"
    r"|service_task_failures_total))\b"
)
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
    """The swarm-sentinel metrics (and `up`) an expression selects, and the recorded
    series (level:metric:operations) it reads."""
    code = _STRING.sub('""', expr)
    names = set(re.findall(r"(?<![\w:])(?:\w+:)?dockerswarm_\w+(?::\w+)?", code))
    if re.search(r"(?<![\w:])up\b(?!\s*\()", code):
        names.add("up")
    return names


# --------------------------------------------------------------------------- alert rules


@pytest.mark.parametrize("rules", sorted(RULE_FILES), ids=lambda p: p.name)
def test_promtool_check_rules(rules: Path) -> None:
    assert_ok(promtool("check", "rules", rules))


@pytest.mark.parametrize("rules", sorted(RULE_FILES), ids=lambda p: p.name)
def test_promtool_test_rules(rules: Path) -> None:
    result = promtool("test", "rules", RULE_FILES[rules])
    assert_ok(result)
    assert "SUCCESS" in result.stdout + result.stderr


def test_promtool_tests_cover_every_recording_rule() -> None:
    """Each recording rule the dashboards read has its values checked by promtool, fed
    input series (grafana/alerts/swarm-sentinel.records.test.yml)."""
    data = yaml.safe_load(RECORDS_TEST_FILE.read_text(encoding="utf-8"))
    assert data["rule_files"] == [RULES_FILE.name]
    checked = {
        name
        for test in data["tests"]
        for check in test["promql_expr_test"]
        for name in metric_names(check["expr"])
    }
    assert RECORDS and checked >= RECORDS, RECORDS - checked
    result = promtool("test", "rules", RECORDS_TEST_FILE)
    assert_ok(result)
    assert "SUCCESS" in result.stdout + result.stderr


# The recorded series of the usage rules (grafana/usage_rules.py), which the usage
# dashboard reads.
USAGE_RECORDS = {str(r["record"]) for r in load_rules(USAGE_RULES_FILE) if "record" in r}


def test_promtool_tests_cover_every_usage_recording_rule() -> None:
    """Each usage record has its values checked by promtool, fed series shaped as the usage
    jobs store them (grafana/alerts/swarm-usage.rules.test.yml; its run is
    test_promtool_test_rules)."""
    checked = {
        name
        for test in rule_tests(USAGE_RULES_FILE)
        for check in test.get("promql_expr_test", [])
        for name in re.findall(r"\w+:\w+:\w+", check["expr"])
    }
    assert USAGE_RECORDS and checked >= USAGE_RECORDS, USAGE_RECORDS - checked


def test_usage_rules_read_only_swarm_series_of_the_usage_jobs() -> None:
    """cAdvisor's series are read for task containers only (their service_name), and
    node-exporter's for the swarm's nodes only (their node_id): a Prometheus that also
    scrapes other cAdvisors and node-exporters feeds them nothing."""
    for rule in load_rules(USAGE_RULES_FILE):
        code = str(rule["expr"])
        for metric in re.findall(r"(?<![\w:])(container_\w+|node_filesystem_\w+)", code):
            wanted = TASK_CONTAINER if metric.startswith("container_") else FILESYSTEM
            assert code.count(f"{metric}{{{wanted}") == code.count(metric), (rule, metric)


def test_recording_rules_are_named_level_metric_operations() -> None:
    for name in RECORDS:
        level, metric, operations = name.split(":")
        assert level and operations, name
        assert metric.startswith("dockerswarm_") and not metric.endswith("_total"), name
    for name in USAGE_RECORDS:
        level, metric, operations = name.split(":")
        assert level.startswith("cluster_") and operations, name
        assert re.match(r"(container|node|swarm)_", metric) and not metric.endswith("_total")


def test_expected_alerts_exist() -> None:
    names = [name for name, _ in alert_exprs()]
    assert len(names) == len(set(names)), Counter(names).most_common(3)
    assert set(names) == EXPECTED_ALERTS
    assert {name for name, _ in alert_exprs(DISCOVERY_RULES_FILE)} == DISCOVERY_ALERTS
    assert {name for name, _ in alert_exprs(USAGE_RULES_FILE)} == USAGE_ALERTS


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: str(r.get("alert")))
def test_alert_annotations_and_severity(rule: dict[str, Any]) -> None:
    annotations = rule.get("annotations", {})
    for key in ("summary", "description", "runbook_url"):
        assert str(annotations.get(key, "")).strip(), f"{rule['alert']}: missing {key}"
    assert "runbook" not in annotations, f"{rule['alert']}: the runbook is in docs/runbooks.md"
    assert "cluster" in annotations["summary"], f"{rule['alert']}: summary names no cluster"
    assert rule.get("labels", {}).get("severity") in SEVERITIES


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: str(r.get("alert")))
def test_alert_for_durations_are_sane(rule: dict[str, Any]) -> None:
    duration = str(rule.get("for", "0s"))
    match = re.fullmatch(r"(\d+)([smh])", duration)
    assert match, f"{rule['alert']}: unexpected for: {duration}"
    seconds = int(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2)]
    # An hour at most: a CA rotation is stuck only once it has gone on that long.
    assert seconds <= 60 * 60


def rule_tests(rules: Path) -> list[dict[str, Any]]:
    data = yaml.safe_load(RULE_FILES[rules].read_text(encoding="utf-8"))
    assert data["rule_files"] == [rules.name]
    tests: list[dict[str, Any]] = data["tests"]
    return tests


def series_values(test: dict[str, Any], label: str) -> set[str]:
    """The values of `label` in a promtool test's input series."""
    return {
        m.group(1)
        for s in test["input_series"]
        if (m := re.search(rf'\b{label}="([^"]+)"', s["series"]))
    }


@pytest.mark.parametrize("rules", sorted(RULE_FILES), ids=lambda p: p.name)
def test_rule_tests_cover_every_alert_firing_and_not_firing(rules: Path) -> None:
    firing: set[str] = set()
    silent: set[str] = set()
    for test in rule_tests(rules):
        for check in test.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    names = {name for name, _ in alert_exprs(rules)}
    assert names - firing == set(), "alerts without a firing test case"
    assert names - silent == set(), "alerts without a not-firing test case"
    assert firing | silent <= names, "tests for unknown alerts"


@pytest.mark.parametrize("rules", sorted(RULE_FILES), ids=lambda p: p.name)
def test_rule_tests_use_two_exporter_instances(rules: Path) -> None:
    """Every alert is tested with cluster data reported by more than one exporter."""
    covered: set[str] = set()
    for test in rule_tests(rules):
        if len(series_values(test, "instance")) >= 2:
            covered |= {c["alertname"] for c in test.get("alert_rule_test", []) if c["exp_alerts"]}
    assert {name for name, _ in alert_exprs(rules)} - covered == set()


@pytest.mark.parametrize("rules", sorted(RULE_FILES), ids=lambda p: p.name)
def test_rule_tests_fire_every_alert_per_cluster_of_two(rules: Path) -> None:
    """Every alert fires in a test fed by two swarms (cluster="a" and "b", the same
    instance, node and service names otherwise), its alerts labelled with their cluster:
    the rules keep swarms apart. Single-swarm tests (no cluster label) exist too."""
    covered: set[str] = set()
    single = False
    for test in rule_tests(rules):
        clusters = series_values(test, "cluster")
        single |= not clusters
        if len(clusters) < 2:
            continue
        for check in test.get("alert_rule_test", []):
            if check["exp_alerts"]:
                assert all(a["exp_labels"].get("cluster") in clusters for a in check["exp_alerts"])
                covered.add(check["alertname"])
    assert single, "no test without a cluster label"
    assert {name for name, _ in alert_exprs(rules)} - covered == set()


@pytest.mark.parametrize("rules", sorted(RULE_FILES), ids=lambda p: p.name)
def test_alert_rules_keep_clusters_apart(rules: Path) -> None:
    """Every aggregation keeps `cluster`, every join matches on it (grafana/exprs.py)."""
    for name, expr in alert_exprs(rules):
        assert cluster_problems(expr) == [], name


@pytest.mark.parametrize("rules", sorted(RULE_FILES), ids=lambda p: p.name)
def test_rules_assume_no_job_name(rules: Path) -> None:
    """swarm-sentinel's targets are recognised by the series they export, not by the name
    of the scrape job (docs/alerts.md, "Scrape jobs")."""
    for name, expr in alert_exprs(rules):
        assert not re.search(r"\bjob\s*[!=]~?", expr), name


@pytest.mark.parametrize(("name", "expr"), alert_exprs(), ids=[n for n, _ in alert_exprs()])
def test_alert_exprs_balanced_and_known_metrics(name: str, expr: str) -> None:
    assert balanced(expr), name
    assert metric_names(expr) <= KNOWN_METRICS, metric_names(expr) - KNOWN_METRICS


def test_insufficient_resources_description_queries_known_metrics() -> None:
    """The description looks the reservation and the nodes' free capacity up itself."""
    (rule,) = [r for r in ALL_RULES if r["alert"] == "SwarmServiceInsufficientResources"]
    description = rule["annotations"]["description"]
    for metric in (
        "dockerswarm_service_reservation_cpus",
        "dockerswarm_service_reservation_memory_bytes",
        "dockerswarm_node_cpus",
        "dockerswarm_node_reserved_cpus",
        "dockerswarm_node_memory_bytes",
        "dockerswarm_node_reserved_memory_bytes",
    ):
        assert f"{metric}{{cluster=%q" in description, metric
    assert metric_names(description) <= KNOWN_METRICS


# --------------------------------------------------------------------------- runbooks


def runbook_anchors() -> dict[str, str]:
    """Heading anchor (as GitHub, GitLab and MkDocs make it) -> its section's text."""
    sections = re.split(r"^## ", RUNBOOKS_FILE.read_text(encoding="utf-8"), flags=re.M)[1:]
    anchors: dict[str, str] = {}
    for section in sections:
        heading, _, body = section.partition("\n")
        anchor = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors[anchor] = body
    return anchors


def test_every_alert_links_its_runbook_section() -> None:
    anchors = runbook_anchors()
    bases = set()
    for rule in ALL_RULES:
        url = str(rule["annotations"]["runbook_url"])
        base, _, anchor = url.partition("#")
        bases.add(base)
        assert anchor == rule["alert"].lower(), f"{rule['alert']}: anchor {anchor!r}"
        assert anchor in anchors, f"{rule['alert']}: no section #{anchor} in docs/runbooks.md"
        assert "docker " in anchors[anchor], f"{rule['alert']}: its runbook has no command"
    # One base for all (a mirror replaces it everywhere at once); its path is the file's
    # path in the repository.
    (base,) = bases
    assert base.startswith("https://") and base.endswith("/docs/runbooks.md")
    assert RUNBOOKS_FILE == ROOT_DIR / "docs" / "runbooks.md"


def test_runbooks_have_a_section_per_alert_and_no_other() -> None:
    assert set(runbook_anchors()) == {r["alert"].lower() for r in ALL_RULES}
    text = RUNBOOKS_FILE.read_text(encoding="utf-8")
    for link in re.findall(r"\]\(#([\w-]+)\)", text):
        assert link in runbook_anchors(), link


# ----------------------------------------------------------------------- alertmanager


def amtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("amtool")
    if exe is None:
        pytest.skip("amtool is not installed")
    return subprocess.run(
        [exe, *map(str, args)], capture_output=True, text=True, check=False, timeout=60
    )


def alertmanager_example() -> str:
    """The commented example configuration of compose/alertmanager.yml, uncommented."""
    text = ALERTMANAGER_FILE.read_text(encoding="utf-8")
    block = text.split("# --- example: begin ---\n")[1].split("# --- example: end ---")[0]
    return "".join(re.sub(r"^# ?", "", line) for line in block.splitlines(keepends=True))


def test_amtool_accepts_the_alertmanager_config() -> None:
    assert_ok(amtool("check-config", ALERTMANAGER_FILE))
    route = yaml.safe_load(ALERTMANAGER_FILE.read_text(encoding="utf-8"))["route"]
    assert route["group_by"][0] == "cluster", "two swarms' alerts must not group together"


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["alertname=SwarmHealerForced", "severity=info"], "healer-chat"),
        (["alertname=SwarmHealerGaveUp", "severity=warning", "cluster=a"], "healer-chat"),
        (["alertname=SwarmServiceDown", "severity=critical"], "oncall"),
        (["alertname=SwarmNodeDown", "severity=warning"], "null"),
    ],
)
def test_alertmanager_example_routes_the_healer_alerts(
    tmp_path: Path, labels: list[str], receiver: str
) -> None:
    example = tmp_path / "alertmanager.yml"
    example.write_text(alertmanager_example(), encoding="utf-8")
    assert_ok(amtool("check-config", example))
    result = amtool("config", "routes", "test", f"--config.file={example}", *labels)
    assert_ok(result)
    assert result.stdout.split() == [receiver]


def all_exprs() -> list[tuple[str, str]]:
    """(where, expression) for every alert, recording rule and dashboard query."""
    records = [(f"record {r['record']}", str(r["expr"])) for r in load_rules() if "record" in r]
    return [
        *[(f"alert {n}", e) for n, e in alert_exprs()],
        *records,
        *[(f"dashboard {uid}", e) for uid, e in dashboard_exprs()],
    ]


def test_counters_count_series_born_in_the_window() -> None:
    """increase() of a counter born at its first increment is always completed by the
    series born within the window (``x unless x offset w``, guarded by the exporter's
    scrape then); so are the recorded increments the dashboards read, and nothing else
    takes increase() of such a counter."""
    checked = set()
    for where, expr in all_exprs():
        for metric in set(_BORN_COUNTER_INCREASE.findall(expr)):
            checked.add(metric)
            assert where.startswith("alert "), (where, metric)
            assert re.search(rf"{metric}(\{{[^}}]*\}})? offset ", expr), (where, metric)
            assert re.search(r"(?<![\w:])up(\{[^}]*\})? offset ", expr), (where, metric)
            assert "on (cluster, instance, job)" in expr, (where, metric)
    assert len(checked) == 3, checked
    records = {str(r["record"]): str(r["expr"]) for r in load_rules() if "record" in r}
    for record, counter in COUNTERS.items():
        expr = records[record]
        assert f"({counter} unless {counter} offset 1m)" in expr, record
        assert "up offset 1m == 1" in expr and "on (cluster, instance, job)" in expr, record


def test_per_node_series_are_summed_not_maxed() -> None:
    """Instances report different nodes' containers: max over them would drop counts."""
    for where, expr in all_exprs():
        code = _STRING.sub('""', expr)
        assert not re.search(r"max by \([^)]*\) \(\s*increase\(dockerswarm_container_", code), where
        assert not re.search(r"max by \([^)]*\) \(sum_over_time\(\w+:dockerswarm_container_", code)


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


@pytest.mark.parametrize("name", sorted(EXPECTED_DASHBOARDS))
def test_dashboard_variables(name: str) -> None:
    dashboard = load_dashboard(DASHBOARD_DIR / name)
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    ds = variables["DS_PROMETHEUS"]
    assert ds["type"] == "datasource"
    assert ds["query"] == "prometheus"
    for var in DASHBOARD_VARIABLES:
        assert variables[var]["type"] == "query"
        assert variables[var]["datasource"]["uid"] == "${DS_PROMETHEUS}"
        assert variables[var]["query"]["query"].startswith("label_values(")
        # "All" is ".*": it also matches a series without the label (no cluster set, a
        # service outside a stack), which "" or a list of values would not.
        assert variables[var]["includeAll"] and variables[var]["allValue"] == ".*"


@pytest.mark.parametrize("name", sorted(EXPECTED_DASHBOARDS))
def test_dashboard_cluster_variable(name: str) -> None:
    """The clusters of a metric every instance exports (manager or worker), before the
    filters that depend on it; those select within the chosen clusters."""
    dashboard = load_dashboard(DASHBOARD_DIR / name)
    names = [v["name"] for v in dashboard["templating"]["list"]]
    assert names[:2] == ["DS_PROMETHEUS", "cluster"]
    selectors = variable_selectors(dashboard)
    assert selectors["cluster"] == "dockerswarm_up"
    for var in DASHBOARD_VARIABLES - {"cluster"}:
        assert CLUSTER_MATCHER in selectors[var], var
    cluster = dashboard["templating"]["list"][1]
    assert cluster["multi"] and cluster["hide"] == 0


@pytest.mark.parametrize("name", sorted(EXPECTED_DASHBOARDS))
def test_dashboard_queries_keep_clusters_apart(name: str) -> None:
    """Every panel and annotation query selects cluster=~"$cluster" and never aggregates
    or joins across clusters (grafana.exprs.cluster_problems)."""
    dashboard = load_dashboard(DASHBOARD_DIR / name)
    exprs = query_exprs(dashboard)
    assert exprs
    for expr in exprs:
        assert cluster_problems(expr, selectors=True) == [], expr
        assert not re.search(r"\bjob\s*[!=]~?", expr), expr


@pytest.mark.parametrize("name", sorted(EXPECTED_DASHBOARDS))
def test_dashboard_legends_name_the_cluster(name: str) -> None:
    """A named series tells its swarm (an absent label renders as nothing)."""
    dashboard = load_dashboard(DASHBOARD_DIR / name)
    for panel in iter_panels(dashboard["panels"]):
        for target in panel.get("targets", []):
            legend = target["legendFormat"]
            if target["format"] == "time_series" and legend != "__auto":
                assert legend.endswith("{{cluster}}"), (panel["title"], legend)


@pytest.mark.parametrize(
    "expr",
    [
        'max(dockerswarm_managers{cluster=~"$cluster"})',
        'sum by (service_name) (dockerswarm_service_tasks{cluster=~"$cluster"})',
        'sum(dockerswarm_up{cluster=~"$cluster"}) by (instance)',
        'count without (cluster) (dockerswarm_up{cluster=~"$cluster"})',
        'max by (cluster) (dockerswarm_up{cluster=~"$cluster"}) and on (instance) up',
        'dockerswarm_up{cluster=~"$cluster"} / ignoring (cluster) dockerswarm_up',
        "max by (cluster) (dockerswarm_managers)",
        'max by (cluster) (dockerswarm_managers{job="swarm-sentinel"})',
        'count by (cluster) (dockerswarm_up{cluster=~"$cluster"}) or vector(0)',
    ],
)
def test_cluster_check_catches_merging_queries(expr: str) -> None:
    assert cluster_problems(expr, selectors=True), expr


@pytest.mark.parametrize(
    "expr",
    [
        'max by (cluster) (dockerswarm_managers{cluster=~"$cluster"})',
        'sum(dockerswarm_up{cluster=~"$cluster"}) by (cluster, instance)',
        'count without (instance) (dockerswarm_up{cluster=~"$cluster"})',
        'max_over_time(up{cluster=~"$cluster", job="x"}[1h]) and on (cluster, instance, job) '
        'dockerswarm_up{cluster=~"$cluster"}',
        'clamp_max(dockerswarm_up{cluster=~"$cluster", a="sum(b)"}, 1)',
    ],
)
def test_cluster_check_passes_queries_that_keep_clusters_apart(expr: str) -> None:
    assert cluster_problems(expr, selectors=True) == [], expr


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
        assert panel["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}, panel
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
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
        a["datasource"]["uid"] == "${DS_PROMETHEUS}"
        and f"sum_over_time({HEALER_ACTIONS}{{" in a["expr"]
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
    assert {o["matcher"]["options"] for o in overrides} == {series_pattern(r.value) for r in Reason}


def test_services_dashboard_container_panels() -> None:
    dashboard = load_dashboard(DASHBOARD_DIR / "swarm-services.json")
    panels = {p["title"]: p for p in iter_panels(dashboard["panels"])}
    for title in (
        "Container starts per service",
        "Container exits per service (failures)",
        "OOM kills per service and node",
        "Unhealthy health checks per service and node",
        "Crash-looping services",
        "Last exit per service and node",
        "Completions",
    ):
        assert title in panels, title
    crash = panels["Crash-looping services"]
    exprs = [t["expr"] for t in crash["targets"]]
    # Exit 0 is a finished task and a container the engine stopped is a deploy: no crash.
    # The rows are those of the crash-loop record, which counts the failed exits only.
    looping = crash_loop_exits(DEFAULT)
    assert all(looping in e for e in exprs)
    (record,) = [r for r in load_rules() if r.get("record") == looping]
    assert record["expr"].count('reason!~"completed|stopped"') == 2
    failures = panels["Container exits per service (failures)"]
    assert all('reason!~"completed|stopped"' in t["expr"] for t in failures["targets"])
    assert all('hostname=~"$node"' in e for e in exprs)


def test_capacity_panels() -> None:
    """Node capacity, reservations and what is free; what services reserve and limit."""
    overview = load_dashboard(DASHBOARD_DIR / "swarm-overview.json")
    panels = {p["title"]: p for p in iter_panels(overview["panels"])}
    table = panels["Node capacity and reservations"]
    renamed = set(table["transformations"][1]["options"]["renameByName"].values())
    assert {"CPUs", "CPUs reserved", "CPUs free", "Memory", "Memory reserved"} <= renamed
    assert "Memory free" in renamed
    for title in ("Most free CPUs on a node", "Most free memory on a node"):
        (target,) = panels[title]["targets"]
        assert ":schedulable{" in target["expr"], title
    # What is schedulable: ready, active nodes.
    (record,) = [r for r in load_rules() if r.get("record") == SCHEDULABLE]
    assert 'state="ready"' in record["expr"] and 'availability="active"' in record["expr"]
    services = load_dashboard(DASHBOARD_DIR / "swarm-services.json")
    panels = {p["title"]: p for p in iter_panels(services["panels"])}
    exprs = " ".join(t["expr"] for t in panels["Reservations and limits per task"]["targets"])
    for metric in (
        "dockerswarm_service_reservation_cpus",
        "dockerswarm_service_reservation_memory_bytes",
        "dockerswarm_service_limit_cpus",
        "dockerswarm_service_limit_memory_bytes",
    ):
        assert metric in exprs, metric
    assert 'reason="insufficient_resources"' in exprs


def test_every_dashboard_uses_its_visible_variables() -> None:
    for name, dashboard in all_dashboards().items():
        visible = {
            v["name"]
            for v in dashboard["templating"]["list"]
            if v["name"] in DASHBOARD_VARIABLES and v.get("hide", 0) != 2
        }
        used = {v for e in raw_dashboard_exprs(dashboard) for v in variable_names(e)}
        assert visible <= used, (name, visible - used)
        assert used <= DASHBOARD_VARIABLES | {"__rate_interval", "__range", "__range_s"}, (
            name,
            used,
        )


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
        known = KNOWN_METRICS | RECORDS
        assert metric_names(expr) <= known, (uid, metric_names(expr) - known)


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


# A query longer than this does not fit on a screen: the heavy ones read recording rules.
MAX_QUERY = 400


def test_every_panel_query_fits_on_a_screen() -> None:
    longest = max(
        (len(expr), name, expr)
        for name, dashboard in all_dashboards().items()
        for expr in query_exprs(dashboard)
    )
    assert longest[0] <= MAX_QUERY, longest


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


def datasource_refs(node: Any) -> list[str]:
    """The uid of every data source reference in a dashboard's JSON."""
    if isinstance(node, list):
        return [uid for item in node for uid in datasource_refs(item)]
    if not isinstance(node, dict):
        return []
    found = [str(node["datasource"]["uid"])] if isinstance(node.get("datasource"), dict) else []
    return found + [
        uid for key, v in node.items() if key != "datasource" for uid in datasource_refs(v)
    ]


@pytest.mark.parametrize("name", sorted(EXPECTED_DASHBOARDS))
def test_dashboard_imports_from_grafana_com(name: str) -> None:
    """Imported, Grafana asks for the Prometheus (__inputs) and writes its uid wherever
    ${DS_PROMETHEUS} stands: every Prometheus query then uses it."""
    text = (DASHBOARD_DIR / name).read_text(encoding="utf-8")
    dashboard = json.loads(text)
    (ds_input,) = dashboard["__inputs"]
    assert ds_input["name"] == "DS_PROMETHEUS"
    assert ds_input["type"] == "datasource" and ds_input["pluginId"] == "prometheus"
    required = {(r["type"], r["id"]) for r in dashboard["__requires"]}
    assert {("grafana", "grafana"), ("datasource", "prometheus")} <= required
    panel_types = {p["type"] for p in iter_panels(dashboard["panels"])} - {"row"}
    assert {("panel", kind) for kind in panel_types} <= required
    imported = json.loads(text.replace("${DS_PROMETHEUS}", "chosen-uid"))
    refs = [uid for uid in datasource_refs(imported) if uid != "-- Grafana --"]
    assert refs and set(refs) == {"chosen-uid"}


@pytest.mark.parametrize("name", sorted(EXPECTED_DASHBOARDS))
def test_provisioned_dashboard_resolves_the_provisioned_datasource(name: str) -> None:
    """Provisioned as they are, nothing replaces ${DS_PROMETHEUS}: Grafana reads it as the
    dashboard's data source variable of that name, whose default is the provisioned
    Prometheus (grafana/provisioning/datasources/prometheus.yml)."""
    dashboard = load_dashboard(DASHBOARD_DIR / name)
    (provisioned,) = yaml.safe_load(
        (GRAFANA_DIR / "provisioning/datasources/prometheus.yml").read_text(encoding="utf-8")
    )["datasources"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    ds = variables["DS_PROMETHEUS"]
    assert ds["type"] == "datasource" and ds["query"] == provisioned["type"]
    assert ds["current"]["value"] == provisioned["uid"]
    assert ds["current"]["text"] == provisioned["name"]
    refs = [uid for uid in datasource_refs(dashboard) if uid != "-- Grafana --"]
    assert refs and set(refs) == {"${DS_PROMETHEUS}"}


def test_the_no_success_template_in_docs_loads(tmp_path: Path) -> None:
    """docs/alerts.md's "No success within N" template is a rule file promtool accepts,
    on metrics the exporter exports."""
    text = (ROOT_DIR / "docs" / "alerts.md").read_text(encoding="utf-8")
    section = text.split("### No success within N", 1)[1]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "template.rules.yml"
    path.write_text(block, encoding="utf-8")
    assert_ok(promtool("check", "rules", path))
    exprs = [r["expr"] for g in yaml.safe_load(block)["groups"] for r in g["rules"]]
    assert exprs and all(metric_names(e) <= KNOWN_METRICS for e in exprs)
    assert all(cluster_problems(e) == [] for e in exprs)
