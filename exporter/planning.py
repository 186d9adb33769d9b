"""What a poll lists, given a fresh ``/services?status=true`` answer and what the model
holds: the watcher's planning, beside it, reading the model through its narrow
accessors (``services``, ``views``, ``listed``, ``held``, ``placed``) and changing
it only through ``mark_running`` and ``set_placement``. And, once a poll, where a
pending task could go.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from exporter.model import SwarmModel
from exporter.placement import Placement, Placing, holds_more, node_use, placement_key
from exporter.types import PLACED_STATES, UPDATING_STATES, Service, Task

PASS = 2000
"""Services (or nodes) gone through in one step of ``placement_steps``."""


def services_needing_tasks(model: SwarmModel, status: Mapping[str, Service]) -> list[str]:
    """Services whose current tasks must be listed again, given a fresh status answer.

    Those whose counts, version or update state moved, those never listed, and
    those not converged: fewer running than desired (by the answer or by their
    tasks), a task stuck before running, or an update or rollback under way (a
    crash loop, a stuck task or a rolling update can keep the same counts while
    its tasks change).
    """
    out: list[str] = []
    for sid, fresh in status.items():
        old = model.services.get(sid)
        view = model.views.get(sid)
        if (
            old is None
            or not model.listed(sid)
            or (old.running_tasks, old.desired_tasks, old.version, old.update_state)
            != (fresh.running_tasks, fresh.desired_tasks, fresh.version, fresh.update_state)
            or (fresh.running_tasks or 0) < (fresh.desired_tasks or 0)
            or fresh.update_state in UPDATING_STATES
            or (view is not None and (not view.converged or bool(view.stuck)))
        ):
            out.append(sid)
    return out


def recoveries(model: SwarmModel, status: Mapping[str, Service]) -> list[str]:
    """Services whose move, in a fresh status answer, looks like a recovery.

    Their running count rose to all desired, with the same spec version, update
    state and desired count, and the tasks the model holds account for every slot:
    each runs, or is on its way on a node. Fetching those on their way by ID
    (``on_their_way``, then ``confirm_recovered``) costs a task each, where listing
    the service's tasks again costs them all. How many were on their way need not
    match the rise: the status answer and the list after it were taken seconds
    apart. A count that stayed all running while a listed task was on its way is
    listed again: a crash loop can look like that. One-shots and jobs are left out:
    their counts mean work done, not up.
    """
    out: list[str] = []
    for sid, fresh in status.items():
        old = model.services.get(sid)
        if old is None or not model.listed(sid) or fresh.runs_once:
            continue
        if fresh.running_tasks is None or old.running_tasks is None:
            continue
        if (old.version, old.update_state, old.desired_tasks) != (
            fresh.version,
            fresh.update_state,
            fresh.desired_tasks,
        ):
            continue
        if fresh.running_tasks <= old.running_tasks or fresh.running_tasks != fresh.desired_tasks:
            continue
        held = model.held(sid)
        if len(held) != fresh.desired_tasks:
            continue
        if all(t.state == "running" or _on_its_way(t) for t in held.values()):
            out.append(sid)
    return out


def on_their_way(model: SwarmModel, service_ids: Iterable[str]) -> list[str]:
    """The IDs of the tasks held for ``service_ids`` that do not run yet."""
    return [t.id for sid in service_ids for t in model.held(sid).values() if t.state != "running"]


def confirm_recovered(
    model: SwarmModel, service_ids: Iterable[str], fetched: Iterable[Task]
) -> list[str]:
    """Apply ``fetched`` (``on_their_way`` of ``service_ids``, by ID) where every such
    task of a service now runs and is still wanted: the recovery is confirmed, task by
    task. Returns the services it is not confirmed for (a task ended, was replaced or
    is not found): their tasks must be listed."""
    by_id = {t.id: t for t in fetched}
    unconfirmed: list[str] = []
    for sid in service_ids:
        if sid not in model.services:
            continue
        running: list[Task] = []
        for held in model.held(sid).values():
            if held.state == "running":
                continue
            now = by_id.get(held.id)
            if now is None or now.state != "running" or now.desired_state != "running":
                unconfirmed.append(sid)
                break
            running.append(now)
        else:
            model.mark_running(sid, running)
    return unconfirmed


def _on_its_way(task: Task) -> bool:
    """A task that will run unless it fails: placed, not ended, still wanted."""
    return (
        task.state in PLACED_STATES
        and task.state != "running"
        and bool(task.node_id)
        and task.desired_state in ("running", "ready")
    )


def explain_placements(model: SwarmModel) -> None:
    """Explain where one more task could go (``exporter.placement``) for every service
    with a task pending, and drop the explanation of those without (all at once: see
    ``placement_steps``)."""
    for _ in placement_steps(model):
        pass


def placement_steps(model: SwarmModel) -> Iterator[None]:
    """``explain_placements``, a step at a time (one placement worked out each), for a
    caller that yields to others between steps.

    Once a poll, not on every change: it reads every node and what every service
    holds on it, and a pending task's nodes change at any node's move. Replicated
    services alike in what placement reads (``placement_key``) share one
    explanation: at scale, one per service was seconds of work a poll. A global
    service's pending tasks are each meant for one node: only those nodes are looked
    at.
    """
    pending: list[str] = []
    special: dict[str, Mapping[str, int]] = {}
    placed = model.placed()
    # Passes over every service, a part at a time: each is milliseconds at scale.
    ids = list(model.services)
    for i in range(0, len(ids), PASS):
        for sid in ids[i : i + PASS]:
            view = model.views.get(sid)
            if view is not None and view.pending:
                pending.append(sid)
            svc = model.services.get(sid)
            if svc is not None and sid in placed and holds_more(svc):
                special[sid] = placed[sid]
        yield
    use = node_use(model.services, special, model.node_reserved) if pending else {}
    alike: dict[tuple[object, ...], Placement] = {}
    for sid in pending:
        view = model.views.get(sid)
        if view is None or not view.pending:
            continue  # changed between two steps
        svc = view.service
        key = None if svc.is_global else placement_key(svc)
        placement = alike.get(key) if key is not None else None
        if placement is None:
            nodes = list(model.nodes.values())
            if svc.is_global:
                meant = {t.node_id for t in model.held(sid).values() if t.state == "pending"}
                nodes = [n for n in nodes if n.id in meant]
            placing = Placing(svc, use)
            for j in range(0, len(nodes), PASS):
                placing.add(nodes[j : j + PASS])
                yield
            placement = placing.result()
            if key is not None:
                alike[key] = placement
        view = model.views.get(sid)
        if view is not None and view.pending:
            model.set_placement(sid, placement)
    placed_views = [sid for sid, v in model.views.items() if v.placement is not None]
    for sid in placed_views:
        view = model.views.get(sid)
        if view is not None and view.placement is not None and not view.pending:
            model.set_placement(sid, None)
