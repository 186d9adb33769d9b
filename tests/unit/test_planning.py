"""What a poll lists (``exporter.planning``): services whose counts moved or that
are not converged, and recoveries confirmed by fetching only the tasks on their way."""

from __future__ import annotations

from dataclasses import replace

from exporter import planning
from exporter.model import SwarmModel
from tests.unit.builders import NOW, model_with, service, task


def restarting_model() -> SwarmModel:
    """Slot 1 failed a poll ago and its replacement waits out its restart delay on n2."""
    model = model_with(service(running_tasks=1, desired_tasks=2))
    model.replace_tasks(
        [
            task("a2", 1, "ready", NOW - 3, node_id="n2", desired_state="ready"),
            task("b1", 2, "running", NOW - 60),
        ],
        ["s1"],
    )
    return model


def test_a_recovery_is_confirmed_by_fetching_only_the_tasks_on_their_way() -> None:
    model = restarting_model()
    assert model.views["s1"].running == 1
    fresh = service(running_tasks=2, desired_tasks=2)
    assert planning.recoveries(model, {"s1": fresh}) == ["s1"]
    model.upsert_service(fresh)
    assert planning.on_their_way(model, ["s1"]) == ["a2"]
    ran = task("a2", 1, "running", NOW - 1, node_id="n2")
    assert planning.confirm_recovered(model, ["s1"], [ran]) == []
    view = model.views["s1"]
    assert (view.running, view.desired, view.task_states) == (2, 2, {"running": 2})
    assert view.running_per_node == {"n1": 1, "n2": 1}
    assert view.running_since == NOW - 1  # the engine's time, not the poll's


def test_a_recovery_the_fetch_does_not_confirm_is_listed() -> None:
    fresh = service(running_tasks=2, desired_tasks=2)
    # a2 failed and was replaced between the list and the answer; or it is still
    # starting; or the engine no longer holds it.
    failed = task("a2", 1, "failed", NOW - 1, node_id="n2", desired_state="shutdown")
    for fetched in ([failed], [task("a2", 1, "starting", NOW - 1, node_id="n2")], []):
        model = restarting_model()
        model.upsert_service(fresh)
        before = model.views["s1"]
        assert planning.confirm_recovered(model, ["s1"], fetched) == ["s1"], fetched
        assert model.views["s1"] == before  # nothing applied: the list will say


def test_a_rise_the_tasks_held_do_not_explain_is_listed() -> None:
    model = restarting_model()
    up = service(running_tasks=2, desired_tasks=2)
    not_recoveries = {
        "still one down": service(running_tasks=1, desired_tasks=2, version=1),
        "a new spec": replace(up, version=2),
        "an update under way": replace(up, update_state="updating"),
        "scaled": service(replicas=3, running_tasks=3, desired_tasks=3),
        "a one-shot": replace(up, restart_condition="on-failure"),
    }
    for why, fresh in not_recoveries.items():
        assert planning.recoveries(model, {"s1": fresh}) == [], why
    # A replacement not yet on a node, or one the orchestrator shut down, may never run.
    waiting = task("a2", 1, "ready", NOW - 3, node_id="n2", desired_state="ready")
    for odd in (dict(node_id=""), dict(desired_state="shutdown"), dict(state="failed")):
        model = restarting_model()
        model.replace_tasks(
            [replace(waiting, **odd), task("b1", 2, "running", NOW - 60)],  # type: ignore[arg-type]
            ["s1"],
        )
        assert planning.recoveries(model, {"s1": up}) == [], odd
    # All running at both answers while a listed task was on its way: a crash loop
    # can look like that, so it is listed again.
    model = model_with(service(running_tasks=2, desired_tasks=2))
    model.replace_tasks([waiting, task("b1", 2, "running", NOW - 60)], ["s1"])
    assert planning.recoveries(model, {"s1": up}) == []
    # The list after the last answer saw more on their way than that answer counted
    # down (the two were seconds apart), or fewer: all run now either way.
    for running_before in (0, 1):
        model = model_with(service(running_tasks=running_before, desired_tasks=2))
        model.replace_tasks([waiting, replace(waiting, id="b2", slot=2)], ["s1"])
        assert planning.recoveries(model, {"s1": up}) == ["s1"], running_before
    model = restarting_model()
    model.replace_tasks(
        [task("a2", 1, "running", NOW - 1), task("b1", 2, "running", NOW - 60)], ["s1"]
    )
    assert planning.recoveries(model, {"s1": up}) == ["s1"]  # nothing to mark: nothing to list
    # Never listed: nothing to mark.
    never = model_with(service(running_tasks=1, desired_tasks=2))
    assert planning.recoveries(never, {"s1": up}) == []


def test_what_is_listed_at_a_poll() -> None:
    model = model_with(service(running_tasks=2, desired_tasks=2))
    running = [task("a1", 1, "running", NOW - 60), task("b1", 2, "running", NOW - 60)]
    model.replace_tasks(running, ["s1"])
    same = service(running_tasks=2, desired_tasks=2)
    assert planning.services_needing_tasks(model, {"s1": same}) == []
    listed = {
        "counts moved": service(running_tasks=1, desired_tasks=2),
        "a new spec": service(running_tasks=2, desired_tasks=2, version=2),
        # A rolling update may keep every count while it replaces the tasks.
        "an update under way": service(running_tasks=2, desired_tasks=2, update_state="updating"),
    }
    for why, fresh in listed.items():
        assert planning.services_needing_tasks(model, {"s1": fresh}) == ["s1"], why
    model.upsert_service(service(running_tasks=1, desired_tasks=2))
    # Below desired with the same counts as before: a crash loop looks so.
    assert planning.services_needing_tasks(model, {"s1": service(running_tasks=1, desired_tasks=2)})
    stuck = model_with(service(replicas=1, running_tasks=1, desired_tasks=1))
    stuck.replace_tasks([task("p1", 1, "pending", NOW - 9, err="no suitable node")], ["s1"])
    assert planning.services_needing_tasks(stuck, {"s1": service(running_tasks=1, desired_tasks=1)})
