"""Why one service is down, in one place: ``swarm-sentinel explain SERVICE`` and the
status page's per-service view.

Its last failed tasks (exit code, reason, node, time), what keeps a pending task off
every node, its update, its stuck tasks, what the healer did and will do; and,
only when asked for (``--explain.logs``: logs can hold secrets), the last lines of
its newest failed task.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.durations import short_duration
from common.text import one_line
from exporter.engine import Engine
from exporter.errors import EngineError
from exporter.logtail import LOG_TAIL
from exporter.model import SwarmModel
from exporter.placement import Placement
from exporter.reasons import classify
from exporter.types import Task
from exporter.views import ServiceView
from healer.policy import outlook
from healer.settings import LABEL_STATE, HealerSettings, service_policy
from healer.state import HealState, StateError
from swarm_sentinel.status.report import ServiceRow, StuckRow, service_row, stuck_rows
from swarm_sentinel.status.tables import Cell, Table

LOG_DRIVERS_READ = ("json-file", "local", "journald")
"""Log drivers whose output the engine can give back (``GET /tasks/{id}/logs``)."""


@dataclass(frozen=True, slots=True)
class FailedTask:
    task_id: str
    at: float
    node: str
    """The node's hostname (its ID when no longer known; "" when never placed)."""
    state: str  # failed | rejected
    exit_code: int | None
    reason: str  # exporter.reasons vocabulary
    error: str


@dataclass(frozen=True, slots=True)
class Logs:
    """The last lines of a failed task's output, or why there are none."""

    task_id: str
    lines: tuple[str, ...] = ()
    problem: str = ""


@dataclass(frozen=True, slots=True)
class Explanation:
    now: float
    row: ServiceRow
    image: str
    converged: bool
    update_started_at: float
    update_message: str
    updated: int
    """Running tasks on the current spec."""
    failed: tuple[FailedTask, ...]
    """Newest first."""
    stuck: tuple[StuckRow, ...]
    placement: Placement | None
    healer: str
    """What the healer did and will do, in one sentence."""
    logs: Logs | None = None
    """Only with ``--explain.logs``."""


def find(model: SwarmModel, ref: str) -> ServiceView | None:
    """The service named ``ref``, or whose ID is ``ref`` or starts with it (one only)."""
    views = model.views.values()
    named = [v for v in views if v.service.name == ref]
    if named:
        return named[0]
    by_id = [v for v in views if v.service.id.startswith(ref)] if ref else []
    return by_id[0] if len(by_id) == 1 else None


def _failed(task: Task, model: SwarmModel) -> FailedTask:
    node = model.nodes.get(task.node_id)
    return FailedTask(
        task_id=task.id,
        at=task.timestamp,
        node=node.hostname if node is not None else task.node_id,
        state=task.state,
        exit_code=task.exit_code,
        reason=classify(task.err, task.exit_code),
        error=task.err,
    )


def newest_failed(view: ServiceView) -> Task | None:
    """The task whose logs say most about why it is down."""
    return view.recent_failures[0] if view.recent_failures else None


def explain(
    model: SwarmModel,
    view: ServiceView,
    *,
    now: float,
    settings: HealerSettings,
    logs: Logs | None = None,
) -> Explanation:
    svc = view.service
    policy, _ = service_policy(svc, settings)
    try:
        state = HealState.decode(svc.label(LABEL_STATE))
        healer = outlook(view, policy, state, now, settings)
    except StateError as exc:
        healer = f"its {LABEL_STATE} label cannot be read ({exc}): the healer starts from zero"
    return Explanation(
        now=now,
        row=service_row(view),
        image=svc.image,
        converged=view.converged,
        update_started_at=svc.update_started_at,
        update_message=svc.update_message,
        updated=view.updated,
        failed=tuple(_failed(t, model) for t in view.recent_failures),
        stuck=tuple(stuck_rows(view, now)),
        placement=view.placement,
        healer=healer,
        logs=logs,
    )


# ---- what every view shows (text, HTML): decided here once --------------------


def facts(e: Explanation) -> list[tuple[str, str]]:
    """The service's own lines: (what, says)."""
    r = e.row
    state = "converged" if e.converged else f"not converged: {r.reason}"
    lines = [
        ("service", f"{r.name} ({r.mode}{', stack ' + r.stack if r.stack else ''})"),
        ("image", e.image),
        ("running", f"{r.running}/{r.desired} ({state})"),
    ]
    if r.last_error:
        ago = f", {short_duration(e.now - r.last_error_at)} ago" if r.last_error_at else ""
        lines.append(("last error", f"{r.last_error}{ago}"))
    if r.failures:
        counted = ", ".join(f"{k} {v}" for k, v in sorted(r.failures.items()))
        lines.append(("failures", f"{counted} (seen by this view since it started)"))
    if r.update_state:
        since = e.update_started_at
        started = f", started {short_duration(e.now - since)} ago" if since else ""
        said = f"; the engine says: {one_line(e.update_message)}" if e.update_message else ""
        lines.append(
            (
                "update",
                f"{r.update_state}{started}: {e.updated}/{r.desired} on the current spec{said}",
            )
        )
    if e.placement is not None:
        lines.append(("placement", e.placement.explain()))
    lines.append(("healer", e.healer))
    return lines


def failed_table(e: Explanation) -> Table:
    t = Table(("WHEN", "NODE", "EXIT", "REASON", "ERROR"))
    for f in e.failed:
        t.rows.append(
            [
                Cell(f"{short_duration(e.now - f.at)} ago" if f.at else "?"),
                Cell(f.node or "-"),
                Cell("-" if f.exit_code is None else str(f.exit_code)),
                Cell(f.reason, "yellow"),
                Cell(f.error),
            ]
        )
    return t


def placement_table(e: Explanation) -> Table:
    t = Table(("EXCLUDED BY", "NODES", "WHICH", "DETAIL"))
    for x in e.placement.exclusions if e.placement is not None else ():
        t.rows.append(
            [
                Cell(x.constraint or x.filter, "yellow"),
                Cell(str(len(x.nodes))),
                Cell(", ".join(x.nodes)),
                Cell(x.detail),
            ]
        )
    return t


def logs_title(e: Explanation) -> str:
    assert e.logs is not None
    return f"LAST {LOG_TAIL} LINES OF TASK {e.logs.task_id[:12]}"


async def read_logs(engine: Engine, task_id: str) -> Logs:
    """The last lines of a task's output, or why there are none (an engine error
    becomes the ``problem`` line)."""
    try:
        lines = await engine.task_logs(task_id)
    except EngineError as exc:
        return Logs(
            task_id,
            problem=f"cannot read its logs: {exc.message} (the engine gives back the logs "
            f"of tasks whose log driver is {', '.join(LOG_DRIVERS_READ)} only)",
        )
    return Logs(task_id, lines=tuple(lines)) if lines else Logs(task_id, problem="it wrote nothing")
