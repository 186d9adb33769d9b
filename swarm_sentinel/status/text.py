"""The terminal view of a status ``Report``: aligned tables, colour only on a TTY."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TextIO

from common.durations import short_duration
from swarm_sentinel.status.explain import (
    Explanation,
    facts,
    failed_table,
    logs_title,
    placement_table,
)
from swarm_sentinel.status.report import STUCK_AFTER, Report
from swarm_sentinel.status.tables import Cell, Table, node_table, sections, stuck_table, verdict

_STYLES = {"bold": "1", "red": "31", "bold_red": "1;31", "yellow": "33", "green": "32"}


@dataclass(frozen=True, slots=True)
class Painter:
    color: bool

    def __call__(self, text: str, style: str) -> str:
        if not self.color or not style or not text:
            return text
        return f"\033[{_STYLES[style]}m{text}\033[0m"


def table_lines(table: Table, paint: Painter) -> list[str]:
    head = [Cell(h, "bold") for h in table.headers]
    widths = [max(len(c.text) for c in column) for column in zip(head, *table.rows, strict=True)]
    # Padding is computed on the plain text and added outside the colour
    # codes, which take no room on the screen.
    return [
        "  ".join(
            paint(c.text, c.style) + " " * (w - len(c.text))
            for c, w in zip(row, widths, strict=True)
        ).rstrip()
        for row in (head, *table.rows)
    ]


def render_text(r: Report, color: bool = False) -> str:
    paint = Painter(color)
    when = datetime.fromtimestamp(r.now, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    seen = f"{r.seen_from} ({r.engine})" if r.seen_from else r.engine
    cluster = f"Swarm {r.cluster_id[:12]}" if r.cluster_id else "Swarm"
    out = [f"{cluster} seen from {seen} at {when}", ""]

    out.append(paint("NODES", "bold"))
    if r.complete:
        out.extend("  " + line for line in table_lines(node_table(r), paint))
    else:
        out.append("  (not listed: a manager lists nodes only while the swarm has a leader)")
    if r.quorum.managers is not None:
        out.append(paint(r.quorum.summary, "" if r.quorum.state == "ok" else "bold"))
    if r.quorum.alarm:
        out.append(paint(r.quorum.alarm, "bold_red"))
    if r.error:
        out.append(paint(f"The engine says: {r.error}", "red"))

    if r.complete:
        for title, table, empty in sections(r):
            out += ["", paint(title, "bold")]
            if table.rows:
                out.extend("  " + line for line in table_lines(table, paint))
            else:
                out.append(f"  {empty}")

    if r.inventory:
        out += ["", "; ".join(line.text(r.now) for line in r.inventory)]
    out.append("")
    out.append(paint(verdict(r), "green" if r.healthy else "bold_red"))
    out.extend(f"  - {p}" for p in r.problems)
    return "\n".join(out)


def use_color(mode: str, stream: TextIO, env: Mapping[str, str]) -> bool:
    if mode == "always":
        return True  # an explicit request beats NO_COLOR, as https://no-color.org asks
    if mode == "never" or env.get("NO_COLOR") or env.get("TERM") == "dumb":
        return False
    return stream.isatty()


def render_explanation_text(e: Explanation, color: bool = False) -> str:
    """``swarm-sentinel explain``: the service's lines, then its tables."""
    paint = Painter(color)
    width = max(len(k) for k, _ in facts(e))
    out = [f"{paint(k.upper().ljust(width), 'bold')}  {v}" for k, v in facts(e)]
    tables = [
        ("LAST FAILED TASKS (newest first)", failed_table(e), "none seen"),
        ("WHERE A TASK COULD GO", placement_table(e), ""),
        (f"TASKS STUCK BEFORE RUNNING (for {short_duration(STUCK_AFTER)} or more)",
         stuck_table(e.stuck), ""),
    ]  # fmt: skip
    for title, table, empty in tables:
        if not table.rows and not empty:
            continue
        out += ["", paint(title, "bold")]
        if table.rows:
            out.extend("  " + line for line in table_lines(table, paint))
        else:
            out.append(f"  {empty}")
    if e.logs is not None:
        out += ["", paint(logs_title(e), "bold")]
        if e.logs.problem:
            out.append(f"  {e.logs.problem}")
        out.extend(f"  | {line}" for line in e.logs.lines)
    return "\n".join(out)
