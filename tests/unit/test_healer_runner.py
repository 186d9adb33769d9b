"""The healer loop offline: a model from the recorded engine answers (engine-samples),
a fake clock, and a forcer that records instead of writing. What it forces, skips and
reports, pass after pass; the real write is tested on the lab."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field, replace

import pytest
from structlog.testing import capture_logs

from exporter.health import Health
from exporter.model import SwarmModel
from exporter.parse import parse_info, parse_list, parse_node, parse_service, parse_task
from healer.forcer import ForceResult, Outcome
from healer.policy import Decision, Result
from healer.runner import Healer
from healer.settings import LABEL_STATE, LABEL_UPDATE_PAUSED, Action, HealerSettings, Scope
from healer.state import HealState
from swarm_sentinel.status.explain import explain, find
from swarm_sentinel.status.report import build_report
from tests.unit.samples import SampleSet


@dataclass
class RecordingForcer:
    """Answers every force as the engine would when nobody else writes."""

    calls: list[tuple[str, HealState, HealState]] = field(default_factory=list)
    rollbacks: list[str] = field(default_factory=list)
    outcome: Outcome = Outcome.FORCED

    async def force(self, service_id: str, new_state: HealState, seen: HealState) -> ForceResult:
        self.calls.append((service_id, new_state, seen))
        return ForceResult(self.outcome, force_update=len(self.calls))

    async def rollback(self, service_id: str) -> ForceResult:
        self.rollbacks.append(service_id)
        outcome = Outcome.ROLLED_BACK if self.outcome == Outcome.FORCED else self.outcome
        return ForceResult(outcome)


@dataclass
class Clock:
    now: float

    def __call__(self) -> float:
        return self.now


SETTINGS = HealerSettings(scope=Scope.ALL, threshold=60, cooldown=300, rate_limit=3, interval=5)


def healer(
    sample: SampleSet, settings: HealerSettings = SETTINGS, *, has_leader: bool = True
) -> tuple[Healer, RecordingForcer, Clock, SwarmModel]:
    model = SwarmModel(clock=lambda: sample.now)
    model.set_info(parse_info(sample.load("info.json")))
    model.replace_nodes(parse_list(sample.load("nodes.json"), parse_node, "n")[0])
    model.replace_services(parse_list(sample.load("services-status.json"), parse_service, "s")[0])
    model.replace_tasks(parse_list(sample.load("tasks.json"), parse_task, "t")[0], None, whole=True)
    health = Health(up=True, has_leader=has_leader, synced=True, last_refresh=sample.now)
    clock = Clock(sample.now)
    forcer = RecordingForcer()
    return Healer(model, health, settings, forcer, clock=clock), forcer, clock, model


def names(model: SwarmModel, decisions: list[tuple[str, Decision]]) -> dict[str, str]:
    return {model.services[sid].name: str(d.result) for sid, d in decisions}


async def past_threshold(h: Healer, clock: Clock, model: SwarmModel) -> dict[str, str]:
    """The decisions once the broken services have been seen broken for the threshold."""
    await h.evaluate()
    clock.now += SETTINGS.threshold + 1
    return names(model, await h.evaluate())


async def test_forces_after_the_threshold_within_the_rate_limit(sample: SampleSet) -> None:
    h, forcer, clock, model = healer(sample, replace(SETTINGS, rate_limit=2))
    assert h.acting  # the sampled engine is the leader
    # Broken, but not for the threshold yet: nothing is decided.
    assert await h.evaluate() == []
    clock.now += 61
    first = names(model, await h.evaluate())
    # Never: a converged service, a job, one in a rolling update.
    assert not {"agent", "oneshot", "web"} & set(first)
    # pinned's constraint matches no node: forcing it would change nothing.
    assert first.pop("pinned") == Result.SKIPPED_NO_ELIGIBLE_NODE
    forceable = {"badimage", "crashy", "hungry"}
    assert set(first) == forceable
    forced = {n for n, r in first.items() if r == Result.FORCED}
    assert len(forced) == 2 == len(forcer.calls)
    assert {r for n, r in first.items() if n not in forced} == {Result.SKIPPED_RATE_LIMIT}
    # A minute later the third is forced; the two forced ones are cooling down.
    clock.now += 61
    second = names(model, await h.evaluate())
    assert {n for n, r in second.items() if r == Result.FORCED} == forceable - forced
    assert {second[n] for n in forced} == {Result.SKIPPED_COOLDOWN}
    assert len(forcer.calls) == 3
    # Each force carries the back-off state written with it, and what it was based on.
    _, state, seen = forcer.calls[0]
    assert state.forces == (clock.now - 61,) and state.next_allowed == clock.now - 61 + 300
    assert seen == HealState()


async def test_without_quorum_nothing_is_forced_and_it_says_so(sample: SampleSet) -> None:
    h, forcer, clock, model = healer(sample, has_leader=False)
    assert not h.acting
    decided = await past_threshold(h, clock, model)
    assert forcer.calls == []
    assert set(decided.values()) == {Result.SKIPPED_NO_QUORUM}
    text = h.metrics.store.render().decode()
    assert 'result="skipped_no_quorum"' in text and "dockerswarm_healer_acting 0" in text


async def test_an_instance_whose_engine_is_not_the_leader_stays_silent(
    sample: SampleSet,
) -> None:
    h, forcer, clock, model = healer(sample)
    info = model.info
    assert info is not None
    model.set_info(replace(info, node_id="someone-else"))
    assert await past_threshold(h, clock, model) == {} and forcer.calls == []


async def test_dry_run_decides_and_writes_nothing(sample: SampleSet) -> None:
    h, forcer, clock, model = healer(sample, replace(SETTINGS, dry_run=True))
    decided = await past_threshold(h, clock, model)
    assert forcer.calls == []
    assert Result.DRY_RUN in decided.values()
    assert "dockerswarm_healer_dry_run 1" in h.metrics.store.render().decode()


@pytest.mark.parametrize("outcome", [Outcome.RACED, Outcome.ERROR])
async def test_a_force_that_did_not_happen_is_reported_as_such(
    sample: SampleSet, outcome: Outcome
) -> None:
    h, forcer, clock, model = healer(sample, replace(SETTINGS, rate_limit=1))
    forcer.outcome = outcome
    decided = await past_threshold(h, clock, model)
    expected = Result.SKIPPED_COOLDOWN if outcome == Outcome.RACED else Result.ERROR
    assert expected in decided.values() and Result.FORCED not in decided.values()


def pause_web(model: SwarmModel, **labels: str) -> str:
    """The sampled "web" as if its update had paused on failure (its other tasks run)."""
    web = next(s for s in model.services.values() if s.name == "web")
    merged = tuple(sorted({**dict(web.labels), **labels}.items()))
    model.upsert_service(replace(web, update_state="paused", labels=merged))
    return web.id


async def test_a_paused_update_is_rolled_back_once_then_cools_down(sample: SampleSet) -> None:
    settings = replace(SETTINGS, on_update_paused=Action.ROLLBACK, rate_limit=10)
    h, forcer, clock, model = healer(sample, settings)
    web = pause_web(model)
    first = await past_threshold(h, clock, model)
    assert first["web"] == Result.ROLLED_BACK and forcer.rollbacks == [web]
    assert web not in {sid for sid, _, _ in forcer.calls}  # rolled back, not forced
    # The model still says paused until its next poll: cooling down, not a second
    # rollback (which would put the failed spec back).
    for _ in range(12):
        clock.now += 5
        assert names(model, await h.evaluate()).get("web") in (None, Result.SKIPPED_COOLDOWN)
    assert forcer.rollbacks == [web]
    assert h.metrics.actions[("web", "shop", "update_paused", "rolled_back", "rollback")] == 1
    text = h.metrics.store.render().decode()
    assert 'result="rolled_back",action="rollback"' in text


async def test_a_paused_update_the_label_leaves_alone(sample: SampleSet) -> None:
    h, forcer, clock, model = healer(sample)
    pause_web(model, **{LABEL_UPDATE_PAUSED: "none"})
    assert "web" not in await past_threshold(h, clock, model)
    assert forcer.rollbacks == [] and not any(
        model.services[sid].name == "web" for sid, _, _ in forcer.calls
    )


@pytest.mark.parametrize("outcome", [Outcome.RACED, Outcome.CONFLICT])
async def test_a_rollback_someone_else_did_first(sample: SampleSet, outcome: Outcome) -> None:
    settings = replace(SETTINGS, on_update_paused=Action.ROLLBACK, rate_limit=10)
    h, forcer, clock, model = healer(sample, settings)
    pause_web(model)
    forcer.outcome = outcome
    with capture_logs() as logs:
        decided = await past_threshold(h, clock, model)
    expected = Result.SKIPPED_COOLDOWN if outcome == Outcome.RACED else Result.CONFLICT
    assert decided["web"] == expected
    if outcome == Outcome.CONFLICT:
        failed = [e for e in logs if e["event"] == "healer_force_failed"]
        assert [e["action"] for e in failed if e["service"] == "web"] == ["rollback"]


@dataclass
class SlowForcer(RecordingForcer):
    """Blocks each write until ``release`` (or ``hold`` seconds): an engine that takes
    longer than the healer's patience, and applies it anyway."""

    release: asyncio.Event = field(default_factory=asyncio.Event)
    hold: float = 5.0

    async def force(self, service_id: str, new_state: HealState, seen: HealState) -> ForceResult:
        result = await super().force(service_id, new_state, seen)  # the POST is on its way
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.release.wait(), self.hold)
        return result


async def test_a_force_that_times_out_is_not_repeated_within_its_cooldown(
    sample: SampleSet,
) -> None:
    settings = replace(SETTINGS, rate_limit=10, force_timeout=0.1, cooldown=300)
    h, _, clock, model = healer(sample, settings)
    slow = SlowForcer()
    h.forcer = slow
    try:
        first = await past_threshold(h, clock, model)
        assert set(first.values()) <= {Result.ERROR, Result.SKIPPED_NO_ELIGIBLE_NODE}
        tried = {n for n, r in first.items() if r == Result.ERROR}
        # Every pass of the next five minutes: cooling down, not POSTing again.
        for _ in range(59):
            clock.now += 5
            later = names(model, await h.evaluate())
            assert {later[n] for n in tried if n in later} <= {Result.SKIPPED_COOLDOWN}
    finally:
        slow.release.set()
    posts = {sid for sid, _, _ in slow.calls}
    assert len(slow.calls) == len(posts) == len(tried), "one POST per service per cooldown"


async def test_failing_services_neither_starve_the_others_nor_go_on_for_ever(
    sample: SampleSet,
) -> None:
    settings = replace(SETTINGS, rate_limit=1, cooldown=60, max_cooldown=60, max_attempts=2)
    h, forcer, clock, model = healer(sample, settings)
    ids = {s.name: sid for sid, s in model.services.items()}
    failing = {ids["crashy"], ids["hungry"]}

    async def answer(service_id: str, new_state: HealState, seen: HealState) -> ForceResult:
        forcer.calls.append((service_id, new_state, seen))
        if service_id in failing:
            return ForceResult(Outcome.ERROR, "500 the engine is unwell")
        return ForceResult(Outcome.FORCED, force_update=1)

    forcer.force = answer  # type: ignore[method-assign]
    seen: list[dict[str, str]] = [await past_threshold(h, clock, model)]
    for _ in range(8):  # a pass a minute: one force a minute may go
        clock.now += 61
        seen.append(names(model, await h.evaluate()))
    forced = [n for d in seen for n, r in d.items() if r == Result.FORCED]
    assert "badimage" in forced[:3], "the healable one had a turn among the first three"
    # Each failing one: two errors (two attempts), then given up on.
    for name in ("crashy", "hungry"):
        results = [d[name] for d in seen if name in d]
        assert results.count(Result.ERROR) == 2, results
        assert results[-1] == Result.GAVE_UP, results


async def test_a_dry_run_takes_its_share_of_the_rate_limit(sample: SampleSet) -> None:
    h, forcer, clock, model = healer(sample, replace(SETTINGS, dry_run=True, rate_limit=1))
    decided = [await past_threshold(h, clock, model)]
    for _ in range(11):  # the rest of a minute, a pass every 5 s
        clock.now += 5
        decided.append(names(model, await h.evaluate()))
    rehearsed = [n for d in decided for n, r in d.items() if r == Result.DRY_RUN]
    assert len(rehearsed) == 1 and forcer.calls == []
    print(f"dry-run decisions in a minute with --healer.rate-limit 1: {len(rehearsed)}")


async def test_a_bad_state_label_is_said_once_and_a_conflict_is_a_conflict(
    sample: SampleSet,
) -> None:
    h, forcer, clock, model = healer(sample, replace(SETTINGS, rate_limit=1))
    crashy = next(s for s in model.services.values() if s.name == "crashy")
    model.upsert_service(replace(crashy, labels=((LABEL_STATE, "garbage;;;"),)))
    forcer.outcome = Outcome.CONFLICT
    with capture_logs() as logs:
        results = [await past_threshold(h, clock, model)]
        for _ in range(5):
            clock.now += 61
            results.append(names(model, await h.evaluate()))
    bad = [e for e in logs if e["event"] == "healer_bad_label" and e["label"] == LABEL_STATE]
    assert len(bad) == 1 and bad[0]["value"] == "garbage;;;"
    assert h.metrics.label_errors[("crashy", "", LABEL_STATE)] == 1
    assert Result.CONFLICT in {r for d in results for r in d.values()}


async def test_an_engine_that_turns_every_update_away_gets_what_a_failing_one_gets(
    sample: SampleSet,
) -> None:
    """ "update out of sequence" at every force (409, or 500 on 20.10): as many forces
    as an engine that fails them all, the same cooldowns, and given up on the same way."""
    settings = replace(SETTINGS, rate_limit=100, cooldown=60, max_cooldown=60, max_attempts=3)
    seen: dict[Outcome, tuple[int, set[str]]] = {}
    for outcome in (Outcome.CONFLICT, Outcome.ERROR):
        h, forcer, clock, model = healer(sample, settings)
        forcer.outcome = outcome
        results = [await past_threshold(h, clock, model)]
        for _ in range(60):  # 5 minutes, a pass every 5 s
            clock.now += 5
            results.append(names(model, await h.evaluate()))
        crashy = [d["crashy"] for d in results if "crashy" in d]
        calls = sum(1 for sid, _, _ in forcer.calls if model.services[sid].name == "crashy")
        seen[outcome] = (calls, set(crashy))
    assert seen[Outcome.CONFLICT][0] == seen[Outcome.ERROR][0] == 3
    assert Result.GAVE_UP in seen[Outcome.CONFLICT][1] and Result.GAVE_UP in seen[Outcome.ERROR][1]
    assert Result.SKIPPED_COOLDOWN in seen[Outcome.CONFLICT][1]


async def test_no_error_of_the_write_ends_the_healer(sample: SampleSet) -> None:
    """The probe's /version answering ApiVersion as a number crashed the old write: now
    whatever the write raises is an error decision, logged, counted, backed off."""
    h, forcer, clock, model = healer(sample, replace(SETTINGS, rate_limit=100))

    async def broken(service_id: str, new_state: HealState, seen: HealState) -> ForceResult:
        forcer.calls.append((service_id, new_state, seen))
        raise AttributeError("'int' object has no attribute 'split'")

    forcer.force = broken  # type: ignore[method-assign]
    with capture_logs() as logs:
        first = await past_threshold(h, clock, model)
        clock.now += 5
        second = names(model, await h.evaluate())
    assert Result.ERROR in first.values()
    assert second["crashy"] == Result.SKIPPED_COOLDOWN  # backed off, not tried again
    failed = [e for e in logs if e["event"] == "healer_force_failed"]
    assert failed and "unexpected AttributeError" in failed[0]["error"]
    assert (
        h.metrics.actions[("crashy", "", "crash_looping", "error", "force")]
        + h.metrics.actions[("crashy", "", "replicas_missing", "error", "force")]
        == 1
    )


async def test_the_page_and_the_healer_agree_under_non_default_settings(
    sample: SampleSet,
) -> None:
    """Given up after 2 forces (not the default 5) and a crash loop judged over 3
    restarts: what the healer decides is what the status report and ``explain`` say
    of it, given the same settings (the page is given the exporter's own)."""
    settings = replace(
        SETTINGS, rate_limit=100, cooldown=60, max_cooldown=60, max_attempts=2,
        crash_loop_restarts=3,
    )  # fmt: skip
    h, _, clock, model = healer(sample, settings)
    results = [await past_threshold(h, clock, model)]
    for _ in range(40):
        clock.now += 5
        results.append(names(model, await h.evaluate()))
    assert results[-1].get("crashy", str(Result.GAVE_UP)) == Result.GAVE_UP
    # What the healer wrote (its state label) is what the report reads back.
    crashy = next(s for s in model.services.values() if s.name == "crashy")
    written = h.records[crashy.id].written
    assert written is not None
    model.upsert_service(replace(crashy, labels=((LABEL_STATE, written.encode()),)))
    report = build_report(model, now=clock.now, settings=settings)
    (row,) = [r for r in report.healer if r.service == "crashy"]
    assert (row.given_up, row.attempts, row.max_attempts) == (True, 2, 2)
    assert any("the healer gave up after 2 forces" in p.text for p in report.problems)
    view = find(model, "crashy")
    assert view is not None
    said = explain(model, view, now=clock.now, settings=settings).healer
    assert "gave up after 2 forces" in said
    # With the defaults (the old page's), the same service would read as not given up.
    default = build_report(model, now=clock.now)
    assert not next(r for r in default.healer if r.service == "crashy").given_up
