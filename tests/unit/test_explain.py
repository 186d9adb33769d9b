"""Why one service is down: ``explain`` and the per-service page, from the sampled
swarms (the lab runs them against real failures, tests/lab/test_why_down.py)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from exporter import planning
from exporter.model import SwarmModel
from exporter.parse import parse_info, parse_list, parse_node, parse_service, parse_task
from healer.policy import outlook
from healer.settings import LABEL_HEAL, Action, HealerSettings, Scope, service_policy
from healer.state import HealState
from healer.webhook import Failure, Reported, document
from swarm_sentinel.status.explain import Logs, explain, find
from swarm_sentinel.status.html import render_html, render_service_html, service_link
from swarm_sentinel.status.json import explanation_to_json
from swarm_sentinel.status.report import build_report
from swarm_sentinel.status.text import render_explanation_text
from tests.unit.samples import SampleSet
from tests.unit.test_status_page import LIVE, Page


def model_of(sample: SampleSet) -> SwarmModel:
    model = SwarmModel(clock=lambda: sample.now)
    model.set_info(parse_info(sample.load("info.json")))
    model.replace_nodes(parse_list(sample.load("nodes.json"), parse_node, "n")[0])
    model.replace_services(parse_list(sample.load("services-status.json"), parse_service, "s")[0])
    model.replace_tasks(parse_list(sample.load("tasks.json"), parse_task, "t")[0], None, whole=True)
    planning.explain_placements(model)
    return model


def test_a_crash_loop_says_which_exit_killed_it_where_and_when(sample: SampleSet) -> None:
    model = model_of(sample)
    view = find(model, "crashy")
    assert view is not None
    e = explain(model, view, now=sample.now, settings=HealerSettings())
    failed = [t for t in sample.raw_tasks("crashy") if t["Status"]["State"] == "failed"]
    assert len(e.failed) == min(len(failed), 10) and failed
    newest = e.failed[0]
    assert (newest.exit_code, newest.reason) == (3, "nonzero_exit")
    assert newest.error == "task: non-zero exit (3)"
    assert newest.node.startswith("lab-")  # the node's name, not its ID
    assert [f.at for f in e.failed] == sorted((f.at for f in e.failed), reverse=True)
    assert not e.converged and e.placement is None
    text = render_explanation_text(e)
    assert "LAST FAILED TASKS (newest first)" in text
    assert f"{newest.node}  3     nonzero_exit  task: non-zero exit (3)" in text
    assert "not healed: only services labelled swarm-sentinel.heal=true are" in text
    doc = explanation_to_json(e)
    assert doc["failed_tasks"][0]["exit_code"] == 3 and doc["converged"] is False
    json.dumps(doc)  # plain JSON


def test_a_pending_service_says_which_filter_excludes_which_node(sample: SampleSet) -> None:
    model = model_of(sample)
    view = find(model, "pinned")
    assert view is not None
    e = explain(model, view, now=sample.now, settings=HealerSettings())
    assert e.placement is not None and e.placement.fit == ()
    text = render_explanation_text(e)
    assert "0 of 4 nodes can take a task: node.labels." in text
    assert "WHERE A TASK COULD GO" in text and "drain" in text
    page = Page(render_service_html(e))
    assert "scheduling constraints" in page.by_id["stuck"]
    assert "lab-m2" in page.by_id["placement"]  # the drained manager, by name
    # The status report's problem line says it too, and links to this page.
    r = build_report(model, now=sample.now)
    line = next(p for p in r.problems if p.service == "pinned")
    assert "0 of 4 nodes can take a task" in line.text
    assert f'<a href="{service_link("pinned")}">' in render_html(r, LIVE)


def test_the_healers_outlook_follows_its_settings(sample: SampleSet) -> None:
    model = model_of(sample)
    view = find(model, "crashy")
    assert view is not None
    now = sample.now

    def says(
        settings: HealerSettings, state: HealState | None = None, heal: str | None = None
    ) -> str:
        labels = ((LABEL_HEAL, heal),) if heal is not None else ()
        svc = replace(view.service, labels=labels)
        policy, _ = service_policy(svc, settings)
        return outlook(replace(view, service=svc), policy, state or HealState(), now, settings)

    everyone = HealerSettings(scope=Scope.ALL, threshold=120)
    assert says(HealerSettings()).startswith("not healed")
    # The sample's crashy failed 5 times or more within 10 minutes: crash looping.
    assert says(HealerSettings(), heal="true").startswith("crash_looping: will force")
    assert "once broken for 2m" in says(everyone)
    assert says(replace(everyone, dry_run=True)).startswith("crash_looping: would force")
    patient = replace(everyone, crash_loop_restarts=100)
    assert says(patient).startswith("replicas_missing: will force")
    cooling = HealState(forces=(now - 60,), next_allowed=now + 240)
    assert "cooling down" in says(everyone, cooling) and says(everyone, cooling).startswith(
        "forced 1 time in 24h"
    )
    spent = HealState(forces=(now - 300, now - 200, now - 100), next_allowed=now + 600)
    assert "gave up after 3 forces" in says(replace(everyone, max_attempts=3), spent)
    job = replace(view, service=replace(view.service, mode="replicated-job"))
    policy, _ = service_policy(job.service, everyone)
    assert "never forced" in outlook(job, policy, HealState(), now, everyone)
    # An update paused on failure: forced, rolled back or left alone, as chosen.
    paused = replace(view, service=replace(view.service, update_state="paused"))

    def paused_says(settings: HealerSettings) -> str:
        p, _ = service_policy(paused.service, settings)
        return outlook(paused, p, HealState(), now, settings)

    assert paused_says(everyone).startswith("update_paused: will force")
    rollback = replace(everyone, on_update_paused=Action.ROLLBACK)
    assert paused_says(rollback).startswith("update_paused: will roll it back once broken")
    assert paused_says(replace(rollback, dry_run=True)).startswith(
        "update_paused: would roll it back (dry run)"
    )
    left = paused_says(replace(everyone, on_update_paused=Action.NONE))
    assert left.startswith("update paused: left to the operator")


def test_odd_names_and_log_lines_are_escaped_and_linked_safely(sample: SampleSet) -> None:
    model = model_of(sample)
    view = find(model, "crashy")
    assert view is not None
    odd = replace(view, service=replace(view.service, name="a<b>&c"))
    logs = Logs("t1", lines=("<script>alert(1)</script>", "ok"))
    html = render_service_html(
        explain(model, odd, now=sample.now, settings=HealerSettings(), logs=logs)
    )
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert service_link("a b/c") == "service/a%20b%2Fc"


@pytest.mark.parametrize("ref", ["crashy", "CRASHY"])
def test_a_service_is_found_by_name_or_id(sample: SampleSet, ref: str) -> None:
    model = model_of(sample)
    found = find(model, ref)
    if ref == "crashy":
        assert found is not None
        assert find(model, found.service.id[:8]) == found
    else:
        assert found is None  # names are exact
    assert find(model, "") is None


def test_the_webhook_carries_the_failed_task_and_its_logs_only_when_asked() -> None:
    failure = Failure("t1", 1_800_000_000.0, "lab-w1", 3, "nonzero_exit", "task: non-zero exit (3)")
    r = Reported(
        time=1_800_000_001.0, service_id="s", service_name="crashy", stack="",
        reason="crash_looping", result="forced", action="force", attempts=1, next_allowed=0.0,
        running=0,
        desired=2, error="", force_error="", dry_run=False, node_id="n", hostname="lab-m1",
        failure=failure,
    )  # fmt: skip
    doc = document(r, "unix:///x")
    assert doc["failure"] == {
        "task_id": "t1",
        "at": "2027-01-15T08:00:00Z",
        "node": "lab-w1",
        "exit_code": 3,
        "reason": "nonzero_exit",
        "error": "task: non-zero exit (3)",
    }
    assert "logs" not in doc
    with_logs = document(r, "unix:///x", (("boom",), ""))
    assert with_logs["logs"] == {"lines": ["boom"], "problem": None}
