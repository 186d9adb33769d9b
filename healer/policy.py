"""What the healer should do about one service: pure functions, no I/O.

Everything here takes the time as an argument, so tests drive it with a fake
clock. ``observe`` keeps per-service memory (since when broken, since when
healthy); ``decide`` turns a service, its policy, its persisted back-off
state and the cluster's condition into one ``Decision``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from common.durations import format_duration
from common.text import iso_utc
from exporter.views import ServiceView
from healer.settings import (
    LABEL_HEAL,
    LABEL_UPDATE_PAUSED,
    Action,
    HealerSettings,
    Scope,
    ServicePolicy,
)
from healer.state import HealState


class Result(StrEnum):
    FORCED = "forced"
    ROLLED_BACK = "rolled_back"  # the engine took the rollback: the previous spec is back
    DRY_RUN = "dry_run"
    SKIPPED_COOLDOWN = "skipped_cooldown"
    SKIPPED_RATE_LIMIT = "skipped_rate_limit"
    SKIPPED_NO_QUORUM = "skipped_no_quorum"
    SKIPPED_NO_ELIGIBLE_NODE = "skipped_no_eligible_node"
    GAVE_UP = "gave_up"
    ERROR = "error"
    CONFLICT = "conflict"  # the engine turned the update away: the service changed under us
    WAITING = "waiting"  # broken, but not yet for ``threshold``: not counted


class Reason(StrEnum):
    REPLICAS_MISSING = "replicas_missing"
    TASKS_STUCK = "tasks_stuck"
    UPDATE_PAUSED = "update_paused"
    UNEVEN_SPREAD = "uneven_spread"
    CRASH_LOOPING = "crash_looping"


@dataclass(frozen=True, slots=True)
class Memory:
    """What the healer remembers of a service between evaluations (not persisted:
    after a restart each service must be seen broken for ``threshold`` again, and
    how long it has been healthy is taken from its tasks, see ``first_memory``)."""

    broken_since: float | None = None
    healthy_since: float | None = None
    reset_at: float = 0.0
    """Forces before this time no longer count: the service was healthy long enough."""


@dataclass(frozen=True, slots=True)
class Decision:
    result: Result
    reason: Reason
    next_allowed: float = 0.0
    state: HealState | None = None
    """The state to write with the force (forced and dry_run only)."""
    attempts: int = 0
    detail: str = ""
    """Why the write did not happen (error, conflict), as the engine or client said it."""
    action: Action = Action.NONE
    """The write it is about (done, rehearsed, failed or turned away); none for a skip."""


def problem(
    view: ServiceView,
    running_per_eligible: Mapping[str, int] | None,
    crash_looping: bool = False,
    on_paused: Action = Action.FORCE,
) -> Reason | None:
    """Why the service needs help, or None when it is fine.

    ``running_per_eligible``: running tasks per eligible node, only when the
    service opted in to rebalancing. ``crash_looping``: see ``crash_looping``.
    ``on_paused``: what is done for an update paused on failure: with ``rollback`` it is
    a failed deploy however many tasks still run (the old ones, say); with ``none`` the
    healer leaves it to the operator, whatever else is wrong (a force would run the
    failed update again).
    """
    svc = view.service
    paused = svc.update_state == "paused"
    if (
        not crash_looping
        and running_per_eligible is None
        and view.running >= view.desired
        and not (paused and on_paused == Action.ROLLBACK)
    ):
        return None  # the common case, of most services at every pass: decided first
    if svc.is_job or svc.restart_condition == "none" or view.desired <= 0 or view.updating:
        # An update or rollback in progress is Swarm's own work: leave it be. Jobs and
        # one-shots run to an end: running one again is never the healer's call.
        return None
    if paused and on_paused != Action.FORCE:
        return Reason.UPDATE_PAUSED if on_paused == Action.ROLLBACK else None
    if view.running < view.desired:
        if paused:
            return Reason.UPDATE_PAUSED
        if any(state in ("pending", "assigned", "preparing") for state, _ in view.stuck):
            return Reason.TASKS_STUCK
    if crash_looping:
        # Whether a replica happens to be missing at this instant or not: the loop is
        # what is wrong, and what the operator must read.
        return Reason.CRASH_LOOPING
    if view.running < view.desired:
        return Reason.REPLICAS_MISSING
    if (
        running_per_eligible
        and svc.mode == "replicated"
        and len(running_per_eligible) > 1
        and max(running_per_eligible.values()) - min(running_per_eligible.values()) > 1
    ):
        return Reason.UNEVEN_SPREAD
    return None


def crash_looping(
    view: ServiceView, state: HealState, now: float, settings: HealerSettings
) -> bool:
    """Whether ``crash_loop_restarts`` of its tasks failed within ``crash_loop_window``,
    counting none from before its last force (whose effect is what is judged next)."""
    n = settings.crash_loop_restarts
    if len(view.restarts) < max(n, 1):
        return False
    since = max(now - settings.crash_loop_window, max(state.forces, default=0.0))
    return view.restarts[-n] > since  # oldest first: the n-th newest is recent enough


def first_memory(view: ServiceView, broken: bool, now: float) -> Memory:
    """The memory of a service this healer has not watched before (e.g. after a restart).

    A converged service has been healthy at least since its last task started
    running: with that, the "healthy for 10 min" reset of the back-off that an
    earlier healer saw (and kept in memory only) is not lost with it.
    """
    if broken or not view.converged or view.running_since <= 0:
        return Memory()
    return Memory(healthy_since=min(view.running_since, now))


def observe(memory: Memory, broken: bool, now: float, settings: HealerSettings) -> Memory:
    if broken:
        return replace(
            memory,
            broken_since=memory.broken_since if memory.broken_since is not None else now,
            healthy_since=None,
        )
    healthy_since = memory.healthy_since if memory.healthy_since is not None else now
    reset_at = memory.reset_at
    if now - healthy_since >= settings.healthy_reset:
        reset_at = max(reset_at, healthy_since)
    return Memory(broken_since=None, healthy_since=healthy_since, reset_at=reset_at)


def counted_forces(
    state: HealState, memory: Memory, now: float, settings: HealerSettings
) -> tuple[float, ...]:
    """The forces that count toward giving up, oldest first: those within the
    attempts window, and none from before a long enough healthy stretch."""
    return tuple(t for t in state.recent(now, settings.attempts_window) if t >= memory.reset_at)


def resumes_at(forces: Sequence[float], policy: ServicePolicy, settings: HealerSettings) -> float:
    """When a service given up on may be forced again: once all but
    ``max_attempts - 1`` of its counted forces have left the window (0: not given up)."""
    if len(forces) < policy.max_attempts:
        return 0.0
    return forces[len(forces) - policy.max_attempts] + settings.attempts_window


def recall(
    view: ServiceView,
    state: HealState,
    now: float,
    settings: HealerSettings,
    on_paused: Action = Action.FORCE,
) -> tuple[float, ...]:
    """The counted forces of a service as a healer that never watched it counts them
    (``status``, or this healer after a restart): what ``first_memory`` and one
    ``observe`` know from the model alone."""
    looping = crash_looping(view, state, now, settings)
    broken = problem(view, None, looping, on_paused) is not None
    memory = observe(first_memory(view, broken, now), broken, now, settings)
    return counted_forces(state, memory, now, settings)


def decide(
    view: ServiceView,
    reason: Reason,
    policy: ServicePolicy,
    state: HealState,
    memory: Memory,
    *,
    now: float,
    settings: HealerSettings,
    has_leader: bool,
    eligible_nodes: int,
    recent_forces: Sequence[float],
) -> Decision:
    """The decision for a service that ``problem`` found broken (and ``observe`` saw)."""
    forces = counted_forces(state, memory, now, settings)
    attempts = len(forces)
    if memory.broken_since is None or now - memory.broken_since < policy.threshold:
        return Decision(Result.WAITING, reason, state.next_allowed, attempts=attempts)
    if not has_leader:
        return Decision(Result.SKIPPED_NO_QUORUM, reason, state.next_allowed, attempts=attempts)
    if eligible_nodes < 1:
        return Decision(
            Result.SKIPPED_NO_ELIGIBLE_NODE, reason, state.next_allowed, attempts=attempts
        )
    if attempts >= policy.max_attempts:
        return Decision(Result.GAVE_UP, reason, 0.0, attempts=attempts)
    if now < state.next_allowed and forces:
        return Decision(Result.SKIPPED_COOLDOWN, reason, state.next_allowed, attempts=attempts)
    if sum(1 for t in recent_forces if now - t < 60.0) >= settings.rate_limit:
        return Decision(Result.SKIPPED_RATE_LIMIT, reason, now, attempts=attempts)
    # Each further force of a still-broken service waits twice as long. A rollback
    # counts as a force: its cooldown, toward giving up, in the rate limit.
    cooldown = min(policy.cooldown * (2**attempts), settings.max_cooldown)
    new_state = HealState(forces=(*forces, now), next_allowed=now + cooldown)
    action = (
        Action.ROLLBACK
        if reason == Reason.UPDATE_PAUSED and policy.on_update_paused == Action.ROLLBACK
        else Action.FORCE
    )
    done = Result.ROLLED_BACK if action == Action.ROLLBACK else Result.FORCED
    result = Result.DRY_RUN if settings.dry_run else done
    return Decision(result, reason, new_state.next_allowed, new_state, attempts + 1, action=action)


def outlook(
    view: ServiceView, policy: ServicePolicy, state: HealState, now: float, settings: HealerSettings
) -> str:
    """What a healer with ``settings`` did and will do about the service, in one
    sentence for a person (``explain``, the per-service page), from the model and the
    state label alone, as ``recall`` counts."""
    svc = view.service
    forces = recall(view, state, now, settings, policy.on_update_paused)
    done = f"forced {len(forces)} time{'s' if len(forces) != 1 else ''} in 24h; " if forces else ""
    if svc.is_job or svc.restart_condition == "none":
        return done + "never forced: a job or a one-shot runs to an end"
    if not policy.heal:
        if settings.scope == Scope.LABELLED:
            return done + f"not healed: only services labelled {LABEL_HEAL}=true are"
        return done + f"not healed: labelled {LABEL_HEAL}=false"
    looping = crash_looping(view, state, now, settings)
    reason = problem(view, None, looping, policy.on_update_paused)
    again = resumes_at(forces, policy, settings)
    if again:
        return done + f"gave up after {len(forces)} forces; may force again at {iso_utc(again)}"
    if reason is None and svc.update_state == "paused" and policy.on_update_paused == Action.NONE:
        return done + (
            f"update paused: left to the operator ({LABEL_UPDATE_PAUSED}=none or "
            "--healer.on-update-paused none)"
        )
    if reason is None:
        return done + "nothing to do: it runs as desired"
    rolls_back = reason == Reason.UPDATE_PAUSED and policy.on_update_paused == Action.ROLLBACK
    it = "roll it back" if rolls_back else "force it"
    act = f"would {it} (dry run)" if settings.dry_run else f"will {it}"
    if state.next_allowed > now and forces:
        when = iso_utc(state.next_allowed)
        return done + f"{reason}: cooling down; {act} again at {when} if still broken"
    return done + (
        f"{reason}: {act} once broken for {format_duration(policy.threshold)} "
        "(if its instance's engine is the leader and quorum holds)"
    )
