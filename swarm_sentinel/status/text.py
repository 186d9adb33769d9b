"""The terminal view of a status ``Report``: aligned tables, colour only on a TTY."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TextIO

from healer.settings import LABEL_STATE
from swarm_sentinel.status.report import STUCK_AFTER, Report

_ERROR_WIDTH = 160  # error texts in the text view are cut here; JSON keeps them whole


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
