"""What the managers' task lists tell the model (``exporter.model``): current tasks
only, replaced tasks fetched by ID, whole histories where a crash loop outran them,
jobs and one-shots, crash loops."""

from __future__ import annotations

from dataclasses import replace

from exporter.slots import Ended
from exporter.types import Task
from exporter.views import ServiceView
from healer.policy import Reason, crash_looping, problem
from healer.settings import HealerSettings
from healer.state import HealState
from tests.unit.builders import NOW, model_with, service, task


def test_a_replaced_task_is_fetched_once_and_counted_once_if_it_failed() -> None:
    model = model_with(service())
    first = [task("a1", 1, "running", NOW - 60), task("b1", 2, "running", NOW - 60)]
    assert model.replace_tasks(first, ["s1"]) == []  # nothing known before
    # The current list after a1 failed and was replaced by a2: a1 is not in it.
    second = [task("a2", 1, "running", NOW - 9), task("b1", 2, "running", NOW - 60)]
    ended = model.replace_tasks(second, ["s1"])
    assert ended == [Ended("a1", "s1", ("s1", 1))]
    failed = task("a1", 1, "failed", NOW - 10, err="task: non-zero exit (3)", exit_code=3)
    # Replaced as it ended: nothing in between, no whole history to list.
    assert model.record_ended(ended, [replace(failed, desired_state="shutdown")]) == []
    view = model.views["s1"]
    assert view.failures == {"nonzero_exit": 1}
    assert view.restarts == (NOW - 10,)
    assert view.last_error == "task: non-zero exit (3)"
    # Fetched again (a later relist, a retried poll): not counted twice.
    model.record_ended(ended, [failed])
    assert model.views["s1"].failures == {"nonzero_exit": 1}
    # Listed while still failed and current, then fetched when replaced: once.
    b_failed = task("b1", 2, "failed", NOW - 3, err="task: non-zero exit (1)", exit_code=1)
    model.replace_tasks([task("a2", 1, "running", NOW - 5), b_failed], ["s1"])
    ended = model.replace_tasks(
        [task("a2", 1, "running", NOW - 5), task("b2", 2, "running", NOW - 1)], ["s1"]
    )
    assert ended == []  # already counted: no need to fetch it
    assert model.views["s1"].failures == {"nonzero_exit": 2}
    assert len(model.views["s1"].restarts) == 2


def test_a_task_replaced_by_an_update_counts_no_failure() -> None:
    model = model_with(service())
    model.replace_tasks([task("a1", 1, "running", NOW - 60)], ["s1"])
    ended = model.replace_tasks([task("a2", 1, "running", NOW - 5)], ["s1"])
    assert [e.task_id for e in ended] == ["a1"]
    shutdown = task("a1", 1, "shutdown", NOW - 6, desired_state="shutdown")
    assert model.record_ended(ended, [shutdown]) == []
    assert model.views["s1"].failures == {}
    assert model.views["s1"].restarts == ()


def test_whole_histories_count_every_failure_they_hold() -> None:
    model = model_with(service(replicas=1))
    history = [
        task(f"t{i}", 1, "failed", NOW - 100 + i * 10, err="task: non-zero exit (1)")
        for i in range(4)
    ] + [task("t4", 1, "running", NOW - 5)]
    assert model.replace_tasks(history, ["s1"]) == []
    assert model.views["s1"].failures == {"nonzero_exit": 4}
    assert len(model.views["s1"].restarts) == 4
    model.replace_tasks(history, ["s1"])
    assert model.views["s1"].failures == {"nonzero_exit": 4}


def test_a_one_shot_whose_tasks_completed_is_not_down() -> None:
    once = service(restart_condition="none", replicas=3)
    model = model_with(once)
    done = dict(desired_state="shutdown")
    model.replace_tasks(
        [
            task("a", 1, "complete", NOW - 9, **done),
            task("b", 2, "failed", NOW - 9, err="task: non-zero exit (4)", **done),
            task("c", 3, "running", NOW - 9),
        ],
        ["s1"],
    )
    view = model.views["s1"]
    # Slot 1 is done, slot 2 failed for good (restart condition none): only 3 runs.
    assert (view.desired, view.running) == (1, 1)
    assert (view.completions_desired, view.completions_succeeded) == (3, 1)


def test_a_one_shot_that_failed_is_done_whatever_it_is_desired() -> None:
    # A failed task before the orchestrator shut it down (desired still running), and
    # after (shutdown): under restart condition none the slot is over either way.
    for desired in ("running", "shutdown"):
        model = model_with(service(restart_condition="none", replicas=2))
        model.replace_tasks(
            [
                task(
                    "a", 1, "failed", NOW - 9, err="task: non-zero exit (1)", desired_state=desired
                ),
                task("b", 2, "pending", NOW - 9),
            ],
            ["s1"],
        )
        view = model.views["s1"]
        assert (view.desired, view.running) == (1, 0), desired  # slot 2 has yet to run
        assert (view.completions_desired, view.completions_succeeded) == (2, 0)


def test_on_failure_restarts_failures_only() -> None:
    model = model_with(service(restart_condition="on-failure", replicas=3))
    model.replace_tasks(
        [
            task("a", 1, "complete", NOW - 9, desired_state="shutdown"),
            task("b", 2, "ready", NOW - 2, desired_state="ready"),  # waiting out its delay
            # Its restart attempts used up: the orchestrator gave up on a failure, which
            # is down, not done.
            task("c", 3, "failed", NOW - 9, desired_state="shutdown"),
        ],
        ["s1"],
    )
    view = model.views["s1"]
    assert (view.desired, view.running) == (2, 0)
    assert (view.completions_desired, view.completions_succeeded) == (3, 1)


def test_jobs_want_only_the_work_left() -> None:
    job = service(
        mode="replicated-job", replicas=5, max_concurrent=2, completed_tasks=4, desired_tasks=2
    )
    model = model_with(job)
    model.replace_tasks([task("a", 1, "running", NOW - 1, desired_state="complete")], ["s1"])
    view = model.views["s1"]
    assert (view.desired, view.completions_desired, view.completions_succeeded) == (1, 5, 4)
    model.upsert_service(replace(job, completed_tasks=5, version=2))
    assert model.views["s1"].desired == 0  # done: the engine still says DesiredTasks 2
    glob = service(mode="global-job", replicas=None, completed_tasks=3, desired_tasks=0)
    model.upsert_service(replace(glob, id="s2", name="sweep"))
    view = model.views["s2"]
    assert (view.desired, view.completions_desired, view.completions_succeeded) == (0, 3, 3)


def test_crash_looping_counts_failures_in_the_window_since_the_last_force() -> None:
    settings = HealerSettings(crash_loop_restarts=3, crash_loop_window=600)
    model = model_with(service(replicas=1))
    history = [
        task(f"t{i}", 1, "failed", NOW - 500 + i * 100, err="task: non-zero exit (1)")
        for i in range(4)
    ] + [task("t4", 1, "running", NOW - 5)]
    model.replace_tasks(history, ["s1"])
    view = model.views["s1"]
    assert view.running == view.desired == 1  # looks fine at this instant
    assert crashing(view, HealState(), settings)
    assert problem(view, None, True) == Reason.CRASH_LOOPING
    # Forced 250 s ago: only the 2 failures since count.
    assert not crashing(view, HealState(forces=(NOW - 250,)), settings)
    assert not crashing(view, HealState(), replace(settings, crash_loop_window=250))
    # A one-shot or a job is never forced, crash looping or not.
    assert problem(replace(view, service=service(restart_condition="none")), None, True) is None
    assert problem(replace(view, service=service(mode="replicated-job")), None, True) is None
    # The loop is named, whether a replica is missing at this instant or not.
    assert problem(replace(view, running=0), None, True) == Reason.CRASH_LOOPING
    assert problem(replace(view, running=0), None, False) == Reason.REPLICAS_MISSING


def crashing(view: ServiceView, state: HealState, settings: HealerSettings) -> bool:
    return crash_looping(view, state, NOW, settings)


def failed(tid: str, slot: int, at: float) -> Task:
    return task(
        tid, slot, "failed", at, err="task: non-zero exit (3)", exit_code=3,
        desired_state="shutdown",
    )  # fmt: skip


def test_a_crash_loop_faster_than_the_polls_is_listed_whole_and_counted() -> None:
    """The engine keeps 5 tasks of a slot: by the next poll the task the model held
    is gone from it; the whole history still holds the last failures."""
    model = model_with(service(replicas=1, running_tasks=0, desired_tasks=1))
    model.replace_tasks([task("a1", 1, "running", NOW - 30)], ["s1"])
    waiting = task("a7", 1, "ready", NOW - 1, desired_state="ready")
    ended = model.replace_tasks([waiting], ["s1"])
    assert model.record_ended(ended, []) == ["s1"]  # a1 is gone: list it whole
    history = [failed(f"a{i}", 1, NOW - 20 + i) for i in range(2, 7)]
    assert model.replace_tasks([*history, waiting], ["s1"], whole=True) == []
    view = model.views["s1"]
    assert view.failures == {"nonzero_exit": 5}
    assert (view.running, view.task_states) == (0, {"ready": 1})  # the current task's
    assert (view.last_error_reason, view.last_error_at) == ("nonzero_exit", NOW - 14)
    assert [t.id for t in view.recent_failures] == ["a6", "a5", "a4", "a3", "a2"]
    # The next poll: a slot that failed twice since, the task held still there: counted
    # once, by ID, and no whole list (the nodes count every exit).
    later = failed("a7", 1, NOW + 1)
    current = task("a9", 1, "starting", NOW + 9)
    ended = model.replace_tasks([current], ["s1"])
    assert model.record_ended(ended, [later]) == []
    assert model.views["s1"].failures == {"nonzero_exit": 6}
    assert model.views["s1"].task_states == {"starting": 1}


def test_a_service_listed_whole_late_does_not_count_its_old_failures_as_new() -> None:
    model = model_with(service(replicas=1))
    # Healthy when first listed (current tasks only); its history holds an old failure.
    model.replace_tasks([task("b2", 1, "running", NOW - 3600)], ["s1"])
    old = task("b1", 1, "failed", NOW - 7200, err="task: non-zero exit (1)", exit_code=1)
    rolled = task("b3", 1, "running", NOW - 5)
    replaced = task("b2", 1, "shutdown", NOW - 6, desired_state="shutdown")
    model.replace_tasks([old, replaced, rolled], ["s1"], whole=True)
    view = model.views["s1"]
    assert (view.failures, view.restarts) == ({}, ())
    assert view.task_states == {"running": 1}
    # A failure after it was first listed is news.
    new = failed("b3", 1, NOW - 1)
    model.replace_tasks([old, replaced, new, task("b4", 1, "running", NOW)], ["s1"], whole=True)
    assert model.views["s1"].failures == {"nonzero_exit": 1}


def test_a_whole_list_reads_the_slots_as_a_current_list_does() -> None:
    """Scaled from 3 to 2: the third slot's task, shut down, is history, not a slot."""
    model = model_with(service(replicas=2))
    gone = task("c1", 3, "shutdown", NOW - 10, desired_state="shutdown")
    current = [task("a1", 1, "running", NOW - 60), task("b1", 2, "running", NOW - 60)]
    model.replace_tasks([*current, gone], ["s1"], whole=True)
    whole = model.views["s1"]
    model.replace_tasks(current, ["s1"])
    assert model.views["s1"] == whole
    assert whole.task_states == {"running": 2}


def test_the_eligible_count_cache_holds_only_the_constraints_of_live_services() -> None:
    """Stacks deployed and removed, each with its own constraint: the cache of node
    counts per constraint set (private: no figure shows it) keeps no removed one's."""
    model = model_with(service(id="kept", constraints=("node.role==manager",)))
    for i in range(1000):
        sid, own = f"preview{i}", (f"node.labels.pr=={i}",)
        model.upsert_service(service(id=sid, constraints=own))
        assert model.eligible_count(own) == 0
        if i % 2:
            model.upsert_service(service(id=sid, constraints=("node.role==worker",)))
            model.eligible_count(("node.role==worker",))
        model.remove_service(sid)
    model.eligible_count(("node.role==manager",))
    assert set(model._eligible) == {("node.role==manager",)}
