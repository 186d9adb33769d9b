"""The status page and its JSON as served (``swarm_sentinel.pages``): made from a copy
of the model taken on the model's loop, in a worker thread, at most once per change of
the model and per ``MIN_AGE``, one making shared by the requests that wait for it."""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
from collections import Counter
from dataclasses import replace

from healer.settings import HealerSettings
from swarm_sentinel.pages import MIN_AGE, Reading, StatusPages
from swarm_sentinel.status.html import render_html
from swarm_sentinel.status.report import build_report
from tests.unit.samples import SampleSet
from tests.unit.test_explain import model_of
from tests.unit.test_status_page import LIVE


class Setup:
    def __init__(self, sample: SampleSet) -> None:
        self.model = model_of(sample)
        self.now = sample.now
        self.generation = 0
        self.clock = 100.0
        self.reads: list[str] = []  # the thread of each read

    def read(self) -> Reading:
        self.reads.append(threading.current_thread().name)
        return Reading(self.model.copy(), LIVE, self.now, "unix:///x", HealerSettings(), True)

    def pages(self) -> StatusPages:
        return StatusPages(
            asyncio.get_running_loop(), self.read, lambda: self.generation, clock=lambda: self.clock
        )


async def test_made_once_per_change_and_per_min_age_and_shared(sample: SampleSet) -> None:
    s = Setup(sample)
    pages = s.pages()
    # Requests together: one page made, all served it.
    got = await asyncio.gather(*(pages.page() for _ in range(5)))
    assert pages.made == 1 and all(p is got[0] for p in got)
    want = render_html(
        build_report(s.model, now=s.now, engine="unix:///x", settings=HealerSettings()), LIVE
    )
    assert got[0].text == want.encode() and gzip.decompress(got[0].gzipped) == got[0].text
    assert len(got[0].gzipped) < len(got[0].text)
    # Nothing changed: the same page, whatever its age.
    s.clock += 60
    assert await pages.page() is got[0] and pages.made == 1
    # A change, and the page is older than MIN_AGE: made again at once.
    s.generation += 1
    second = await pages.page()
    assert second is not got[0] and pages.made == 2
    # Another change, but the page is younger than MIN_AGE: still the same.
    s.generation += 1
    assert await pages.page() is second and pages.made == 2
    s.clock += MIN_AGE
    assert await pages.page() is not second and pages.made == 3
    # The JSON is a page of its own, made the same way.
    doc = await pages.document()
    assert "nodes" in json.loads(doc.text) and pages.made == 4
    assert await pages.document() is doc


async def test_read_on_the_models_loop_made_elsewhere(sample: SampleSet) -> None:
    s = Setup(sample)
    pages = s.pages()
    here = threading.current_thread().name
    page = await asyncio.to_thread(lambda: asyncio.run(pages.page()))
    assert s.reads == [here]  # the copy was taken on the model's loop
    assert page.text.startswith(b"<!doctype html>")


def test_a_copy_of_the_model_stays_as_it_was(sample: SampleSet) -> None:
    model = model_of(sample)
    copy = model.copy()
    tasks = {nid: Counter(c) for nid, c in copy.node_tasks.items()}
    nodes, views = dict(copy.nodes), dict(copy.views)
    node = next(n for n in model.nodes.values() if model.node_tasks.get(n.id))
    model.upsert_node(replace(node, state="down"))
    for sid in list(model.services)[:2]:
        model.remove_service(sid)
    model.replace_tasks([], None)
    assert model.node_tasks != tasks  # the model moved on
    assert {nid: Counter(c) for nid, c in copy.node_tasks.items()} == tasks
    assert copy.nodes == nodes and copy.views == views
