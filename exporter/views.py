"""What the model derives of one service: the object the metrics, the status report,
``explain`` and the healer read (``SwarmModel.views``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from exporter.placement import Placement
from exporter.types import UPDATING_STATES, Service, Task

JOB_STATES = ("active", "succeeded", "failed")


@dataclass(frozen=True, slots=True)
class ServiceView:
    """A service with what its current tasks say about it."""

    service: Service
    desired: int
    running: int
    task_states: Mapping[str, int]  # latest task per slot, by observed state
    # (state, reason) -> since when the oldest current task has been in that
    # pre-running state.
    stuck: Mapping[tuple[str, str], float]
    failures: Mapping[str, int]  # reason -> tasks seen entering failed/rejected
    running_per_node: Mapping[str, int]
    last_error: str
    """The newest error text among its tasks as last listed, history included: a crash
    loop's current task is often a fresh one with no error yet."""
    tasks_known: bool  # False until its tasks were listed once
    # When the last of its running tasks started running (0 if none runs): a
    # converged service has been healthy at least since then, which is what a
    # restarted healer can know without having watched it.
    running_since: float = 0.0
    last_error_at: float = 0.0
    last_error_reason: str = "none"  # exporter.reasons vocabulary
    stuck_errors: Mapping[tuple[str, str], str] = field(default_factory=dict)
    """The engine's words for each stuck (state, reason), e.g. "no suitable node
    (scheduling constraints not satisfied on 3 nodes ...)"."""
    restarts: tuple[float, ...] = ()
    """When its tasks failed (and were replaced), oldest first, within ``RESTART_MEMORY``:
    a crash loop shows here while its running count, at poll time, looks fine."""
    completions_desired: int | None = None
    """Jobs and one-shots: tasks to run to completion (None for any other service)."""
    completions_succeeded: int | None = None
    """Jobs and one-shots: tasks that completed."""
    recent_failures: tuple[Task, ...] = ()
    """Its last failed tasks counted (at most ``RECENT_FAILURES``), newest first."""
    placement: Placement | None = None
    """While a task of it is pending: where one more could go, node by node (see
    ``planning.explain_placements``)."""
    updated: int = 0
    """Of ``running``, those on the service's current spec (``exporter.specs``): how far a
    rolling update (or a rollback) has got."""
    job_state: str = ""
    """Jobs and one-shots: ``active`` (a task runs or is to run), ``succeeded`` (its
    completions done), ``failed`` (nothing more runs, completions short, the last task
    to end failed); "" for any other service."""
    last_success: float = 0.0
    """Jobs and one-shots: when a task of it last completed (0: not seen to)."""

    @property
    def pending(self) -> bool:
        """Whether a task of it waits for the scheduler to find it a node."""
        return any(state == "pending" for state, _ in self.stuck)

    @property
    def converged(self) -> bool:
        return self.running >= self.desired

    @property
    def updating(self) -> bool:
        return self.service.update_state in UPDATING_STATES
