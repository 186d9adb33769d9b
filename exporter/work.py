"""What a service has left to do: the tasks it should run now, and for a job or a
one-shot its completions (desired, succeeded) and its state (``views.JOB_STATES``).
Work done is not work missing: a finished job or one-shot wants no task."""

from __future__ import annotations

from collections.abc import Callable

from exporter.slots import ServiceTasks
from exporter.types import NOT_ENDED_STATES, Service


def work_of(
    svc: Service, st: ServiceTasks, eligible: Callable[[], int]
) -> tuple[int, tuple[int, int] | None, str]:
    """Desired tasks, completions (None but for jobs and one-shots), job state (""
    but for them). ``eligible``: the ready, active nodes a global service may use.
    A failed job wants nothing more either: nothing of it runs again unless it is
    updated (its version moves, and it is listed again)."""
    desired, completions = _desired(svc, st, eligible)
    state = _job_state(st, completions)
    if state == "failed" and svc.is_job:
        desired = 0
    return desired, completions, state


def _desired(
    svc: Service, st: ServiceTasks, eligible: Callable[[], int]
) -> tuple[int, tuple[int, int] | None]:
    """Tasks the service should be running now, and for a job or a one-shot its
    completions (desired, succeeded): work done is not work missing."""
    latest = st.latest.values()
    done = sum(1 for t in latest if t.state == "complete")
    if svc.mode == "replicated-job":
        total = svc.replicas or 0
        succeeded = svc.completed_tasks if svc.completed_tasks is not None else done
        desired = max(0, total - succeeded)
        if svc.max_concurrent:
            desired = min(desired, svc.max_concurrent)
        return desired, (total, succeeded)
    if svc.mode == "global-job":
        # The engine counts the eligible nodes still without a completed task.
        desired = svc.desired_tasks if svc.desired_tasks is not None else 0
        succeeded = svc.completed_tasks if svc.completed_tasks is not None else done
        return desired, (succeeded + desired, succeeded)
    if svc.mode == "global":
        planned = eligible()
    elif svc.mode == "replicated" and svc.replicas is not None:
        planned = svc.replicas
    else:
        planned = svc.desired_tasks if svc.desired_tasks is not None else (svc.replicas or 0)
    if not svc.runs_once:
        return planned, None
    if not st.known:
        return planned, (planned, done)
    # A one-shot's slot is done, not down, once its task completed, or under
    # restart condition none once its task ended at all (a failure shows in the
    # exits). By the task's state: a failed task is still desired running until
    # the orchestrator has seen it fail and shut it down.
    # Under on-failure, a failed task the orchestrator gave up on is down.
    once = svc.restart_condition == "none"
    left = sum(
        1
        for t in latest
        if t.state != "complete" and (not once or (t.current and t.state in NOT_ENDED_STATES))
    )
    return min(planned, left), (planned, done)


def _job_state(st: ServiceTasks, completions: tuple[int, int] | None) -> str:
    """A job's or a one-shot's state (``views.JOB_STATES``); "" for any other service."""
    if completions is None:
        return ""
    planned, succeeded = completions
    if succeeded >= planned:
        return "succeeded"
    if st.known and not st.active and st.last_failed:
        return "failed"
    return "active"
