"""What a job or a one-shot has left to do, and how it ended (exporter.work)."""

from __future__ import annotations

from tests.unit.builders import model_with, service, task


def test_a_job_whose_restarts_gave_up_failed_and_wants_nothing() -> None:
    svc = service(mode="replicated-job", replicas=1, completed_tasks=0, restart_condition="none")
    model = model_with(svc)
    model.replace_tasks([task("t1", 0, "running", 1.0, desired_state="complete")], ["s1"])
    assert (model.views["s1"].job_state, model.views["s1"].desired) == ("active", 1)
    # Failed and shut down: the task is no longer current, only a whole history shows it.
    failed = task("t1", 0, "failed", 2.0, desired_state="shutdown", err="task: non-zero exit (1)")
    model.replace_tasks([failed], ["s1"], whole=True)
    view = model.views["s1"]
    assert (view.job_state, view.desired, view.last_success) == ("failed", 0, 0.0)


def test_a_job_between_two_attempts_is_active() -> None:
    svc = service(mode="replicated-job", replicas=1, completed_tasks=0)
    model = model_with(svc)
    model.replace_tasks(
        [
            task("t1", 0, "failed", 2.0, desired_state="shutdown"),
            task("t2", 0, "new", 3.0, desired_state="ready"),  # its restart delay
        ],
        ["s1"],
        whole=True,
    )
    assert model.views["s1"].job_state == "active"


def test_a_one_shot_that_completed_sets_its_last_success() -> None:
    svc = service(replicas=1, restart_condition="none")
    model = model_with(svc)
    model.replace_tasks(
        [
            task("t1", 1, "failed", 5.0, desired_state="shutdown"),
            task("t2", 1, "complete", 9.0, desired_state="shutdown"),
        ],
        ["s1"],
        whole=True,
    )
    view = model.views["s1"]
    assert (view.job_state, view.last_success) == ("succeeded", 9.0)
    # A later failed run: failed, and the last success stays.
    model.replace_tasks(
        [task("t3", 1, "failed", 20.0, desired_state="shutdown")], ["s1"], whole=True
    )
    view = model.views["s1"]
    assert (view.job_state, view.last_success) == ("failed", 9.0)


def test_other_services_have_no_job_state() -> None:
    model = model_with(service())
    model.replace_tasks([task("t1", 1, "running", 1.0)], ["s1"])
    assert (model.views["s1"].job_state, model.views["s1"].last_success) == ("", 0.0)
