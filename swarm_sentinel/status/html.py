"""The status report as a web page, the exporter's ``/``: the same tables as the
terminal view (``tables``), drawn in plain HTML and CSS.

Nothing is fetched from anywhere (it must work in an air-gapped swarm) and there is
no script: the page asks the browser to load it again every few seconds. It is built
when it is asked for, from the model, never on the scrape path.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from urllib.parse import quote

from common.durations import short_duration
from common.version import VERSION
from swarm_sentinel.status.explain import (
    Explanation,
    facts,
    failed_table,
    logs_title,
    placement_table,
)
from swarm_sentinel.status.report import Problem, Report
from swarm_sentinel.status.tables import Table, node_table, sections, stuck_table, verdict

REFRESH_SECONDS = 5


@dataclass(frozen=True, slots=True)
class Live:
    """What the exporter knows of itself when the page is asked for."""

    up: bool
    last_refresh: float  # 0: never
    last_error: str
    synced: bool
    healer: str  # "acting", "standby" or "off"
    dry_run: bool


_CSS = """
:root { color-scheme: light dark; --bad: #c62828; --warn: #b26a00; --ok: #2e7d32; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, sans-serif; margin: 0; padding: 0 12px 24px; }
header { display: flex; flex-wrap: wrap; gap: 4px 16px; align-items: baseline;
  padding: 10px 0; border-bottom: 1px solid #8884; }
header h1 { font-size: 18px; margin: 0; }
nav a { margin-right: 10px; }
.alarm { background: var(--bad); color: #fff; font-weight: 700; padding: 12px;
  margin: 12px 0; border-radius: 6px; font-size: 17px; }
.quorum { font-size: 17px; margin: 12px 0; }
.quorum .can-lose-0 { color: var(--bad); font-weight: 700; }
.verdict { font-weight: 700; font-size: 17px; }
.verdict.healthy { color: var(--ok); }
.verdict.unhealthy { color: var(--bad); }
h2 { font-size: 15px; margin: 20px 0 6px; letter-spacing: .03em; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; min-width: 100%; }
th, td { text-align: left; padding: 4px 10px 4px 0; vertical-align: top;
  border-bottom: 1px solid #8883; }
th { font-size: 12px; text-transform: uppercase; opacity: .8; white-space: nowrap; }
td.bold_red, td.red { color: var(--bad); } td.bold_red, td.bold { font-weight: 700; }
td.yellow { color: var(--warn); } td.green { color: var(--ok); }
.fresh.stale { color: var(--bad); font-weight: 700; }
ul.problems { margin: 6px 0; padding-left: 20px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; }
dl.facts dt { font-size: 12px; text-transform: uppercase; opacity: .8; padding-top: 2px; }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
pre { overflow-x: auto; padding: 8px; background: #8881; border-radius: 4px; }
.managers { display: inline-flex; gap: 3px; vertical-align: middle; margin-right: 8px; }
.managers i { width: 14px; height: 14px; border-radius: 3px; background: var(--ok); }
.managers i.down { background: var(--bad); }
/* On a phone a row becomes a card: each cell on its own line, named by its column. */
@media (max-width: 600px) {
  body { font-size: 14px; }
  table, tbody, tr, td { display: block; min-width: 0; }
  thead { display: none; }
  tr { border-bottom: 1px solid #8886; padding: 4px 0; }
  td { border: 0; padding: 1px 0; }
  td::before { content: attr(data-label) ": "; font-size: 12px; opacity: .7; }
  td:empty { display: none; }
}
"""


def _table(table: Table, empty: str) -> str:
    if not table.rows:
        return f"<p class=empty>{escape(empty)}</p>"
    names = [escape(h.title()) for h in table.headers]
    head = "".join(f"<th>{name}</th>" for name in names)
    rows = "".join(
        "<tr>"
        + "".join(
            f'<td data-label="{name}"'
            + (f' class="{c.style}"' if c.style else "")
            + f">{escape(c.text)}</td>"
            for name, c in zip(names, row, strict=True)
        )
        + "</tr>"
        for row in table.rows
    )
    table_html = f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    return f"<div class=scroll>{table_html}</div>"


def service_link(name: str) -> str:
    """The per-service view's address, relative to the page at ``/``."""
    return "service/" + quote(name, safe="")


def _problem(p: Problem) -> str:
    if not p.service:
        return escape(p.text)
    return f'<a href="{escape(service_link(p.service))}">{escape(p.text)}</a>'


def _freshness(r: Report, live: Live) -> str:
    if not live.last_refresh:
        said = "not read from the engine yet"
    else:
        said = f"last refresh {short_duration(r.now - live.last_refresh)} ago"
    stale = not live.up
    state = "up" if live.up else "down: " + live.last_error
    css = "fresh stale" if stale else "fresh"
    return f'<span class="{css}" id=freshness>{escape(said)}, {escape(state)}</span>'


def _page(title: str, body: list[str]) -> str:
    return (
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f'<meta http-equiv=refresh content="{REFRESH_SECONDS}">'
        f"<title>{escape(title)} - swarm-sentinel</title>"
        f"<style>{_CSS}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def render_service_html(e: Explanation) -> str:
    """The per-service view at ``/service/NAME``: what ``explain`` prints."""
    when = datetime.fromtimestamp(e.now, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    r = e.row
    body = [
        "<header>",
        f"<h1>{escape(r.name)}</h1>",
        f"<span>at {when}</span>",
        '<nav><a href="../">status</a><a href="../metrics">metrics</a></nav>',
        "</header>",
    ]
    state = "healthy" if e.converged else "unhealthy"
    verdict_text = f"{r.running}/{r.desired} running" + ("" if e.converged else f": {r.reason}")
    body.append(f'<div class="verdict {state}" id=verdict>{escape(verdict_text)}</div>')
    body.append("<dl class=facts id=facts>")
    body += [f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in facts(e)]
    body.append("</dl>")
    parts = (
        ("failed", "LAST FAILED TASKS (newest first)", failed_table(e), "none seen"),
        ("placement", "WHERE A TASK COULD GO", placement_table(e), "no task is pending"),
        ("stuck", "TASKS STUCK BEFORE RUNNING", stuck_table(e.stuck), "none"),
    )
    for section_id, title, table, empty in parts:
        body.append(f"<section id={section_id}><h2>{escape(title)}</h2>")
        body.append(_table(table, empty))
        body.append("</section>")
    if e.logs is not None:
        body.append(f"<section id=logs><h2>{escape(logs_title(e))}</h2>")
        if e.logs.problem:
            body.append(f"<p>{escape(e.logs.problem)}</p>")
        if e.logs.lines:
            body.append("<pre>" + escape("\n".join(e.logs.lines)) + "</pre>")
        body.append("</section>")
    return _page(f"{r.name}: {verdict_text}", body)


def render_html(r: Report, live: Live) -> str:
    when = datetime.fromtimestamp(r.now, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    seen = f"{r.seen_from} ({r.engine})" if r.seen_from else r.engine
    healer = {
        "acting": "acting (its engine is the leader)",
        "standby": "standby (another instance acts)",
        "off": "off",
    }[live.healer] + (", dry run" if live.dry_run and live.healer != "off" else "")
    body = [
        "<header>",
        f"<h1>swarm-sentinel {escape(VERSION)}</h1>",
        f"<span>seen from {escape(seen)} at {when}</span>",
        _freshness(r, live),
        '<nav><a href="metrics">metrics</a><a href="status.json">status.json</a>'
        '<a href="healthz">healthz</a><a href="ready">ready</a></nav>',
        "</header>",
    ]
    if r.quorum.alarm:
        body.append(f"<div class=alarm id=alarm>{escape(r.quorum.alarm)}</div>")
    if not live.synced:
        body.append(
            "<div class=alarm>Not synced with the engine yet"
            + (f": {escape(live.last_error)}" if live.last_error else "")
            + "</div>"
        )
    q = r.quorum
    summary = escape(q.summary)
    if q.managers is not None and q.can_lose == 0 and q.managers > 1:
        summary = summary.replace("can lose 0", '<span class="can-lose-0">can lose 0</span>')
    boxes = ""
    if q.managers is not None and q.reachable is not None:
        # One box a manager, red when unreachable: the count against the need at a glance.
        boxes = (
            "<span class=managers aria-hidden=true>"
            + "<i></i>" * q.reachable
            + "<i class=down></i>" * (q.managers - q.reachable)
            + "</span>"
        )
    body.append(f"<div class=quorum>{boxes}<span id=quorum>{summary}</span></div>")
    if r.error:
        body.append(f"<p class=alarm>The engine says: {escape(r.error)}</p>")
    verdict_class = "healthy" if r.healthy else "unhealthy"
    body.append(f'<div class="verdict {verdict_class}" id=verdict>{escape(verdict(r))}</div>')
    if r.problems:
        body.append(
            "<ul class=problems>" + "".join(f"<li>{_problem(p)}</li>" for p in r.problems) + "</ul>"
        )
    body.append("<section id=nodes><h2>NODES</h2>")
    body.append(
        _table(node_table(r), "not listed: a manager lists nodes only while the swarm has a leader")
    )
    body.append("</section>")
    ids = ("services", "stuck", "healer")
    for section_id, (title, table, empty) in zip(ids, sections(r), strict=True):
        body.append(f"<section id={section_id}><h2>{escape(title)}</h2>")
        if section_id == "healer":
            body.append(f"<p id=healer-mode>This instance's healer: {escape(healer)}.</p>")
        body.append(_table(table, empty))
        body.append("</section>")
    if r.inventory:
        text = "; ".join(line.text(r.now) for line in r.inventory)
        body.append(f"<p id=inventory>{escape(text)}.</p>")
    return _page(verdict(r), body)
