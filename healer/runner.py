"""The healer loop: evaluate every service against the policy, act, report.

Reads the exporter's model (never the engine) for decisions; the writes (a force, a
rollback) go through ``Forcer``. Only the instance whose engine is the raft
leader acts; the others keep evaluating so that, during a quorum loss (when
no instance is leader), the skip is still reported.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from common.durations import format_duration
from common.text import iso_utc, one_line
from exporter.health import Health
from exporter.model import SwarmModel
from exporter.reasons import classify
from exporter.types import Service, ServiceKey
from exporter.views import ServiceView
from healer.forcer import ForceResult, Outcome, Writer
from healer.metrics import HealerMetrics
from healer.policy import (
    Decision,
    Memory,
    Reason,
    Result,
    crash_looping,
    decide,
    first_memory,
    observe,
    problem,
)
from healer.settings import LABEL_STATE, Action, HealerSettings, ServicePolicy, service_policy
from healer.state import HealState, StateError
from healer.webhook import Failure, Reported

log = structlog.get_logger("healer")

# Results reported on every occurrence; the others only when they change.
_ALWAYS = frozenset(
    {Result.FORCED, Result.ROLLED_BACK, Result.DRY_RUN, Result.ERROR, Result.CONFLICT}
)
_WRITES = frozenset({Result.FORCED, Result.ROLLED_BACK})


@dataclass(slots=True)
class ServiceRecord:
    """What the healer keeps of one service between two evaluations (in memory only:
    the back-off that must survive a restart is in the service's state label)."""

    key: ServiceKey
    policy: ServicePolicy
    read_from: Service
    """The service object ``policy`` was read from: labels change only with it."""
    memory: Memory | None = None
    """Since when broken or healthy; None until it was seen broken or forced."""
    last: tuple[Result, Reason] | None = None
    """The last decision reported, so that a repeated one is not logged again."""
    written: HealState | None = None
    """The state we wrote (or would have, in dry run) that the model may not show yet; a
    rollback's, which the engine takes no label with, until one written since shows."""
    has_state: bool = False
    """Whether ``read_from`` carries the state label (a healer forced it once)."""
    label_problems: set[tuple[str, str]] = field(default_factory=set)
    """(label, value) already reported as malformed, the state label's included."""
    last_attempt: float = 0.0
    """When it was last forced or tried (errors, dry runs): who waited longest goes first."""


class Healer:
    def __init__(
        self,
        model: SwarmModel,
        health: Health,
        settings: HealerSettings,
        forcer: Writer,
        *,
        clock: Callable[[], float] = time.time,
        notify: Callable[[Reported], None] | None = None,
    ) -> None:
        """``notify``: hears every decision reported (``Webhook.submit``); must not wait."""
        self.model = model
        self.health = health
        self.settings = settings
        self.forcer = forcer
        self.clock = clock
        self.metrics = HealerMetrics(settings.dry_run)
        self.records: dict[str, ServiceRecord] = {}
        self.recent_forces: deque[float] = deque(maxlen=1000)
        self.notify = notify

    @property
    def acting(self) -> bool:
        info, leader = self.model.info, self.model.leader
        return (
            self.health.has_leader
            and info is not None
            and leader is not None
            and leader.id == info.node_id
        )

    async def run(self) -> None:
        log.info(
            "healer_started",
            dry_run=self.settings.dry_run,
            scope=str(self.settings.scope),
            threshold=format_duration(self.settings.threshold),
        )
        while True:
            if self.health.synced:
                await self.evaluate()
            await asyncio.sleep(self.settings.interval)

    async def evaluate(self) -> list[tuple[str, Decision]]:
        """One pass over every service; returns the decisions that were not ``waiting``."""
        now = self.clock()
        acting = self.acting
        if acting != self.metrics.acting:
            log.info("healer_acting" if acting else "healer_standby")
        self.metrics.acting = acting
        for sid in [s for s in self.records if s not in self.model.views]:
            self._forget(self.records.pop(sid))
        out: list[tuple[str, Decision]] = []
        # Those tried longest ago first: under the swarm-wide rate limit, services whose
        # forces keep failing must not take every turn from those that can be healed.
        for sid, view in sorted(self.model.views.items(), key=self._waited_longest):
            record = self._record(sid, view.service)
            decision = self._evaluate_one(record, view, now)
            if decision is None or decision.result == Result.WAITING:
                continue
            if not acting and self.health.has_leader:
                continue  # the leader's instance acts and reports
            if decision.result in _WRITES:
                decision = await self._write(record, view, decision, now)
            elif decision.result == Result.DRY_RUN and decision.state is not None:
                # A rehearsal shows what a real run would do: the same back-off, and
                # the same share of the rate limit.
                record.written, record.last_attempt = decision.state, now
                self.recent_forces.append(now)
            self._report(record, view, decision, now)
            out.append((sid, decision))
        self.metrics.render()
        return out

    def _waited_longest(self, item: tuple[str, ServiceView]) -> float:
        record = self.records.get(item[0])
        return record.last_attempt if record is not None else 0.0

    def _record(self, sid: str, svc: Service) -> ServiceRecord:
        """The service's record, its policy read again when the service object changed."""
        record = self.records.get(sid)
        if record is not None and record.read_from is svc:
            return record
        policy, problems = service_policy(svc, self.settings)
        if record is None:
            record = ServiceRecord(key=(svc.name, svc.stack), policy=policy, read_from=svc)
            self.records[sid] = record
        record.key, record.policy, record.read_from = (svc.name, svc.stack), policy, svc
        record.has_state = svc.label(LABEL_STATE) is not None
        for p in problems:
            self._bad_label(record, p.label, p.value, p.problem)
        return record

    def _bad_label(self, record: ServiceRecord, label: str, value: str, problem: str) -> None:
        """Counted and logged once per value: it comes back at every evaluation."""
        if (label, value) in record.label_problems:
            return
        record.label_problems.add((label, value))
        self.metrics.label_errors[(*record.key, label)] += 1
        log.warning(
            "healer_bad_label", service=record.key[0], label=label, value=value, problem=problem
        )

    def _evaluate_one(
        self, record: ServiceRecord, view: ServiceView, now: float
    ) -> Decision | None:
        svc = view.service
        if not record.policy.heal:
            self._forget(record)
            return None
        spread = self._spread(view) if record.policy.rebalance else None
        # The state label is read only for a service that may be crash looping, or is
        # broken or remembered: a pass over thousands of healthy services reads none.
        state = self._state(record, view) if view.restarts else None
        looping = state is not None and crash_looping(view, state, now, self.settings)
        reason = problem(view, spread, looping, record.policy.on_update_paused)
        if reason is None and record.memory is None and not record.has_state:
            return None  # healthy and never forced: nothing to remember
        broken = reason is not None
        known = record.memory if record.memory is not None else first_memory(view, broken, now)
        record.memory = observe(known, broken, now, self.settings)
        if reason is None:
            if record.last is not None:
                log.info("healer_service_recovered", service=svc.name, stack=svc.stack)
                record.last = None
            self.metrics.gave_up.discard(record.key)
            return None
        return decide(
            view,
            reason,
            record.policy,
            state if state is not None else self._state(record, view),
            record.memory,
            now=now,
            settings=self.settings,
            has_leader=self.health.has_leader,
            eligible_nodes=self.model.eligible_count(svc.constraints),
            recent_forces=self.recent_forces,
        )

    def _state(self, record: ServiceRecord, view: ServiceView) -> HealState:
        text = view.service.label(LABEL_STATE)
        try:
            stored = HealState.decode(text)
        except StateError as exc:
            self._bad_label(record, LABEL_STATE, text or "", str(exc))
            stored = HealState()
        mine = record.written
        if mine is None:
            return stored
        # Ours is newer until the model shows what we wrote (or what another healer wrote).
        if stored.forces and mine.forces and max(stored.forces) >= max(mine.forces):
            record.written = None
            return stored
        return mine

    def _spread(self, view: ServiceView) -> dict[str, int]:
        """Running tasks per node the service may run on."""
        nodes = self.model.eligible_nodes(view.service.constraints)
        return {n.id: view.running_per_node.get(n.id, 0) for n in nodes}

    async def _write(
        self, record: ServiceRecord, view: ServiceView, decision: Decision, now: float
    ) -> Decision:
        assert decision.state is not None
        sid = view.service.id
        seen = self._state(record, view)
        self.recent_forces.append(now)
        record.last_attempt = now
        # The write is a read and an update, each bounded by the client's timeout, and
        # a second pair after a refused version.
        guard = 4 * self.settings.force_timeout + 1
        try:
            async with asyncio.timeout(guard):
                if decision.action == Action.ROLLBACK:
                    res = await self.forcer.rollback(sid)
                else:
                    res = await self.forcer.force(sid, decision.state, seen)
        except TimeoutError:
            res = ForceResult(Outcome.ERROR, f"no answer within {guard:g}s")
        except Exception as exc:
            res = ForceResult(Outcome.ERROR, one_line(f"unexpected {type(exc).__name__}: {exc}"))
        if res.outcome in (Outcome.FORCED, Outcome.ROLLED_BACK):
            record.written = decision.state
            return decision
        if res.outcome == Outcome.RACED:
            log.info("healer_raced", service=view.service.name, detail=res.detail)
            return Decision(
                Result.SKIPPED_COOLDOWN, decision.reason, decision.next_allowed, detail=res.detail
            )
        # It failed, was turned away, or gave no answer: the engine may still apply it
        # (a timed-out update was seen applied seconds later), and an engine that turns
        # every update away must not get one at every pass. Either way it counts as a
        # force: the same cooldown before the next, and toward giving up.
        record.written = decision.state
        result = Result.CONFLICT if res.outcome == Outcome.CONFLICT else Result.ERROR
        log.error(
            "healer_force_failed",
            service=view.service.name,
            action=str(decision.action),
            result=str(result),
            error=res.detail,
        )
        return Decision(
            result,
            decision.reason,
            decision.next_allowed,
            attempts=decision.attempts,
            detail=res.detail,
            action=decision.action,
        )

    def _report(self, record: ServiceRecord, view: ServiceView, d: Decision, now: float) -> None:
        svc = view.service
        if d.next_allowed:
            self.metrics.next_action[record.key] = d.next_allowed
        if d.result == Result.GAVE_UP:
            self.metrics.gave_up.add(record.key)
        else:
            self.metrics.gave_up.discard(record.key)
        if d.result not in _ALWAYS and record.last == (d.result, d.reason):
            return
        record.last = (d.result, d.reason)
        self.metrics.actions[(*record.key, str(d.reason), str(d.result), str(d.action))] += 1
        level = log.warning if d.result in (Result.GAVE_UP, Result.ERROR) else log.info
        level(
            "healer_decision",
            service=svc.name,
            stack=svc.stack,
            reason=str(d.reason),
            action=str(d.action),
            result=str(d.result),
            running=view.running,
            desired=view.desired,
            attempts=d.attempts,
            next_allowed=iso_utc(d.next_allowed),
            error=view.last_error,
        )
        if self.notify is not None:
            # Exactly what was logged and counted: one document per decision reported.
            info = self.model.info
            self.notify(
                Reported(
                    time=now,
                    service_id=svc.id,
                    service_name=svc.name,
                    stack=svc.stack,
                    reason=str(d.reason),
                    result=str(d.result),
                    action=str(d.action),
                    attempts=d.attempts,
                    next_allowed=d.next_allowed,
                    running=view.running,
                    desired=view.desired,
                    error=view.last_error,
                    force_error=d.detail,
                    dry_run=self.settings.dry_run,
                    node_id=info.node_id if info is not None else "",
                    hostname=info.hostname if info is not None else "",
                    failure=self._failure(view),
                )
            )

    def _failure(self, view: ServiceView) -> Failure | None:
        """The service's newest failed task, for the webhook."""
        if not view.recent_failures:
            return None
        t = view.recent_failures[0]
        node = self.model.nodes.get(t.node_id)
        return Failure(
            task_id=t.id,
            at=t.timestamp,
            node=node.hostname if node is not None else t.node_id,
            exit_code=t.exit_code,
            reason=classify(t.err, t.exit_code),
            error=t.err,
        )

    def _forget(self, record: ServiceRecord) -> None:
        """Drop what a service no longer healed (or gone) left in memory and metrics."""
        record.memory = record.last = record.written = None
        self.metrics.next_action.pop(record.key, None)
        self.metrics.gave_up.discard(record.key)
