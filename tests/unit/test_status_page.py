"""The status page at ``/``: the report of the sampled swarms as HTML (a real browser
checks it on the lab, tests/lab/test_status_page.py)."""

from __future__ import annotations

import re
from dataclasses import replace
from html.parser import HTMLParser
from typing import Any

from exporter.model import SwarmModel
from exporter.parse import parse_info, parse_list, parse_node, parse_service, parse_task
from swarm_sentinel.status.html import REFRESH_SECONDS, Live, render_html
from swarm_sentinel.status.report import Report, build_report
from swarm_sentinel.status.text import render_text
from tests.unit.samples import SampleSet

LIVE = Live(up=True, last_refresh=0.0, last_error="", synced=True, healer="acting", dry_run=False)


def report(sample: SampleSet, nodes: str = "nodes.json", **kw: Any) -> Report:
    model = SwarmModel(clock=lambda: sample.now)
    model.set_info(parse_info(sample.load("info.json")))
    model.replace_nodes(parse_list(sample.load(nodes), parse_node, "n")[0])
    model.replace_services(parse_list(sample.load("services-status.json"), parse_service, "s")[0])
    model.replace_tasks(parse_list(sample.load("tasks.json"), parse_task, "t")[0], None, whole=True)
    return build_report(model, now=sample.now, engine="unix:///sample.sock", **kw)


class Page(HTMLParser):
    """The text of each element with an id, and every tag and attribute seen."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.by_id: dict[str, str] = {}
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self._open: list[str | None] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in ("meta", "br", "link"):
            self._open.append(dict(attrs).get("id"))

    def handle_endtag(self, tag: str) -> None:
        if self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for ident in self._open:
            if ident:
                self.by_id[ident] = self.by_id.get(ident, "") + data


def test_the_page_says_what_status_says(sample: SampleSet) -> None:
    r = report(sample)
    html = render_html(r, LIVE)
    page = Page(html)
    text = render_text(r)
    assert page.by_id["quorum"] == "3 managers, 3 reachable, quorum 2, can lose 1"
    assert page.by_id["quorum"] in text
    assert page.by_id["verdict"].startswith("UNHEALTHY: 5 problems")
    for name in ("badimage", "crashy", "hungry", "pinned", "web"):
        assert name in page.by_id["services"]
    assert "no suitable node" in page.by_id["stuck"] and "pinned" in page.by_id["stuck"]
    for host in ("lab-m1", "lab-m2", "lab-m3", "lab-w1"):
        assert host in page.by_id["nodes"]
    assert "acting" in page.by_id["healer-mode"]
    assert "alarm" not in page.by_id


def test_quorum_at_risk_stands_out_and_loss_is_said_at_the_top(sample: SampleSet) -> None:
    html = render_html(report(sample, "nodes-one-manager-down.json"), LIVE)
    assert '<span class="can-lose-0">can lose 0</span>' in html
    assert Page(html).by_id["alarm"].startswith("QUORUM AT RISK")
    lost = render_html(report(sample, has_leader=False), LIVE)
    page = Page(lost)
    assert page.by_id["alarm"].startswith("QUORUM LOST: the swarm has no leader")
    # The alarm comes before anything else of the body but the header.
    assert lost.index("id=alarm") < lost.index("id=quorum") < lost.index("id=nodes")


def test_a_page_for_any_browser_anywhere(sample: SampleSet) -> None:
    html = render_html(report(sample), LIVE)
    tags = Page(html).tags
    assert not [t for t, _ in tags if t in ("script", "iframe", "img", "link", "object")]
    assert not re.search(r"(src|href)=\"?(https?:)?//", html), "nothing fetched from outside"
    metas = [a for t, a in tags if t == "meta"]
    assert {"name": "viewport", "content": "width=device-width, initial-scale=1"} in metas
    assert {"http-equiv": "refresh", "content": str(REFRESH_SECONDS)} in metas
    for link in ("metrics", "healthz", "ready", "status.json"):
        assert ("a", {"href": link}) in tags


def test_odd_names_are_escaped(sample: SampleSet) -> None:
    r = report(sample)
    odd = replace(r.services[0], name="<b>x</b>&")
    html = render_html(replace(r, services=[odd]), LIVE)
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;&amp;" in html


def test_a_stale_exporter_says_so(sample: SampleSet) -> None:
    live = Live(
        up=False,
        last_refresh=sample.now - 75,
        last_error="info: no answer within 10s",
        synced=True,
        healer="standby",
        dry_run=True,
    )
    page = Page(render_html(report(sample), live))
    assert page.by_id["freshness"] == "last refresh 1m15s ago, down: info: no answer within 10s"
    assert "standby" in page.by_id["healer-mode"] and "dry run" in page.by_id["healer-mode"]
