"""The generated dashboards and rule files (grafana/build.py): up to date, checked, and
rebuilt with other values (grafana/config.py) changing those values only."""

from __future__ import annotations

import difflib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from grafana import build
from grafana.config import DEFAULT, ConfigError, override
from grafana.exprs import (
    DASHBOARD_DIR,
    RECORDS_TEST_FILE,
    ROOT_DIR,
    RULES_FILE,
    RULES_TEST_FILE,
    USAGE_RULES_TEST_FILE,
    iter_panels,
    query_exprs,
)
from grafana.rules import with_cluster_label
from tests.unit.test_grafana_alerts import assert_ok, promtool


def test_generated_files_are_up_to_date() -> None:
    files = build.render_all()
    assert {p.suffix for p in files} == {".json", ".yml"}
    for path, text in files.items():
        committed = path.read_text(encoding="utf-8")
        assert committed == text, f"{path} is stale: run python -m grafana.build"


def test_check_fails_on_a_stale_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert build.main(["--out", str(tmp_path)]) == 0
    assert build.main(["--check", "--out", str(tmp_path)]) == 0
    rules = tmp_path / RULES_FILE.name
    rules.write_text(rules.read_text(encoding="utf-8").replace("> 7", "> 8"), encoding="utf-8")
    capsys.readouterr()
    assert build.main(["--check", "--out", str(tmp_path)]) == 1
    assert str(rules) in capsys.readouterr().out


def test_the_former_entry_point_checks_everything() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "grafana.build_dashboards", "--check"],
        cwd=ROOT_DIR,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_make_check_runs_the_build_check() -> None:
    """CI (.ci/run) runs `make test`, which runs `make check`."""
    makefile = (ROOT_DIR / "Makefile").read_text(encoding="utf-8")
    check = makefile.split("\ncheck:", 1)[1].split("\n\n", 1)[0]
    assert "-m grafana.build --check" in check


@pytest.mark.parametrize(
    ("assignment", "says"),
    [
        ("thresholds.nope=1", "no such key 'thresholds.nope'"),
        ("thresholds.max_managers=many", "thresholds.max_managers takes a whole number"),
        ("thresholds.network_addresses_used=1.5", "is a share"),
        ("thresholds.stuck_tasks=soon", "not a duration"),
        ("thresholds=1", "is a group of keys"),
        ("runbook_url.x=1", "is a value"),
        ("alerts.SwarmNope.for=1m", "no alert 'SwarmNope'"),
        ("alerts.SwarmNodeDown.for=soon", "not a duration"),
        ("alerts.SwarmNodeDown.severity=loud", "severity must be one of"),
        ("runbook_url=ftp://example.com/runbooks.md", "runbook_url must be an http(s) URL"),
        ("selector=prod", "selector must be label matchers"),
        ("cluster_label=__swarm", "cluster_label must be a label name"),
        ("max_managers", "--set takes KEY=VALUE"),
    ],
)
def test_set_rejects_a_bad_key_or_value_in_one_line(
    assignment: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ConfigError):
        override(DEFAULT, assignment)
    with pytest.raises(SystemExit) as exit_:
        build.main(["--check", "--set", assignment])
    assert exit_.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert says in error, error


def test_set_values() -> None:
    config = override(DEFAULT, "alerts.SwarmNodeDown.for=5m")
    config = override(config, "alerts.SwarmNodeDown.severity=critical")
    config = override(config, "thresholds.node_certificate_renewal_share=0.25")
    assert config.alert("SwarmNodeDown").for_ == "5m"
    assert config.alert("SwarmNodeDown").severity == "critical"
    assert config.thresholds.node_certificate_renewal_share == 0.25
    assert DEFAULT.alert("SwarmNodeDown").for_ == "1m", "DEFAULT is never changed"


NEW_URL = "https://wiki.example.com/ops/swarm-sentinel/runbooks.md"
CHANGED = ["--set", "thresholds.network_addresses_used=0.8", "--set", f"runbook_url={NEW_URL}"]


def changed_lines(old: str, new: str) -> tuple[list[str], list[str]]:
    diff = list(difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0))
    removed = [line[1:] for line in diff if line.startswith("-") and not line.startswith("---")]
    added = [line[1:] for line in diff if line.startswith("+") and not line.startswith("+++")]
    return removed, added


def test_a_rebuild_with_other_values_changes_exactly_those(tmp_path: Path) -> None:
    """A threshold and the runbook URL, changed: the rules and the dashboards differ in
    those values only, and promtool's rule tests pass for both builds."""
    default, changed = tmp_path / "default", tmp_path / "changed"
    assert build.main(["--out", str(default)]) == 0
    assert build.main(["--out", str(changed), *CHANGED]) == 0
    old_url = DEFAULT.runbook_url
    touched = set()
    for path in sorted(default.iterdir()):
        removed, added = changed_lines(
            path.read_text(encoding="utf-8"), (changed / path.name).read_text(encoding="utf-8")
        )
        assert len(removed) == len(added), path.name
        for old, new in zip(removed, added, strict=True):
            if old_url in old:
                assert new == old.replace(old_url, NEW_URL), (old, new)
            else:
                assert "0.85" in old and new == old.replace("0.85", "0.8"), (old, new)
            touched.add((path.name, "url" if old_url in old else "threshold"))
    assert ("swarm-sentinel.rules.yml", "threshold") in touched
    assert ("swarm-sentinel.rules.yml", "url") in touched
    assert ("discovery.rules.yml", "url") in touched
    assert ("swarm-usage.rules.yml", "url") in touched
    assert ("swarm-hazards.json", "threshold") in touched
    # The expected annotations name the runbook URL: the changed build's test says the new.
    for out in (default, changed):
        discovery = ROOT_DIR / "compose" / "discovery.rules.test.yml"
        for test in (RULES_TEST_FILE, RECORDS_TEST_FILE, USAGE_RULES_TEST_FILE, discovery):
            text = test.read_text(encoding="utf-8")
            if out is changed:
                text = text.replace(old_url, NEW_URL)
            (out / test.name).write_text(text, encoding="utf-8")
        for test in sorted(out.glob("*.test.yml")):
            result = promtool("test", "rules", test)
            assert_ok(result)
            assert "SUCCESS" in result.stdout + result.stderr


def test_selector_goes_into_every_raw_selector(tmp_path: Path) -> None:
    assert build.main(["--out", str(tmp_path), "--set", 'selector=env="prod"']) == 0
    for rules in sorted(tmp_path.glob("*.rules.yml")):
        assert_ok(promtool("check", "rules", rules))
        text = rules.read_text(encoding="utf-8")
        assert 'dockerswarm_up{env="prod"}' in text or "dockerswarm_up" not in text
        assert "up offset" not in text or 'up{env="prod"} offset' in text
    dashboards = (tmp_path / "swarm-overview.json").read_text(encoding="utf-8")
    assert 'env=\\"prod\\"' in dashboards


MIXIN = ROOT_DIR / "grafana" / "mixin.libsonnet"


def jsonnet(expr: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("jsonnet")
    if exe is None:
        pytest.skip("jsonnet is not installed")
    return subprocess.run(
        [exe, "-J", str(ROOT_DIR), "-e", expr],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_mixin_serves_the_generated_dashboards() -> None:
    result = jsonnet(f'(import "{MIXIN}").grafanaDashboards')
    assert result.returncode == 0, result.stderr
    dashboards = json.loads(result.stdout)
    assert set(dashboards) == set(build.DASHBOARDS)
    for name, dashboard in dashboards.items():
        committed = (DASHBOARD_DIR / name).read_text(encoding="utf-8")
        assert dashboard == json.loads(committed), name


def test_mixin_serves_the_generated_rules() -> None:
    if jsonnet('std.parseYaml("a: |\\n  b\\n")').returncode != 0:
        pytest.skip("this jsonnet's std.parseYaml cannot read block scalars (needs 0.20+)")
    result = jsonnet(
        f'local m = import "{MIXIN}"; {{alerts: m.prometheusAlerts, rules: m.prometheusRules}}'
    )
    assert result.returncode == 0, result.stderr
    served = json.loads(result.stdout)
    groups = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))["groups"]
    assert served["alerts"]["groups"] + served["rules"]["groups"] == sorted(
        groups, key=lambda g: "record" in g["rules"][0]
    )
    assert all("alert" in r for g in served["alerts"]["groups"] for r in g["rules"])
    assert all("record" in r for g in served["rules"]["groups"] for r in g["rules"])


def test_another_cluster_label_keeps_swarms_apart(tmp_path: Path) -> None:
    """Built with cluster_label=swarm, the rules pass promtool's tests fed the same series
    labelled swarm instead of cluster, and no query of a rule or panel names `cluster`."""
    assert build.main(["--out", str(tmp_path), "--set", "cluster_label=swarm"]) == 0
    discovery = ROOT_DIR / "compose" / "discovery.rules.test.yml"
    for test in (RULES_TEST_FILE, RECORDS_TEST_FILE, USAGE_RULES_TEST_FILE, discovery):
        text = re.sub(r'(?<!\w)cluster="', 'swarm="', test.read_text(encoding="utf-8"))
        text = re.sub(r"(?m)^(\s+)cluster:", r"\1swarm:", text)
        (tmp_path / test.name).write_text(text, encoding="utf-8")
        result = promtool("test", "rules", tmp_path / test.name)
        assert_ok(result)
    queries = [
        str(rule["expr"])
        for path in sorted(tmp_path.glob("*.rules.yml"))
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
        for rule in group["rules"]
    ]
    for path in sorted(tmp_path.glob("*.json")):
        dashboard = json.loads(path.read_text(encoding="utf-8"))
        queries += query_exprs(dashboard)
        legends = [
            t["legendFormat"]
            for p in iter_panels(dashboard["panels"])
            for t in p.get("targets", [])
        ]
        assert not any("{{cluster}}" in legend for legend in legends), path.name
        assert any("{{swarm}}" in legend for legend in legends), path.name
    assert len(queries) > 100
    for expr in queries:
        assert with_cluster_label(expr, "other") == expr, expr
