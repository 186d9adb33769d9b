"""What ``swarm-sentinel status`` reports: the swarm as rows, from the exporter's model."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from common.durations import short_duration
from exporter.model import SwarmModel
from exporter.placement import Placement
from exporter.quorum import Quorum, quorum_of
from exporter.types import Node, SwarmInfo
from exporter.views import ServiceView
from healer.policy import recall, resumes_at
from healer.settings import LABEL_STATE, HealerSettings, service_policy
from healer.state import HealState, StateError
from swarm_sentinel.status.hazards import InventoryLine, hazards, inventory

EXIT_HEALTHY = 0
EXIT_UNHEALTHY = 1
EXIT_NO_VIEW = 2

STUCK_AFTER = 30.0
"""Seconds in a pre-running state before a task is listed as stuck: every task
passes through those states for a moment, and a snapshot taken during a rolling
update should not list each of them."""


# ---- the report ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NodeRow:
    id: str
    hostname: str
    is_self: bool  # the engine this view was read from
    role: str
    status: str
    availability: str
    manager_status: str  # Leader / Reachable / Unreachable / Unknown; "" for workers
    engine_version: str
    running_tasks: int | None  # None on a node that is not ready: its reports are stale
    message: str


@dataclass(frozen=True, slots=True)
class QuorumLine:
    """The quorum as the report says it (``exporter.quorum`` does the arithmetic)."""

    managers: int | None  # None when the manager could not list nodes (no leader)
    reachable: int | None
    quorum: int | None
    can_lose: int
    has_leader: bool
    leader: str
    state: str  # ok | at_risk | lost

    @classmethod
    def of(cls, q: Quorum) -> QuorumLine:
        return cls(q.managers, q.reachable, q.needed, q.can_lose, q.has_leader, q.leader, q.state)

    @classmethod
    def unknown(cls) -> QuorumLine:
        """A manager without a leader lists no nodes: all that is known is the loss."""
        return cls(None, None, None, 0, has_leader=False, leader="", state="lost")

    @property
    def summary(self) -> str:
        if self.managers is None:
            return "managers unknown: the manager lists nodes only while the swarm has a leader"
        noun = "manager" if self.managers == 1 else "managers"
        return (
            f"{self.managers} {noun}, {self.reachable} reachable, "
            f"quorum {self.quorum}, can lose {self.can_lose}"
        )

    @property
    def alarm(self) -> str:
        """The line that must not be missed, or "" when quorum is fine."""
        if self.state == "ok":
            return ""
        if self.managers is None or not self.has_leader:
            return "QUORUM LOST: the swarm has no leader; nothing can be scheduled or updated"
        if self.state == "lost":
            return (
                f"QUORUM LOST: {self.reachable} of {self.managers} managers reachable, "
                f"{self.quorum} needed; nothing can be scheduled or updated"
            )
        return (
            f"QUORUM AT RISK: {self.reachable} of {self.managers} managers reachable; "
            "losing one more stops the swarm's control plane"
        )


@dataclass(frozen=True, slots=True)
class ServiceRow:
    id: str
    name: str
    stack: str
    mode: str
    running: int
    desired: int
    reason: str  # exporter.reasons vocabulary, or "updating" / "none"
    last_error: str
    last_error_at: float  # 0 when there is no error
    update_state: str
    failures: Mapping[str, int]
    placement: Placement | None = None
    """While a task is pending: where one more could go, node by node."""


@dataclass(frozen=True, slots=True)
class StuckRow:
    service: str
    service_id: str
    state: str
    reason: str
    since: float
    seconds: float
    detail: str


@dataclass(frozen=True, slots=True)
class HealRow:
    service: str
    service_id: str
    forces: tuple[float, ...]
    attempts: int  # forces within the healer's 24 h window
    max_attempts: int
    next_allowed: float
    given_up: bool
    converged: bool
    error: str  # the state label could not be read
    resumes_at: float = 0.0  # given up: when enough forces leave the 24 h window

    @property
    def last_force(self) -> float:
        return self.forces[-1] if self.forces else 0.0


@dataclass(frozen=True, slots=True)
class Problem:
    text: str
    service: str = ""
    """The service it is about (its name), "" for the nodes and the quorum."""

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class Report:
    now: float
    engine: str
    seen_from: str  # hostname of the engine read
    cluster_id: str
    nodes: list[NodeRow]
    quorum: QuorumLine
    services: list[ServiceRow]
    stuck: list[StuckRow]
    healer: list[HealRow]
    problems: list[Problem]
    error: str = ""  # the engine's own words when it could not list the swarm
    complete: bool = True  # False: only info could be read (no leader)
    inventory: tuple[InventoryLine, ...] = ()
    """Secrets and configs: how many, which are unused (figures, not problems)."""

    @property
    def healthy(self) -> bool:
        return not self.problems

    @property
    def exit_code(self) -> int:
        return EXIT_HEALTHY if self.healthy else EXIT_UNHEALTHY


def _title(word: str) -> str:
    return word[:1].upper() + word[1:]


def _node_row(node: Node, model: SwarmModel, self_id: str) -> NodeRow:
    manager_status = ""
    if node.is_manager:
        manager_status = "Leader" if node.leader else _title(node.reachability or "unknown")
    per_state = model.node_tasks.get(node.id)
    running = per_state["running"] if per_state else 0
    return NodeRow(
        id=node.id,
        hostname=node.hostname,
        is_self=node.id == self_id,
        role=node.role,
        status=_title(node.state),
        availability=_title(node.availability),
        manager_status=manager_status,
        engine_version=node.engine_version,
        running_tasks=running if node.state == "ready" else None,
        message=node.message,
    )


def service_row(view: ServiceView) -> ServiceRow:
    svc = view.service
    if view.last_error:
        reason = view.last_error_reason
    else:
        stuck = sorted(r for _, r in view.stuck if r != "none")
        failures = Counter(view.failures).most_common(1)
        if stuck:
            reason = stuck[0]
        elif failures:
            reason = failures[0][0]
        else:
            reason = "updating" if view.updating else "none"
    return ServiceRow(
        id=svc.id,
        name=svc.name,
        stack=svc.stack,
        mode=svc.mode,
        running=view.running,
        desired=view.desired,
        reason=reason,
        last_error=view.last_error,
        last_error_at=view.last_error_at,
        update_state=svc.update_state,
        failures=dict(view.failures),
        placement=view.placement,
    )


def stuck_rows(view: ServiceView, now: float) -> list[StuckRow]:
    return [
        StuckRow(
            service=view.service.name,
            service_id=view.service.id,
            state=state,
            reason=reason,
            since=since,
            seconds=now - since,
            detail=view.stuck_errors.get((state, reason), ""),
        )
        for (state, reason), since in sorted(view.stuck.items())
        if now - since >= STUCK_AFTER
    ]


def _heal_row(view: ServiceView, text: str, settings: HealerSettings, now: float) -> HealRow:
    svc = view.service
    policy, _ = service_policy(svc, settings)
    try:
        state = HealState.decode(text)
    except StateError as exc:
        return HealRow(
            svc.name, svc.id, (), 0, policy.max_attempts, 0.0, False, view.converged, str(exc)
        )
    # Counted as a healer would count them, had it just started.
    counted = recall(view, state, now, settings, policy.on_update_paused)
    attempts = len(counted)
    given_up = attempts >= policy.max_attempts
    return HealRow(
        service=svc.name,
        service_id=svc.id,
        forces=state.forces,
        attempts=attempts,
        max_attempts=policy.max_attempts,
        next_allowed=state.next_allowed,
        given_up=given_up,
        converged=view.converged,
        error="",
        resumes_at=resumes_at(counted, policy, settings),
    )


def build_report(
    model: SwarmModel,
    *,
    now: float,
    engine: str = "",
    settings: HealerSettings | None = None,
    has_leader: bool | None = None,
) -> Report:
    """The report of what ``model`` holds: one reading (``status``), or the exporter's
    live model (its page at ``/``). ``settings``: the healer's, as it counts and gives
    up (None: the defaults). ``has_leader``: whether the engine confirms a leader now
    (the exporter's health); None: as the model's nodes say."""
    info = model.info
    self_id = info.node_id if info is not None else ""
    nodes = sorted(model.nodes.values(), key=lambda n: (not n.is_manager, n.hostname))
    rows = [_node_row(n, model, self_id) for n in nodes]
    if has_leader is None:
        has_leader = model.leader is not None
    quorum = QuorumLine.of(quorum_of(model.managers, has_leader))
    settings = settings or HealerSettings()
    services: list[ServiceRow] = []
    stuck: list[StuckRow] = []
    healer: list[HealRow] = []
    for view in sorted(model.views.values(), key=lambda v: v.service.name):
        # A job that has finished runs nothing, by design: never "not converged".
        if not view.converged and not view.service.is_job:
            services.append(service_row(view))
        stuck.extend(stuck_rows(view, now))
        label = view.service.label(LABEL_STATE)
        if label:
            healer.append(_heal_row(view, label, settings, now))
    healer.sort(key=lambda h: (-h.last_force, h.service))

    problems: list[Problem] = []
    if quorum.alarm:
        problems.append(Problem(quorum.alarm))
    for n in nodes:
        issues = []
        if n.state != "ready":
            issues.append(n.state)
        if n.is_manager and not n.leader and n.reachability != "reachable":
            issues.append(n.reachability or "unknown")
        if issues:
            why = f" ({n.message})" if n.message else ""
            problems.append(Problem(f"{n.role} {n.hostname} is {', '.join(issues)}{why}"))
    problems.extend(Problem(text, service) for text, service in hazards(model, now))
    gave_up = {h.service_id: h for h in healer if h.given_up}
    for s in services:
        text = f"service {s.name}: {s.running}/{s.desired} running ({s.reason}"
        if s.last_error:
            text += f": {s.last_error}"
            if s.last_error_at:
                text += f", {short_duration(now - s.last_error_at)} ago"
        text += ")"
        if s.placement is not None:
            text += f"; {s.placement.explain()}"
        h = gave_up.get(s.id)
        if h is not None:
            text += f"; the healer gave up after {h.attempts} forces"
        problems.append(Problem(text, s.name))
    return Report(
        now=now,
        engine=engine,
        seen_from=info.hostname if info is not None else "",
        cluster_id=info.cluster_id if info is not None else "",
        nodes=rows,
        quorum=quorum,
        services=services,
        stuck=stuck,
        healer=healer,
        problems=problems,
        inventory=inventory(model),
    )


def no_leader_report(info: SwarmInfo | None, error: str, *, now: float, engine: str) -> Report:
    """A manager without a leader answers /info but refuses to list anything."""
    quorum = QuorumLine.unknown()
    seen_from = info.hostname if info is not None else ""
    problem = "the swarm has no leader (quorum lost)"
    return Report(
        now=now,
        engine=engine,
        seen_from=seen_from,
        cluster_id=info.cluster_id if info is not None else "",
        nodes=[],
        quorum=quorum,
        services=[],
        stuck=[],
        healer=[],
        problems=[Problem(f"{problem}, says {seen_from}" if seen_from else problem)],
        error=error,
        complete=False,
    )
