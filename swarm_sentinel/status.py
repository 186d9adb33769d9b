"""``swarm-sentinel status``: a one-shot view of the swarm for the person on call.

It reads the swarm once, through the exporter's own code (``Engine`` +
``Watcher.resync()`` into a ``SwarmModel``), and prints the nodes with the
manager quorum, the services that are not converged and why, the tasks stuck
before running, and what the healer has recorded in its state labels.

Exit codes, for scripts and shell prompts:

- 0: healthy.
- 1: unhealthy: a node not ready, a manager not reachable, quorum lost or
  at risk (no fault tolerance left with more than one manager), no leader,
  or a service with fewer running tasks than desired. A manager answering
  "the swarm does not have a leader" is a quorum loss, hence 1 (with the
  engine's words), not 2: the engine was reached and told us what is wrong.
- 2: no view of the swarm at all: the engine cannot be reached, is not an
  active swarm manager, or a later call failed for another reason than a
  missing leader; also bad flags. One line on stderr names the cause and
  nothing is printed on stdout, not even with ``--output json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from prometheus_client import CollectorRegistry

from exporter.engine import Engine, EngineError, EngineMetrics
from exporter.families import MODEL_FAMILIES
from exporter.logconfig import configure_logging
from exporter.metrics_text import TextStore
from exporter.model import ServiceView, SwarmModel
from exporter.reasons import classify
from exporter.types import Node, SwarmInfo, Task
from exporter.watcher import Watcher, WatcherMetrics, WatchSettings
from healer.settings import LABEL_STATE, HealerSettings, service_policy
from healer.state import HealState, StateError
from swarm_sentinel.flags import _Parser, _positive_int, add_docker_flags

EXIT_HEALTHY = 0
EXIT_UNHEALTHY = 1
EXIT_NO_VIEW = 2

STUCK_AFTER = 30.0
"""Seconds in a pre-running state before a task is listed as stuck: every task
passes through those states for a moment, and a snapshot taken during a rolling
update should not list each of them."""

_ERROR_WIDTH = 160  # error texts in the text view are cut here; JSON keeps them whole


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
class Quorum:
    managers: int | None  # None when the manager could not list nodes (no leader)
    reachable: int | None
    quorum: int | None
    can_lose: int
    has_leader: bool
    leader: str
    state: str  # ok | at_risk | lost

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
class Report:
    now: float
    engine: str
    seen_from: str  # hostname of the engine read
    cluster_id: str
    nodes: list[NodeRow]
    quorum: Quorum
    services: list[ServiceRow]
    stuck: list[StuckRow]
    healer: list[HealRow]
    problems: list[str]
    error: str = ""  # the engine's own words when it could not list the swarm
    complete: bool = True  # False: only info could be read (no leader)

    @property
    def healthy(self) -> bool:
        return not self.problems

    @property
    def exit_code(self) -> int:
        return EXIT_HEALTHY if self.healthy else EXIT_UNHEALTHY


def quorum_of(managers: Sequence[Node], has_leader: bool) -> Quorum:
    n = len(managers)
    reachable = sum(1 for m in managers if m.reachability == "reachable")
    need = n // 2 + 1 if n else 0
    # What the swarm can still lose from where it stands now, not by design:
    # with one of three managers down this is 0, and that is the point.
    can_lose = max(reachable - need, 0)
    if not has_leader or reachable < need:
        state = "lost"
    elif can_lose == 0 and n > 1:
        state = "at_risk"
    else:
        state = "ok"
    leader = next((m.hostname for m in managers if m.leader), "")
    return Quorum(n, reachable, need, can_lose, has_leader, leader, state)


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


def _newest_error(tasks: Sequence[Task]) -> Task | None:
    return max((t for t in tasks if t.err), key=lambda t: t.timestamp, default=None)


def _service_row(view: ServiceView, tasks: Sequence[Task]) -> ServiceRow:
    svc = view.service
    # The model keeps only the error of each slot's current task; a crash loop's
    # current task is often a fresh one with no error yet, so look through the
    # listed history for the newest error.
    newest = _newest_error(tasks)
    last_error = newest.err if newest is not None else view.last_error
    if newest is not None:
        reason = classify(newest.err, newest.exit_code)
    elif view.last_error:
        reason = classify(view.last_error)
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
        last_error=last_error,
        last_error_at=newest.timestamp if newest is not None else 0.0,
        update_state=svc.update_state,
        failures=dict(view.failures),
    )


def _stuck_rows(view: ServiceView, tasks: Sequence[Task], now: float) -> list[StuckRow]:
    rows = []
    for (state, reason), since in sorted(view.stuck.items()):
        if now - since < STUCK_AFTER:
            continue
        # view.stuck keeps the classified reason only; the engine's text says more
        # ("no suitable node (scheduling constraints not satisfied on 3 nodes ...)").
        match = _newest_error([t for t in tasks if t.state == state and classify(t.err) == reason])
        rows.append(
            StuckRow(
                service=view.service.name,
                service_id=view.service.id,
                state=state,
                reason=reason,
                since=since,
                seconds=now - since,
                detail=match.err if match is not None else "",
            )
        )
    return rows


def _heal_row(view: ServiceView, text: str, settings: HealerSettings, now: float) -> HealRow:
    svc = view.service
    policy, _ = service_policy(svc, settings)
    try:
        state = HealState.decode(text)
    except StateError as exc:
        return HealRow(
            svc.name, svc.id, (), 0, policy.max_attempts, 0.0, False, view.converged, str(exc)
        )
    # The healer also stops counting forces once a service has been healthy for a
    # while, but keeps that in memory only: from the label, attempts are an upper bound.
    recent = state.recent(now, settings.attempts_window)
    attempts = len(recent)
    given_up = attempts >= policy.max_attempts
    resumes_at = 0.0
    if given_up:
        # Forces are oldest first: the healer may force again once all but
        # max_attempts - 1 of them have left the window.
        resumes_at = recent[attempts - policy.max_attempts] + settings.attempts_window
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
        resumes_at=resumes_at,
    )


def build_report(
    model: SwarmModel,
    tasks: Sequence[Task],
    *,
    now: float,
    engine: str = "",
    max_attempts: int = HealerSettings().max_attempts,
) -> Report:
    """The report of a model filled by one resync, and the tasks that resync listed."""
    info = model.info
    self_id = info.node_id if info is not None else ""
    nodes = sorted(model.nodes.values(), key=lambda n: (not n.is_manager, n.hostname))
    rows = [_node_row(n, model, self_id) for n in nodes]
    quorum = quorum_of(model.managers, model.leader is not None)
    by_service: dict[str, list[Task]] = {}
    for t in tasks:
        by_service.setdefault(t.service_id, []).append(t)
    settings = HealerSettings(max_attempts=max_attempts)
    services: list[ServiceRow] = []
    stuck: list[StuckRow] = []
    healer: list[HealRow] = []
    for view in sorted(model.views.values(), key=lambda v: v.service.name):
        mine = by_service.get(view.service.id, [])
        # A job that has finished runs nothing, by design: never "not converged".
        if not view.converged and not view.service.is_job:
            services.append(_service_row(view, mine))
        stuck.extend(_stuck_rows(view, mine, now))
        label = view.service.label(LABEL_STATE)
        if label:
            healer.append(_heal_row(view, label, settings, now))
    healer.sort(key=lambda h: (-h.last_force, h.service))

    problems: list[str] = []
    if quorum.alarm:
        problems.append(quorum.alarm)
    for n in nodes:
        issues = []
        if n.state != "ready":
            issues.append(n.state)
        if n.is_manager and not n.leader and n.reachability != "reachable":
            issues.append(n.reachability or "unknown")
        if issues:
            why = f" ({n.message})" if n.message else ""
            problems.append(f"{n.role} {n.hostname} is {', '.join(issues)}{why}")
    gave_up = {h.service_id: h for h in healer if h.given_up}
    for s in services:
        text = f"service {s.name}: {s.running}/{s.desired} running ({s.reason}"
        text += f": {s.last_error})" if s.last_error else ")"
        h = gave_up.get(s.id)
        if h is not None:
            text += f"; the healer gave up after {h.attempts} forces"
        problems.append(text)
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
    )


def no_leader_report(info: SwarmInfo | None, error: str, *, now: float, engine: str) -> Report:
    """A manager without a leader answers /info but refuses to list anything."""
    quorum = Quorum(None, None, None, 0, has_leader=False, leader="", state="lost")
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
        problems=[f"{problem}, says {seen_from}" if seen_from else problem],
        error=error,
        complete=False,
    )


# ---- JSON ------------------------------------------------------------------


def _iso(ts: float) -> str | None:
    if not ts:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def to_json(r: Report) -> dict[str, Any]:
    q = r.quorum
    return {
        "time": _iso(r.now),
        "engine": r.engine,
        "seen_from": r.seen_from,
        "cluster_id": r.cluster_id,
        "healthy": r.healthy,
        "complete": r.complete,
        "error": r.error or None,
        "problems": r.problems,
        "nodes": [
            {
                "id": n.id,
                "hostname": n.hostname,
                "self": n.is_self,
                "role": n.role,
                "status": n.status.lower(),
                "availability": n.availability.lower(),
                "manager_status": n.manager_status.lower() or None,
                "engine_version": n.engine_version,
                "running_tasks": n.running_tasks,
                "message": n.message,
            }
            for n in r.nodes
        ],
        "quorum": {
            "managers": q.managers,
            "reachable": q.reachable,
            "quorum": q.quorum,
            "can_lose": q.can_lose,
            "has_leader": q.has_leader,
            "leader": q.leader or None,
            "state": q.state,
            "summary": q.summary,
        },
        "services_not_converged": [
            {
                "id": s.id,
                "name": s.name,
                "stack": s.stack,
                "mode": s.mode,
                "running": s.running,
                "desired": s.desired,
                "reason": s.reason,
                "last_error": s.last_error,
                "last_error_at": _iso(s.last_error_at),
                "update_state": s.update_state or None,
                "failures": dict(s.failures),
            }
            for s in r.services
        ],
        "stuck_tasks": [
            {
                "service": t.service,
                "service_id": t.service_id,
                "state": t.state,
                "reason": t.reason,
                "since": _iso(t.since),
                "seconds": round(t.seconds, 1),
                "detail": t.detail,
            }
            for t in r.stuck
        ],
        "healer": [
            {
                "service": h.service,
                "service_id": h.service_id,
                "forces": [_iso(t) for t in h.forces],
                "last_force": _iso(h.last_force),
                "next_allowed": _iso(h.next_allowed),
                "attempts_24h": h.attempts,
                "max_attempts": h.max_attempts,
                "given_up": h.given_up,
                "resumes_at": _iso(h.resumes_at),
                "converged": h.converged,
                "error": h.error or None,
            }
            for h in r.healer
        ],
    }


# ---- text ------------------------------------------------------------------

_STYLES = {"bold": "1", "red": "31", "bold_red": "1;31", "yellow": "33", "green": "32"}


@dataclass(frozen=True, slots=True)
class Painter:
    color: bool

    def __call__(self, text: str, style: str) -> str:
        if not self.color or not style or not text:
            return text
        return f"\033[{_STYLES[style]}m{text}\033[0m"


@dataclass(frozen=True, slots=True)
class Cell:
    text: str
    style: str = ""


@dataclass
class _Table:
    headers: Sequence[str]
    rows: list[list[Cell]] = field(default_factory=list)

    def lines(self, paint: Painter) -> list[str]:
        head = [Cell(h, "bold") for h in self.headers]
        widths = [max(len(c.text) for c in column) for column in zip(head, *self.rows, strict=True)]
        # Padding is computed on the plain text and added outside the colour
        # codes, which take no room on the screen.
        return [
            "  ".join(
                paint(c.text, c.style) + " " * (w - len(c.text))
                for c, w in zip(row, widths, strict=True)
            ).rstrip()
            for row in (head, *self.rows)
        ]


def short_duration(seconds: float) -> str:
    """Two units at most, as a person reads them: 42s, 3m12s, 2h05m, 1d03h."""
    s = max(round(seconds), 0)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def _cut(text: str, width: int = _ERROR_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _node_table(r: Report) -> _Table:
    t = _Table(
        ("HOSTNAME", "ROLE", "STATUS", "AVAILABILITY", "MANAGER STATUS", "ENGINE", "RUNNING TASKS")
    )
    for n in r.nodes:
        t.rows.append(
            [
                Cell(n.hostname + (" *" if n.is_self else "")),
                Cell(n.role),
                Cell(n.status, "" if n.status == "Ready" else "bold_red"),
                Cell(n.availability, "" if n.availability == "Active" else "yellow"),
                Cell(
                    n.manager_status,
                    "" if n.manager_status in ("", "Leader", "Reachable") else "bold_red",
                ),
                Cell(n.engine_version),
                Cell("-" if n.running_tasks is None else str(n.running_tasks)),
            ]
        )
    return t


def _service_table(r: Report) -> _Table:
    t = _Table(("SERVICE", "MODE", "RUNNING", "REASON", "LAST ERROR"))
    for s in r.services:
        reason = s.reason
        if s.update_state and s.update_state != "completed" and reason != s.update_state:
            reason += f" (update {s.update_state})"
        err = _cut(s.last_error)
        if s.last_error_at:
            err += f" ({short_duration(r.now - s.last_error_at)} ago)"
        t.rows.append(
            [
                Cell(s.name),
                Cell(s.mode),
                Cell(f"{s.running}/{s.desired}", "red"),
                Cell(reason, "yellow"),
                Cell(err),
            ]
        )
    return t


def _stuck_table(r: Report) -> _Table:
    t = _Table(("SERVICE", "STATE", "FOR", "REASON", "DETAIL"))
    for s in r.stuck:
        t.rows.append(
            [
                Cell(s.service),
                Cell(s.state, "yellow"),
                Cell(short_duration(s.seconds)),
                Cell(s.reason),
                Cell(_cut(s.detail)),
            ]
        )
    return t


def _heal_table(r: Report) -> _Table:
    t = _Table(("SERVICE", "ATTEMPTS (24h)", "LAST FORCE", "NEXT FORCE ALLOWED", "STATUS"))
    for h in r.healer:
        if h.error:
            unreadable = Cell(f"state label unreadable: {h.error}", "yellow")
            t.rows.append([Cell(h.service), Cell("?"), Cell("?"), Cell("?"), unreadable])
            continue
        last = f"{short_duration(r.now - h.last_force)} ago" if h.last_force else "never"
        if h.given_up:
            nxt = f"in {short_duration(h.resumes_at - r.now)} (attempts age out)"
        elif h.next_allowed > r.now:
            nxt = f"in {short_duration(h.next_allowed - r.now)}"
        else:
            nxt = "now"
        if h.given_up:
            status = (
                Cell("gave up (service converged since)", "yellow")
                if h.converged
                else Cell("GAVE UP", "bold_red")
            )
        elif h.next_allowed > r.now:
            status = Cell("cooling down")
        else:
            status = Cell("may force if broken")
        t.rows.append(
            [Cell(h.service), Cell(f"{h.attempts}/{h.max_attempts}"), Cell(last), Cell(nxt), status]
        )
    return t


def render_text(r: Report, color: bool = False) -> str:
    paint = Painter(color)
    when = datetime.fromtimestamp(r.now, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    seen = f"{r.seen_from} ({r.engine})" if r.seen_from else r.engine
    cluster = f"Swarm {r.cluster_id[:12]}" if r.cluster_id else "Swarm"
    out = [f"{cluster} seen from {seen} at {when}", ""]

    out.append(paint("NODES", "bold"))
    if r.complete:
        out.extend("  " + line for line in _node_table(r).lines(paint))
    else:
        out.append("  (not listed: a manager lists nodes only while the swarm has a leader)")
    if r.quorum.managers is not None:
        out.append(paint(r.quorum.summary, "" if r.quorum.state == "ok" else "bold"))
    if r.quorum.alarm:
        out.append(paint(r.quorum.alarm, "bold_red"))
    if r.error:
        out.append(paint(f"The engine says: {r.error}", "red"))

    if r.complete:
        sections = (
            ("SERVICES NOT CONVERGED", _service_table(r), "none: every service runs as desired"),
            (
                f"TASKS STUCK BEFORE RUNNING (for {short_duration(STUCK_AFTER)} or more)",
                _stuck_table(r),
                "none",
            ),
            (
                f"HEALER (from the {LABEL_STATE} labels)",
                _heal_table(r),
                "no service has been forced by the healer",
            ),
        )
        for title, table, empty in sections:
            out += ["", paint(title, "bold")]
            if table.rows:
                out.extend("  " + line for line in table.lines(paint))
            else:
                out.append(f"  {empty}")

    out.append("")
    if r.healthy:
        out.append(paint("HEALTHY", "green"))
    else:
        n = len(r.problems)
        out.append(paint(f"UNHEALTHY: {n} problem{'s' if n != 1 else ''}", "bold_red"))
        out.extend(f"  - {p}" for p in r.problems)
    return "\n".join(out)


def use_color(mode: str, stream: TextIO, env: Mapping[str, str]) -> bool:
    if mode == "always":
        return True  # an explicit request beats NO_COLOR, as https://no-color.org asks
    if mode == "never" or env.get("NO_COLOR") or env.get("TERM") == "dumb":
        return False
    return stream.isatty()


# ---- reading the swarm -------------------------------------------------------


class _RecordingEngine(Engine):
    """Keeps the task list that the resync fetched: the model keeps only each
    slot's current error, the report also wants the failures before it."""

    def __init__(self, url: str | None, metrics: EngineMetrics, *, timeout: float) -> None:
        super().__init__(url, metrics, timeout=timeout)
        self.listed_tasks: list[Task] = []

    async def tasks(self, service_ids: list[str] | None = None) -> list[Task]:
        self.listed_tasks = await super().tasks(service_ids)
        return self.listed_tasks


async def _read(engine: _RecordingEngine, model: SwarmModel) -> None:
    registry = CollectorRegistry()
    watcher = Watcher(
        engine, model, TextStore(MODEL_FAMILIES), WatcherMetrics(registry), WatchSettings()
    )
    try:
        await watcher.resync()
    finally:
        await engine.close()


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="swarm-sentinel status",
        description=(
            "Print a one-shot view of the swarm: nodes and manager quorum, services not "
            "converged and why, stuck tasks, the healer's recorded forces."
        ),
        epilog="Exit code: 0 healthy, 1 unhealthy (incl. no leader), 2 no view of the swarm "
        "(engine unreachable, not a manager, bad flags).",
    )
    add_docker_flags(p)
    p.flag("--output", default="text", choices=("text", "json"), help="text for people, json")
    p.flag(
        "--color",
        default="auto",
        choices=("auto", "always", "never"),
        help="auto: colour on a terminal unless NO_COLOR is set",
    )
    p.flag(
        "--healer.max-attempts",
        default=HealerSettings().max_attempts,
        type=_positive_int,
        metavar="N",
        help="the healer's setting: forces in 24h after which it gives up "
        "(the service label swarm-sentinel.heal.max-attempts wins)",
    )
    return p


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    # structlog's default prints to stdout; the watcher must not mix its log
    # lines into the report (or into the JSON), and only real trouble matters here.
    configure_logging("error", "auto")
    host: str = getattr(args, "docker.host") or ""
    model = SwarmModel()
    engine = _RecordingEngine(
        host or None, EngineMetrics(CollectorRegistry()), timeout=getattr(args, "docker.timeout")
    )
    try:
        asyncio.run(_read(engine, model))
    except EngineError as exc:
        if not exc.no_leader:
            print(f"swarm-sentinel status: {_cause(exc, model, engine)}", file=sys.stderr)
            return EXIT_NO_VIEW
        report = no_leader_report(model.info, exc.message, now=time.time(), engine=engine.address)
    else:
        report = build_report(
            model,
            engine.listed_tasks,
            now=time.time(),
            engine=engine.address,
            max_attempts=getattr(args, "healer.max_attempts"),
        )
    if args.output == "json":
        text = json.dumps(to_json(report), indent=2)
    else:
        text = render_text(report, use_color(args.color, sys.stdout, os.environ))
    try:
        print(text, flush=True)
    except BrokenPipeError:
        # `status | head` closed the pipe early: not an error of ours. Point stdout
        # at /dev/null so that the interpreter's final flush does not complain.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return report.exit_code


def _cause(exc: EngineError, model: SwarmModel, engine: Engine) -> str:
    address = engine.address
    if isinstance(exc.__cause__, TimeoutError):
        # Seen on the lab: while a manager's swarm loses quorum, even its /info can
        # hang for some seconds before it says "no leader". Worth a hint, not a guess.
        return (
            f"the Docker engine at {address} gave no answer within {engine.timeout:g}s "
            f"({exc.endpoint}); a manager can stall while its swarm loses quorum: "
            "try again, or give a longer --docker.timeout"
        )
    if model.info is None:
        return f"cannot talk to the Docker engine at {address}: {exc.message}"
    if exc.endpoint == "info":
        # The watcher's own words: not in a swarm, or a worker; they name the address.
        return exc.message
    return f"the manager at {address} did not answer: {exc}"
