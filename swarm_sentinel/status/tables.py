"""The status report as the tables and lines both views show (text for a terminal,
HTML for the exporter's page): what each row says, and how alarming each cell is, is
decided here once; the views only draw it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from common.durations import short_duration
from healer.settings import LABEL_STATE
from swarm_sentinel.status.report import STUCK_AFTER, Report, StuckRow

_ERROR_WIDTH = 160  # error texts in the tables are cut here; JSON keeps them whole


@dataclass(frozen=True, slots=True)
class Cell:
    text: str
    style: str = ""


@dataclass
class Table:
    headers: Sequence[str]
    rows: list[list[Cell]] = field(default_factory=list)


def _cut(text: str, width: int = _ERROR_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def node_table(r: Report) -> Table:
    t = Table(
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


def service_table(r: Report) -> Table:
    t = Table(("SERVICE", "MODE", "RUNNING", "REASON", "LAST ERROR"))
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


def stuck_table(stuck: Sequence[StuckRow]) -> Table:
    t = Table(("SERVICE", "STATE", "FOR", "REASON", "DETAIL"))
    for s in stuck:
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


def heal_table(r: Report) -> Table:
    t = Table(("SERVICE", "ATTEMPTS (24h)", "LAST FORCE", "NEXT FORCE ALLOWED", "STATUS"))
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


def sections(r: Report) -> list[tuple[str, Table, str]]:
    """The report's tables after the nodes: (title, table, what to say when empty)."""
    return [
        ("SERVICES NOT CONVERGED", service_table(r), "none: every service runs as desired"),
        (
            f"TASKS STUCK BEFORE RUNNING (for {short_duration(STUCK_AFTER)} or more)",
            stuck_table(r.stuck),
            "none",
        ),
        (
            f"HEALER (from the {LABEL_STATE} labels)",
            heal_table(r),
            "no service has been forced by the healer",
        ),
    ]


def verdict(r: Report) -> str:
    if r.healthy:
        return "HEALTHY"
    n = len(r.problems)
    return f"UNHEALTHY: {n} problem{'s' if n != 1 else ''}"
