"""Did the deploy work? One service's verdict from what the engine says of it now: the
pure part of ``swarm-sentinel wait`` (``command.py`` reads the engine and prints).

A service has converged on its current spec when its update is neither under way nor
paused nor rolled back, as many of its tasks run on its current spec as it wants
(``ServiceView.updated``, ``exporter.specs``: a task's own copy of the spec against
the service's), and the newest of them has run for the update's monitor window (by
the engine's clock, as the docker CLI's ``--detach=false`` waits for tasks to be
stable: a task that crashes a second after it started is no success); a job, when it
has no work left. A service the deploy did not change has run for long: done at once.

It has failed when the engine rolled its update back or paused it, or when its tasks
on the current spec keep failing (a crash loop: the update's monitor window passed,
or its failure action is ``continue``, or the service is new). What keeps a task from
running (no suitable node, an image pull) is named when the time is up.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from common.text import one_line
from exporter.types import Task
from exporter.views import ServiceView


class Ending(StrEnum):
    CONVERGED = "converged"
    ROLLED_BACK = "rolled_back"
    PAUSED = "paused"
    CRASH_LOOP = "crash_loop"
    TIMEOUT = "timeout"


EXIT_CODES = {
    Ending.CONVERGED: 0,
    Ending.ROLLED_BACK: 1,
    Ending.PAUSED: 3,
    Ending.CRASH_LOOP: 4,
    Ending.TIMEOUT: 5,
}
"""The process's exit code for each ending; 2 is no view of the swarm, no such service or
a bad flag, as for ``status`` and ``explain``."""

CRASH_LOOP_FAILURES = 3
"""Tasks on the current spec that failed while waiting, after which it is a crash loop
(the engine restarts a failed task after 5 s by default: about 15 s of them)."""

ROLLBACK_STATES = ("rollback_started", "rollback_paused", "rollback_completed")
_TASK_ID = re.compile(r"\btask ([0-9a-z]{25})\b")
"""A task's ID in the engine's update messages ("... early termination of task X")."""


@dataclass(frozen=True, slots=True)
class Verdict:
    service: str
    stack: str
    phase: str
    """What it is doing: updating, rolling back, starting, running, converged, ..."""
    updated: int
    """Running tasks on the current spec (a job: completions)."""
    desired: int
    update_state: str
    ending: Ending | None = None
    """None while it goes on."""
    detail: str = ""
    """The engine's words on how it ended, or on what keeps it from converging."""

    @property
    def progress(self) -> str:
        """``shop_api: updating, 3/6 updated``: a line printed each time it changes."""
        done = "completed" if self.phase == "job" else "updated"
        return f"{self.service}: {self.phase}, {self.updated}/{self.desired} {done}"

    @property
    def line(self) -> str:
        """The one line that says how it ended, naming the service and the engine's words."""
        if self.ending is None:
            return self.progress
        if self.ending == Ending.CONVERGED:
            return f"{self.service}: converged, {self.updated}/{self.desired} on its current spec"
        said = f": {self.detail}" if self.detail else ""
        return f"{self.service}: {_ENDED[self.ending]}{said}"


_ENDED = {
    Ending.ROLLED_BACK: "rolled back",
    Ending.PAUSED: "update paused",
    Ending.CRASH_LOOP: "crash loop on the new spec",
    Ending.TIMEOUT: "not converged in time",
}


def judge(view: ServiceView, failed: Sequence[Task], engine_now: float) -> Verdict:
    """``view`` as a deploy's verdict; ``failed``: its tasks on the current spec that
    failed since the wait began, newest first; ``engine_now``: the engine's clock (0:
    unknown, and no task is waited on to be stable)."""
    svc = view.service
    state = svc.update_state
    job = svc.is_job
    if job:
        total = view.completions_desired or 0
        updated, desired = view.completions_succeeded or 0, total
    else:
        updated, desired = view.updated, view.desired
    base = Verdict(svc.name, svc.stack, _phase(view), updated, desired, state)

    def ended(ending: Ending, detail: str) -> Verdict:
        return Verdict(
            base.service, base.stack, base.phase, updated, desired, state, ending, detail
        )

    if state in ROLLBACK_STATES:
        return ended(Ending.ROLLED_BACK, _engine_says(svc.update_message, state, view, failed))
    if state == "paused":
        return ended(Ending.PAUSED, _engine_says(svc.update_message, state, view, failed))
    if len(failed) >= CRASH_LOOP_FAILURES:
        newest = failed[0]
        return ended(
            Ending.CRASH_LOOP,
            f"{len(failed)} of its tasks failed while waiting, the last: "
            f"{one_line(newest.err) or newest.state}",
        )
    if view.updating:
        return base
    if job:
        return ended(Ending.CONVERGED, "") if view.desired <= 0 and updated >= desired else base
    if updated < desired or view.running < view.desired:
        return base
    monitor = svc.update_config.monitor
    if engine_now and view.running_since and engine_now - view.running_since < monitor:
        return replace(base, phase="verifying")
    return ended(Ending.CONVERGED, "")


def timed_out(verdict: Verdict, view: ServiceView, waited: str) -> Verdict:
    """The verdict of a service not converged when the time is up: what keeps it."""
    detail = f"after {waited}, {verdict.updated}/{verdict.desired} on its current spec"
    held = holding(view)
    return Verdict(
        verdict.service,
        verdict.stack,
        verdict.phase,
        verdict.updated,
        verdict.desired,
        verdict.update_state,
        Ending.TIMEOUT,
        f"{detail}; {held}" if held else detail,
    )


def holding(view: ServiceView) -> str:
    """What keeps its tasks from running, in the engine's words and the scheduler's: a
    task stuck before running, and for a pending one, each node's filter."""
    if not view.stuck:
        if view.service.update_state:
            return f"update {view.service.update_state}: {one_line(view.service.update_message)}"
        return ""
    (state, reason), _ = min(view.stuck.items(), key=lambda kv: kv[1])
    words = one_line(view.stuck_errors.get((state, reason), ""))
    out = f"a task {state}" + (f": {words}" if words else f" ({reason})")
    if view.placement is not None and state == "pending":
        out += f"; {view.placement.explain()}"
    return out


def _phase(view: ServiceView) -> str:
    svc = view.service
    if svc.is_job:
        return "job"
    if svc.update_state == "updating":
        return "updating"
    if svc.update_state == "rollback_started":
        return "rolling back"
    if view.stuck and view.running < view.desired:
        return "starting" if view.running == 0 else "replacing"
    return "running"


def _engine_says(message: str, state: str, view: ServiceView, failed: Sequence[Task]) -> str:
    """The engine's message on its update, with the error of the task it names (or the
    newest failure seen), which says why."""
    words = one_line(message) or state
    named = _TASK_ID.search(message)
    cause = None
    if named is not None:
        cause = next((t for t in (*failed, *view.recent_failures) if t.id == named[1]), None)
    if cause is None:
        newest = (*failed, *view.recent_failures)
        cause = newest[0] if newest else None
    if cause is not None and cause.err:
        return f"{words} ({one_line(cause.err)})"
    return words
