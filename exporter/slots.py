"""What the model keeps of one service's tasks: the latest task of each slot, the
failures counted from its tasks (each once), its newest error and its last failed
tasks; and what a poll must fetch again to count a failure (``Ended``)."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from exporter.reasons import classify
from exporter.types import FAILED_STATES, NOT_ENDED_STATES, Task

RESTART_MEMORY = 3600.0
"""Seconds a task failure is remembered as a restart (longer than any crash-loop window)."""
RECENT_FAILURES = 10
"""Failed tasks kept per service for ``explain`` (exit code, reason, node, time)."""
COUNTED_MEMORY = 7200.0
"""Seconds a counted failure is remembered once the engine no longer lists it: it may
be fetched again by ID (a replaced task) and must not count twice."""


@dataclass
class ServiceTasks:
    # Only the latest task of each slot is kept: history (5 tasks per slot by
    # default) would be most of the memory, and nothing derived needs it.
    latest: dict[tuple[str, int | str], Task] = field(default_factory=dict)
    # Failed tasks already counted: id -> when (model clock).
    counted: dict[str, float] = field(default_factory=dict)
    failures: Counter[str] = field(default_factory=Counter)
    restarts: deque[float] = field(default_factory=lambda: deque(maxlen=256))
    recent: deque[Task] = field(default_factory=lambda: deque(maxlen=RECENT_FAILURES))
    """The last failed tasks counted, oldest first: what ``explain`` shows."""
    known: bool = False
    newest_error: Task | None = None  # the newest task with an error seen

    active: bool = False
    """A job or a one-shot: a task of it still runs or is to run."""
    last_failed: bool = False
    """A job or a one-shot: the last of its tasks to end failed (or was rejected)."""
    last_success: float = 0.0
    """A job or a one-shot: when a task of it last completed (0: never seen to)."""

    history_before: float = 0.0
    """The engine's time of the newest task in the first list of current tasks: a failed
    task a whole history shows later, from before then, failed before it was watched
    (a service listed whole once it is in trouble must not count old failures as new)."""

    def count_failures(self, tasks: Iterable[Task], now: float) -> bool:
        """Count the failed ``tasks`` not counted before; whether any was."""
        new = False
        for t in tasks:
            if t.state in FAILED_STATES and t.id not in self.counted:
                self.counted[t.id] = now
                if t.timestamp and t.timestamp <= self.history_before:
                    continue  # known from now on, but not seen happen
                self.failures[classify(t.err, t.exit_code)] += 1
                self.restarts.append(t.timestamp or now)
                self.recent.append(t)
                new = True
        return new

    def note_outcome(self, tasks: Iterable[Task]) -> bool:
        """A job's or a one-shot's tasks as listed (its whole history): whether one still
        runs or is to run, whether the last to end failed, when one last completed.
        Whether any of it changed."""
        active, newest, success = False, None, self.last_success
        for t in tasks:
            if t.state in NOT_ENDED_STATES and current(t):
                active = True
            elif t.state == "complete" or t.state in FAILED_STATES:
                if newest is None or t.timestamp > newest.timestamp:
                    newest = t
                if t.state == "complete":
                    success = max(success, t.timestamp)
        failed = newest is not None and newest.state in FAILED_STATES
        before = (self.active, self.last_failed, self.last_success)
        self.active, self.last_failed, self.last_success = active, failed, success
        return before != (active, failed, success)

    def note_error(self, tasks: Iterable[Task]) -> bool:
        """Keep the newest task with an error among ``tasks`` and the one kept; whether
        it changed."""
        kept = [self.newest_error] if self.newest_error is not None else []
        newest = max((*kept, *(t for t in tasks if t.err)), key=lambda t: t.timestamp, default=None)
        if newest == self.newest_error:
            return False
        self.newest_error = newest
        return True


@dataclass(frozen=True, slots=True)
class Ended:
    """A task that was the latest of its slot and was replaced since the last list."""

    task_id: str
    service_id: str
    slot: tuple[str, int | str]


def current(task: Task) -> bool:
    """A task the orchestrator still stands behind (one whose desired state the engine
    did not say is taken as such)."""
    return task.current or not task.desired_state


def latest_per_slot(tasks: Iterable[Task]) -> dict[tuple[str, int | str], Task]:
    """The newest task of each slot (of each node, for global services)."""
    latest: dict[tuple[str, int | str], Task] = {}
    for t in tasks:
        key = t.slot_key
        cur = latest.get(key)
        if cur is None or (t.created_at, t.version) > (cur.created_at, cur.version):
            latest[key] = t
    return latest
