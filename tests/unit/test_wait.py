"""``swarm-sentinel wait`` offline: each service's verdict from the model (what the
engine says of it now), the services it waits on, and what it prints. The command
against a real engine, deploy by deploy, is tested on the lab
(tests/lab/test_deploy_verdict.py)."""

from __future__ import annotations

import io
import json
from dataclasses import replace

from exporter.model import SwarmModel
from exporter.parse import parse_list, parse_service, parse_task
from exporter.types import Task, UpdateConfig
from exporter.views import ServiceView
from swarm_sentinel.wait.command import Output, Target, failed_since
from swarm_sentinel.wait.verdict import EXIT_CODES, Ending, judge, timed_out
from tests.unit.builders import NOW, model_with, service, task
from tests.unit.samples import SampleSet

NEW, OLD = "digest-of-the-new-spec", "digest-of-the-old-spec"
FAILED_ID = "q3dugw2ze6etb51xoiet40s0l"


def view_of(tasks: list[Task], **svc: object) -> ServiceView:
    model = model_with(service(template_digest=NEW, **svc))
    model.replace_tasks(tasks, None, whole=True)
    return model.views["s1"]


def running(slot: int, digest: str = NEW, at: float = NOW - 60) -> Task:
    return task(f"t{slot}{digest[:3]}", slot, "running", at, spec_digest=digest)


def failed(tid: str, slot: int, at: float, err: str = "task: non-zero exit (3)") -> Task:
    return task(tid, slot, "failed", at, err=err, spec_digest=NEW, desired_state="shutdown")


def test_replicas_updated_are_the_running_tasks_on_the_current_spec() -> None:
    v = view_of([running(1, NEW), running(2, OLD)])
    assert (v.running, v.updated) == (2, 1)
    assert view_of([running(1, ""), running(2, "")]).updated == 0  # unknown is not current


def test_converged_once_its_newest_task_ran_for_the_monitor_window() -> None:
    v = view_of([running(1, at=NOW - 3), running(2, at=NOW - 60)])
    young = judge(v, [], NOW)
    assert young.ending is None and young.phase == "verifying"
    assert young.progress == "web: verifying, 2/2 updated"
    settled = judge(v, [], NOW + 2)
    assert settled.ending == Ending.CONVERGED and EXIT_CODES[settled.ending] == 0
    assert settled.line == "web: converged, 2/2 on its current spec"
    # A longer monitor window is waited for, and a service that did not change is done
    # at once: its tasks ran long ago.
    slow = view_of([running(1, at=NOW - 8), running(2)], update_config=UpdateConfig(monitor=10))
    assert judge(slow, [], NOW).ending is None
    assert judge(view_of([running(1), running(2)]), [], NOW).ending == Ending.CONVERGED


def test_waits_while_updating_or_on_the_old_spec() -> None:
    half = view_of([running(1, NEW), running(2, OLD)], update_state="updating")
    v = judge(half, [], NOW)
    assert (v.ending, v.phase, v.progress) == (None, "updating", "web: updating, 1/2 updated")
    # The updater has not started yet (the engine clears the status at each update):
    # the tasks on the old spec say it is not done.
    assert judge(view_of([running(1, OLD), running(2, OLD)]), [], NOW).ending is None
    # All on the new spec, but the engine has not said the update completed.
    done_but = view_of([running(1), running(2)], update_state="updating")
    assert judge(done_but, [], NOW).ending is None


def test_a_rollback_names_the_engines_message_and_the_failed_tasks_error() -> None:
    message = f"update rolled back due to failure or early termination of task {FAILED_ID}"
    v = view_of(
        [running(1, OLD), failed(FAILED_ID, 2, NOW - 5)],
        update_state="rollback_started",
        update_message=message,
    )
    verdict = judge(v, [], NOW)
    assert verdict.ending == Ending.ROLLED_BACK and EXIT_CODES[verdict.ending] == 1
    assert verdict.line == f"web: rolled back: {message} (task: non-zero exit (3))"
    completed = replace(v.service, update_state="rollback_completed", update_message="")
    assert judge(replace(v, service=completed), [], NOW).detail == (
        "rollback_completed (task: non-zero exit (3))"
    )


def test_a_paused_update() -> None:
    v = view_of([running(1, OLD)], update_state="paused", update_message="update paused due")
    verdict = judge(v, [], NOW)
    assert verdict.ending == Ending.PAUSED and EXIT_CODES[verdict.ending] == 3
    assert verdict.line == "web: update paused: update paused due"


def test_a_crash_loop_on_the_current_spec() -> None:
    fails = [failed(f"f{i}", 1, NOW - i, f"task: non-zero exit ({i})") for i in range(3)]
    v = view_of([running(1, at=NOW - 1), running(2)])
    assert judge(v, fails[:2], NOW).ending is None
    verdict = judge(v, fails, NOW)
    assert verdict.ending == Ending.CRASH_LOOP and EXIT_CODES[verdict.ending] == 4
    assert verdict.detail.endswith("the last: task: non-zero exit (0)")


def test_a_job_is_done_when_its_completions_are() -> None:
    job = {"mode": "replicated-job", "replicas": 2, "restart_condition": "on-failure"}
    half = judge(view_of([], completed_tasks=1, **job), [], NOW)
    assert (half.ending, half.progress) == (None, "web: job, 1/2 completed")
    assert judge(view_of([], completed_tasks=2, **job), [], NOW).ending == Ending.CONVERGED


def test_on_timeout_it_names_what_keeps_a_task_from_running() -> None:
    pending = task(
        "p1", 1, "pending", NOW - 30, spec_digest=NEW,
        err="no suitable node (scheduling constraints not satisfied on 4 nodes)",
    )  # fmt: skip
    v = view_of([pending])
    verdict = timed_out(judge(v, [], NOW), v, "30s")
    assert verdict.ending == Ending.TIMEOUT and EXIT_CODES[verdict.ending] == 5
    assert verdict.line == (
        "web: not converged in time: after 30s, 0/2 on its current spec; a task pending: "
        "no suitable node (scheduling constraints not satisfied on 4 nodes)"
    )


def test_failures_counted_are_new_ones_on_the_current_spec() -> None:
    model = model_with(service(template_digest=NEW))
    tasks = [
        failed("old", 1, NOW - 100),
        failed("new2", 1, NOW - 2),
        failed("new1", 1, NOW - 9),
        replace(failed("other", 2, NOW - 1), spec_digest=OLD),
    ]
    got = failed_since(model, tasks, {"old"})
    assert [t.id for t in got["s1"]] == ["new2", "new1"]


def test_how_each_real_update_ended_is_judged(sample: SampleSet) -> None:
    # The engines' own answers (lab.capture --updates), judged a minute after them.
    model = SwarmModel(clock=lambda: sample.now)
    model.replace_services(parse_list(sample.load("services-updates.json"), parse_service, "s")[0])
    tasks = parse_list(sample.load("tasks-updates.json"), parse_task, "t")[0]
    model.replace_tasks(tasks, None, whole=True)
    views = {v.service.name: v for v in model.views.values()}
    later = max(t.timestamp for t in tasks) + 60
    said = {n: judge(v, [], later) for n, v in views.items()}
    assert {n: v.ending for n, v in said.items()} == {
        "updated": Ending.CONVERGED,
        "bare": Ending.CONVERGED,
        "rolledback": Ending.ROLLED_BACK,
        "byhand": Ending.ROLLED_BACK,
        "paused": Ending.PAUSED,
    }
    # Rolled back or paused, the failed task of the new version says why.
    for name in ("rolledback", "byhand", "paused"):
        assert said[name].detail.endswith("(task: non-zero exit (3))"), said[name]
    # Tasks on the current spec: all, after a completed update or a rollback; none of the
    # paused update's (its old task runs the previous spec).
    assert {n: (v.updated, v.running) for n, v in views.items()} == {
        "updated": (2, 2), "bare": (1, 1), "rolledback": (2, 2), "byhand": (2, 2),
        "paused": (0, views["paused"].running),
    }  # fmt: skip


def test_the_services_waited_on() -> None:
    shop = Target(stack="shop")
    assert shop.filters == {"label": ["com.docker.stack.namespace=shop"]}
    in_shop = service(labels=(("com.docker.stack.namespace", "shop"),))
    assert shop.selects(in_shop) and not shop.selects(service())
    assert shop.missing([]) == "no services in stack 'shop'" and shop.missing([in_shop]) == ""
    named = Target(names=("web", "api"))
    assert named.filters == {"name": ["web", "api"]}
    # The engine's name filter matches prefixes: only the exact name is waited on.
    assert named.selects(service()) and not named.selects(service(name="web2"))
    assert named.missing([service()]) == "no service 'api'"


def test_text_for_people_and_json_lines_for_tools() -> None:
    v = judge(view_of([running(1, OLD)], update_state="paused", update_message="x"), [], NOW)
    out, err = io.StringIO(), io.StringIO()
    text = Output("text", out, err, clock=lambda: NOW)
    text.progress(v)
    text.ended(v)
    text.done(Ending.PAUSED, 3, 4.2, 1)
    assert out.getvalue() == "web: running, 0/2 updated\n"
    assert err.getvalue() == "web: update paused: x\n"  # the one line, for the log's reader
    out = io.StringIO()
    machine = Output("json", out, io.StringIO(), clock=lambda: NOW)
    machine.progress(v)
    machine.ended(v)
    machine.done(Ending.PAUSED, 3, 4.2, 1)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [d["event"] for d in lines] == ["progress", "verdict", "done"]
    assert lines[1]["ending"] == "paused" and lines[1]["message"] == "x"
    assert lines[2] == {
        "event": "done", "time": "1970-01-12T13:46:40Z", "ending": "paused",
        "exit_code": 3, "seconds": 4.2, "services": 1,
    }  # fmt: skip
