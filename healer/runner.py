"""The healer loop: evaluate every service against the policy, act, report.

Reads the exporter's model (never the engine) for decisions; the one write
call goes through ``Forcer``. Only the instance whose engine is the raft
leader acts; the others keep evaluating so that, during a quorum loss (when
no instance is leader), the skip is still reported.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

import structlog

from common.durations import format_duration
from common.text import iso_utc
from exporter.constraints import matches
from exporter.model import ServiceView, SwarmModel
from exporter.types import Service
from healer.forcer import Forcer, Outcome
from healer.metrics import HealerMetrics
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
    LABEL_STATE,
    HealerSettings,
    LabelProblem,
    ServicePolicy,
    service_policy,
)
from healer.state import HealState, StateError

log = structlog.get_logger("healer")

# Results reported on every occurrence; the others only when they change.
_ALWAYS = frozenset({Result.FORCED, Result.DRY_RUN, Result.ERROR})


class Healer:
    def __init__(
        self,
        model: SwarmModel,
        settings: HealerSettings,
        forcer: Forcer,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.model = model
        self.settings = settings
        self.forcer = forcer
        self.clock = clock
        self.metrics = HealerMetrics(settings.dry_run)
        self.memory: dict[str, Memory] = {}
        self.last: dict[str, tuple[Result, Reason]] = {}
        self.recent_forces: deque[float] = deque(maxlen=1000)
        # States we wrote (or would have, in dry run) that the model may not show yet.
        self.written: dict[str, HealState] = {}
        self._label_problems_seen: set[tuple[str, str, str]] = set()
        self.decisions: deque[dict[str, object]] = deque(maxlen=100)
        self._keys: dict[str, tuple[str, str]] = {}  # service id -> (name, stack)
        self._policies: dict[str, tuple[Service, ServicePolicy]] = {}

    @property
    def acting(self) -> bool:
        info, leader = self.model.info, self.model.leader
        return (
            self.model.has_leader
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
        try:
            while True:
                if self.model.synced:
                    await self.evaluate()
                await asyncio.sleep(self.settings.interval)
        finally:
            await asyncio.to_thread(self.forcer.close)

    async def evaluate(self) -> list[tuple[str, Decision]]:
        """One pass over every service; returns the decisions that were not ``waiting``."""
        now = self.clock()
        acting = self.acting
        if acting != self.metrics.acting:
            log.info("healer_acting" if acting else "healer_standby")
        self.metrics.acting = acting
        out: list[tuple[str, Decision]] = []
        for sid in [s for s in self.memory if s not in self.model.views]:
            self._forget(sid)
        if len(self._policies) > len(self.model.views):
            self._policies = {k: v for k, v in self._policies.items() if k in self.model.views}
        for sid, view in list(self.model.views.items()):
            decision = self._evaluate_one(sid, view, now)
            if decision is None or decision.result == Result.WAITING:
                continue
            if not acting and self.model.has_leader:
                continue  # the leader's instance acts and reports
            if decision.result == Result.FORCED:
                decision = await self._force(sid, view, decision)
            elif decision.result == Result.DRY_RUN and decision.state is not None:
                self.written[sid] = decision.state
            self._report(view, decision)
            out.append((sid, decision))
        self.metrics.render()
        return out

    def _policy(self, sid: str, svc: Service) -> tuple[ServicePolicy, list[LabelProblem]]:
        # Labels change only with the service object: parse them once per version.
        cached = self._policies.get(sid)
        if cached is not None and cached[0] is svc:
            return cached[1], []
        policy, problems = service_policy(svc, self.settings)
        self._policies[sid] = (svc, policy)
        return policy, problems

    def _evaluate_one(self, sid: str, view: ServiceView, now: float) -> Decision | None:
        svc = view.service
        policy, problems = self._policy(sid, svc)
        key = (svc.name, svc.stack)
        self._keys[sid] = key
        for p in problems:
            seen = (sid, p.label, p.value)
            if seen not in self._label_problems_seen:
                self._label_problems_seen.add(seen)
                self.metrics.label_errors[(*key, p.label)] += 1
                log.warning(
                    "healer_bad_label",
                    service=svc.name,
                    label=p.label,
                    value=p.value,
                    problem=p.problem,
                )
        if not policy.heal:
            self._forget(sid)
            return None
        spread = self._spread(view) if policy.rebalance else None
        reason = problem(view, spread)
        if reason is None and sid not in self.memory and svc.label(LABEL_STATE) is None:
            return None  # healthy and never forced: nothing to remember
        broken = reason is not None
        known = self.memory.get(sid)
        mem = observe(
            known if known is not None else first_memory(view, broken, now),
            broken,
            now,
            self.settings,
        )
        self.memory[sid] = mem
        if reason is None:
            if sid in self.last:
                log.info("healer_service_recovered", service=svc.name, stack=svc.stack)
                del self.last[sid]
            self.metrics.gave_up.discard(key)
            return None
        return decide(
            view,
            reason,
            policy,
            self._state(sid, view),
            mem,
            now=now,
            settings=self.settings,
            has_leader=self.model.has_leader,
            eligible_nodes=self.model.eligible_count(svc.constraints),
            recent_forces=self.recent_forces,
        )

    def _state(self, sid: str, view: ServiceView) -> HealState:
        try:
            stored = HealState.decode(view.service.label(LABEL_STATE))
        except StateError as exc:
            log.warning("healer_bad_state_label", service=view.service.name, problem=str(exc))
            stored = HealState()
        mine = self.written.get(sid)
        if mine is None:
            return stored
        # Ours is newer until the model shows what we wrote (or what another healer wrote).
        if stored.forces and mine.forces and max(stored.forces) >= max(mine.forces):
            del self.written[sid]
            return stored
        return mine

    def _spread(self, view: ServiceView) -> dict[str, int]:
        svc = view.service
        eligible = [
            n.id
            for n in self.model.nodes.values()
            if n.state == "ready" and n.availability == "active" and matches(n, svc.constraints)
        ]
        return {nid: view.running_per_node.get(nid, 0) for nid in eligible}

    async def _force(self, sid: str, view: ServiceView, decision: Decision) -> Decision:
        assert decision.state is not None
        seen = self._state(sid, view)
        self.recent_forces.append(self.clock())
        try:
            async with asyncio.timeout(self.settings.force_timeout + 5):
                res = await asyncio.to_thread(self.forcer.force, sid, decision.state, seen)
        except TimeoutError:
            return Decision(Result.ERROR, decision.reason, decision.next_allowed)
        if res.outcome == Outcome.FORCED:
            self.written[sid] = decision.state
            return decision
        if res.outcome == Outcome.RACED:
            log.info("healer_raced", service=view.service.name, detail=res.detail)
            return Decision(Result.SKIPPED_COOLDOWN, decision.reason, decision.next_allowed)
        log.error("healer_force_failed", service=view.service.name, error=res.detail)
        return Decision(Result.ERROR, decision.reason, decision.next_allowed)

    def _report(self, view: ServiceView, d: Decision) -> None:
        svc = view.service
        sid = svc.id
        key = (svc.name, svc.stack)
        if d.next_allowed:
            self.metrics.next_action[key] = d.next_allowed
        if d.result == Result.GAVE_UP:
            self.metrics.gave_up.add(key)
        else:
            self.metrics.gave_up.discard(key)
        if d.result not in _ALWAYS and self.last.get(sid) == (d.result, d.reason):
            return
        self.last[sid] = (d.result, d.reason)
        self.metrics.actions[(*key, str(d.reason), str(d.result))] += 1
        event = {
            "service": svc.name,
            "stack": svc.stack,
            "reason": str(d.reason),
            "action": "force" if d.result in (Result.FORCED, Result.DRY_RUN) else "none",
            "result": str(d.result),
            "running": view.running,
            "desired": view.desired,
            "attempts": d.attempts,
            "next_allowed": iso_utc(d.next_allowed),
            "error": view.last_error,
        }
        self.decisions.append({"time": self.clock(), **event})
        level = log.warning if d.result in (Result.GAVE_UP, Result.ERROR) else log.info
        level("healer_decision", **event)

    def _forget(self, sid: str) -> None:
        if sid not in self.model.services:
            self._policies.pop(sid, None)
        self.memory.pop(sid, None)
        self.last.pop(sid, None)
        self.written.pop(sid, None)
        key = self._keys.pop(sid, None)
        if key is not None:
            self.metrics.next_action.pop(key, None)
            self.metrics.gave_up.discard(key)
