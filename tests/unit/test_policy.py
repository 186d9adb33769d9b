"""The healer's pure policy, driven by a fake clock."""

from __future__ import annotations

from dataclasses import replace

import pytest

from exporter.types import Service
from exporter.views import ServiceView
from healer.policy import (
    Decision,
    Memory,
    Reason,
    Result,
    decide,
    first_memory,
    observe,
    problem,
)
from healer.settings import (
    LABEL_COOLDOWN,
    LABEL_HEAL,
    LABEL_MAX_ATTEMPTS,
    LABEL_THRESHOLD,
    LABEL_UPDATE_PAUSED,
    Action,
    HealerSettings,
    Scope,
    service_policy,
)
from healer.state import HealState, StateError

S = HealerSettings(threshold=120, cooldown=300, max_cooldown=3600, max_attempts=5, rate_limit=3)


def service(labels: dict[str, str] | None = None, **kw: object) -> Service:
    base = Service(
        id="s1",
        name="web",
        mode="replicated",
        image="lab/busybox:1",
        labels=tuple(sorted((labels if labels is not None else {LABEL_HEAL: "true"}).items())),
        replicas=2,
        constraints=(),
        force_update=0,
        version=1,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def view(running: int = 0, desired: int = 2, **kw: object) -> ServiceView:
    return ServiceView(
        service=service(None, **kw),
        desired=desired,
        running=running,
        task_states={"failed": desired - running, "running": running},
        stuck={},
        failures={},
        running_per_node={},
        last_error="task: non-zero exit (1)",
        tasks_known=True,
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def tick(self, seconds: float) -> float:
        self.now += seconds
        return self.now


def run(
    v: ServiceView,
    clock: Clock,
    memory: Memory,
    state: HealState,
    *,
    settings: HealerSettings = S,
    has_leader: bool = True,
    eligible: int = 3,
    recent: tuple[float, ...] = (),
) -> tuple[Memory, Decision]:
    policy, _ = service_policy(v.service, settings)
    reason = problem(v, None, False, policy.on_update_paused)
    memory = observe(memory, reason is not None, clock.now, settings)
    assert reason is not None
    d = decide(
        v,
        reason,
        policy,
        state,
        memory,
        now=clock.now,
        settings=settings,
        has_leader=has_leader,
        eligible_nodes=eligible,
        recent_forces=recent,
    )
    return memory, d


def test_healthy_service_is_no_problem() -> None:
    assert problem(view(running=2), None) is None
    assert problem(view(running=0, update_state="updating"), None) is None
    assert problem(view(running=0, update_state="rollback_started"), None) is None
    assert problem(view(running=0, desired=0), None) is None
    assert problem(view(running=0, mode="replicated-job"), None) is None


def test_threshold_then_force_then_cooldown_doubling() -> None:
    clock, mem, state = Clock(), Memory(), HealState()
    mem, d = run(view(), clock, mem, state)
    assert d.result == Result.WAITING
    clock.tick(119)
    mem, d = run(view(), clock, mem, state)
    assert d.result == Result.WAITING
    clock.tick(1)
    mem, d = run(view(), clock, mem, state)
    assert d.result == Result.FORCED and d.state is not None
    assert d.next_allowed == clock.now + 300
    state = d.state
    clock.tick(299)
    mem, d = run(view(), clock, mem, state)
    assert d.result == Result.SKIPPED_COOLDOWN
    clock.tick(1)
    mem, d = run(view(), clock, mem, state)
    assert d.result == Result.FORCED and d.state is not None
    assert d.next_allowed == clock.now + 600  # doubled
    state = d.state
    # Doubling stops at the cap.
    for _ in range(2):
        clock.tick(d.next_allowed - clock.now)
        mem, d = run(view(), clock, mem, state)
        assert d.state is not None
        state = d.state
    assert d.next_allowed - clock.now == 2400
    clock.tick(2400)
    mem, d = run(view(), clock, mem, state)
    assert d.next_allowed - clock.now == 3600 and d.state is not None


def test_gives_up_after_max_attempts_within_window() -> None:
    clock = Clock()
    forces = tuple(clock.now - 3600 * i for i in range(5))
    state = HealState(forces=forces, next_allowed=clock.now - 1)
    mem = Memory(broken_since=clock.now - 1000)
    _, d = run(view(), clock, mem, state)
    assert d.result == Result.GAVE_UP
    # Forces older than 24 h no longer count.
    clock.tick(86400)
    _, d = run(view(), clock, mem, state)
    assert d.result == Result.FORCED


def test_back_off_and_attempts_reset_after_ten_healthy_minutes() -> None:
    clock = Clock()
    state = HealState(forces=(clock.now - 10,) * 5, next_allowed=clock.now + 1000)
    mem = observe(Memory(), False, clock.now, S)
    clock.tick(599)
    mem = observe(mem, False, clock.now, S)
    assert mem.reset_at == 0.0
    clock.tick(1)
    mem = observe(mem, False, clock.now, S)
    assert mem.reset_at > 0
    # Broken again: a fresh threshold, then a force with the base cooldown.
    mem, d = run(view(), clock, mem, state)
    assert d.result == Result.WAITING
    clock.tick(120)
    mem, d = run(view(), clock, mem, state)
    assert d.result == Result.FORCED and d.next_allowed == clock.now + 300
    assert d.attempts == 1


def test_a_restarted_healer_takes_the_healthy_stretch_from_the_tasks() -> None:
    # Forced 5 times, then healthy: the healer that saw the 10 healthy minutes
    # kept that in memory only. Its successor reads it from the running tasks.
    clock = Clock()
    state = HealState(forces=tuple(clock.now - 3600 + i for i in range(5)), next_allowed=0.0)
    healthy = replace(view(running=2), running_since=clock.now - 601)
    mem = observe(first_memory(healthy, False, clock.now), False, clock.now, S)
    assert mem.reset_at == clock.now - 601
    clock.tick(10)
    mem, d = run(view(), clock, mem, state)
    assert d.result == Result.WAITING and d.attempts == 0
    clock.tick(120)
    mem, d = run(view(), clock, mem, state)
    assert d.result == Result.FORCED and d.attempts == 1
    assert d.next_allowed == clock.now + 300  # the base cooldown again, not 2^5 x


def test_a_restarted_healer_does_not_reset_too_early() -> None:
    clock = Clock()
    state = HealState(forces=(clock.now - 3600,) * 5, next_allowed=0.0)
    # Running for 2 minutes only (e.g. since the last force): no reset yet...
    recent = replace(view(running=2), running_since=clock.now - 120)
    mem = observe(first_memory(recent, False, clock.now), False, clock.now, S)
    assert mem.reset_at == 0.0
    clock.tick(1)
    mem, d = run(view(), clock, mem, state)
    assert d.attempts == 5
    # ... and a broken or never-running service gives nothing to go by.
    assert first_memory(view(), True, clock.now) == Memory()
    assert first_memory(view(running=2), False, clock.now) == Memory()
    # A clock ahead of ours never puts the healthy stretch in the future.
    ahead = replace(view(running=2), running_since=clock.now + 30)
    assert first_memory(ahead, False, clock.now).healthy_since == clock.now


def test_broken_must_be_continuous() -> None:
    clock, mem = Clock(), Memory()
    mem, _ = run(view(), clock, mem, HealState())
    clock.tick(100)
    mem = observe(mem, False, clock.now, S)  # recovered briefly
    clock.tick(1)
    mem, d = run(view(), clock, mem, HealState())
    clock.tick(100)
    mem, d = run(view(), clock, mem, HealState())
    assert d.result == Result.WAITING


def test_no_quorum_no_eligible_node_rate_limit_dry_run() -> None:
    clock = Clock()
    mem = Memory(broken_since=clock.now - 500)
    _, d = run(view(), clock, mem, HealState(), has_leader=False)
    assert d.result == Result.SKIPPED_NO_QUORUM
    _, d = run(view(), clock, mem, HealState(), eligible=0)
    assert d.result == Result.SKIPPED_NO_ELIGIBLE_NODE
    _, d = run(view(), clock, mem, HealState(), recent=(clock.now - 10,) * 3)
    assert d.result == Result.SKIPPED_RATE_LIMIT
    _, d = run(view(), clock, mem, HealState(), recent=(clock.now - 61,) * 3)
    assert d.result == Result.FORCED
    _, d = run(view(), clock, mem, HealState(), settings=replace(S, dry_run=True))
    assert d.result == Result.DRY_RUN and d.state is not None


def test_reasons() -> None:
    assert problem(view(), None) == Reason.REPLICAS_MISSING
    assert problem(view(update_state="paused"), None) == Reason.UPDATE_PAUSED
    stuck = replace(view(), stuck={("pending", "no_suitable_node"): 1.0})
    assert problem(stuck, None) == Reason.TASKS_STUCK
    even = view(running=6, desired=6)
    assert problem(even, {"a": 3, "b": 3, "c": 0}) == Reason.UNEVEN_SPREAD
    assert problem(even, {"a": 2, "b": 2, "c": 2}) is None
    assert problem(even, {"a": 3, "b": 2, "c": 1}) == Reason.UNEVEN_SPREAD  # 3 - 1 > 1
    assert problem(even, {"a": 3, "b": 2, "c": 2}) is None  # one apart is even enough
    # Global services and services not opted in (None) are never rebalanced.
    assert problem(view(running=6, desired=6, mode="global"), {"a": 6, "b": 0}) is None
    assert problem(even, None) is None


def paused(running: int, on_paused: str | None = None, update_state: str = "paused") -> ServiceView:
    labels = {LABEL_HEAL: "true", **({LABEL_UPDATE_PAUSED: on_paused} if on_paused else {})}
    v = view(running=running, update_state=update_state)
    return replace(v, service=replace(v.service, labels=tuple(sorted(labels.items()))))


def decided(v: ServiceView, settings: HealerSettings = S) -> Decision:
    clock = Clock()
    mem, _ = run(v, clock, Memory(), HealState(), settings=settings)
    clock.tick(121)
    return run(v, clock, mem, HealState(), settings=settings)[1]


def test_a_paused_update_forced_by_default_as_before() -> None:
    d = decided(paused(running=1))
    assert (d.reason, d.result, d.action) == (Reason.UPDATE_PAUSED, Result.FORCED, Action.FORCE)
    # Its old tasks all run: forcing would run the failed update again for nothing.
    assert problem(paused(running=2), None) is None


def test_a_paused_update_rolled_back_by_label_or_flag() -> None:
    d = decided(paused(running=1, on_paused="rollback"))
    assert (d.reason, d.result, d.action) == (
        Reason.UPDATE_PAUSED,
        Result.ROLLED_BACK,
        Action.ROLLBACK,
    )
    assert d.state is not None and d.next_allowed == d.state.next_allowed  # a cooldown, too
    # The deploy failed however many old tasks still run: rolled back all the same.
    all_running = paused(running=2, on_paused="rollback")
    assert problem(all_running, None, False, Action.ROLLBACK) == Reason.UPDATE_PAUSED
    assert decided(all_running).action == Action.ROLLBACK
    rehearsed = decided(all_running, replace(S, dry_run=True))
    assert (rehearsed.result, rehearsed.action) == (Result.DRY_RUN, Action.ROLLBACK)
    # The flag, and a label that overrides it.
    flagged = replace(S, on_update_paused=Action.ROLLBACK)
    assert decided(paused(running=1), flagged).action == Action.ROLLBACK
    assert decided(paused(running=1, on_paused="force"), flagged).action == Action.FORCE


def test_a_paused_update_left_to_the_operator() -> None:
    for v in (paused(running=0, on_paused="none"), paused(running=2, on_paused="none")):
        assert problem(v, None, False, Action.NONE) is None
        # Crash looping or not: a force would run the failed update again.
        assert problem(v, None, True, Action.NONE) is None
        assert problem(v, {"a": 2, "b": 0}, False, Action.NONE) is None


def test_never_rolled_back_twice_a_rollback_that_paused_is_forced_to_its_spec() -> None:
    # After a rollback the service runs its previous spec; a second rollback would put
    # the failed one back. A rollback that paused is broken as any service is: its
    # current spec (the previous one) is forced.
    for state in ("rollback_paused", "rollback_completed"):
        v = paused(running=0, on_paused="rollback", update_state=state)
        assert problem(v, None, False, Action.ROLLBACK) == Reason.REPLICAS_MISSING
        d = decided(v)
        assert (d.result, d.action) == (Result.FORCED, Action.FORCE)
    assert problem(paused(running=2, on_paused="rollback", update_state="rollback_paused"),
                   None, False, Action.ROLLBACK) is None  # fmt: skip
    # A rollback under way is the engine's own work.
    v = paused(running=0, on_paused="rollback", update_state="rollback_started")
    assert problem(v, None, False, Action.ROLLBACK) is None


def test_a_malformed_update_paused_label_is_reported_and_the_default_used() -> None:
    policy, problems = service_policy(paused(1, on_paused="undo").service, S)
    assert policy.on_update_paused == Action.FORCE
    assert [(p.label, p.value) for p in problems] == [(LABEL_UPDATE_PAUSED, "undo")]
    assert "force, rollback, none" in problems[0].problem


def test_labels_and_scope() -> None:
    svc = service(
        {
            LABEL_HEAL: "true",
            LABEL_THRESHOLD: "30s",
            LABEL_COOLDOWN: "1m",
            LABEL_MAX_ATTEMPTS: "2",
        }
    )
    policy, problems = service_policy(svc, S)
    assert problems == []
    assert (policy.heal, policy.threshold, policy.cooldown, policy.max_attempts) == (
        True,
        30,
        60,
        2,
    )
    unlabelled = service({})
    assert not service_policy(unlabelled, S)[0].heal
    assert service_policy(unlabelled, replace(S, scope=Scope.ALL))[0].heal
    opted_out = service({LABEL_HEAL: "false"})
    assert not service_policy(opted_out, replace(S, scope=Scope.ALL))[0].heal


@pytest.mark.parametrize(
    ("label", "value"),
    [
        (LABEL_HEAL, "maybe"),
        (LABEL_THRESHOLD, "soon"),
        (LABEL_THRESHOLD, "0s"),
        (LABEL_COOLDOWN, "5 minutes"),
        (LABEL_MAX_ATTEMPTS, "zero"),
        (LABEL_MAX_ATTEMPTS, "0"),
    ],
)
def test_malformed_label_reported_default_used(label: str, value: str) -> None:
    labels = {LABEL_HEAL: "true", label: value}
    policy, problems = service_policy(service(labels), S)
    assert [p.label for p in problems] == [label]
    defaults = service_policy(service({LABEL_HEAL: "true"}), S)[0]
    if label == LABEL_HEAL:
        assert policy.heal is False  # default for scope=labelled
    else:
        assert policy == defaults


def test_state_round_trip_and_garbage() -> None:
    st = HealState(forces=(100.0, 200.0), next_allowed=500.0)
    assert HealState.decode(st.encode()) == st
    assert HealState.decode(None) == HealState()
    assert HealState.decode("") == HealState()
    for bad in ("v2;x", "v1;forces=a,b;next=1", "v1;nonsense"):
        with pytest.raises(StateError):
            HealState.decode(bad)
