"""The status page at ``/`` on a real swarm, in a real browser (headless Chromium):
a broken service, a drained node and a stuck task show; the page says what
``swarm-sentinel status`` says; it reads at phone width; a quorum loss is at its top.

The screenshots go to a temporary folder; ``STATUS_PAGE_SHOTS=docs`` keeps them
there instead (docs/status-page.png is the README's).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lab import Lab
from tests.support.browser import Tab, browser
from tests.support.sentinel import Sentinel, wait_for
from tests.support.swarm_services import Services

pytestmark = pytest.mark.lab
LAB_ENGINES = ("modern",)  # what operators run; the report itself is checked on both

EXE = str(Path(sys.executable).with_name("swarm-sentinel"))


def status_json(url: str) -> dict[str, Any]:
    out = subprocess.run(
        [EXE, "status", "--docker.host", url, "--output", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode in (0, 1), out.stderr
    doc: dict[str, Any] = json.loads(out.stdout)
    return doc


def ages(text: str) -> str:
    """``text`` with every age ("32s ago", "3m12s ago") made the same."""
    return re.sub(r"\b\d+[smhd](\d+[smhd])? ago", "N ago", text)


def summary(doc: dict[str, Any]) -> dict[str, Any]:
    """What the page and the command must agree on (times aside)."""
    return {
        "quorum": doc["quorum"]["summary"],
        "nodes": sorted(
            (n["hostname"], n["status"], n["availability"], n["manager_status"])
            for n in doc["nodes"]
        ),
        "services": sorted(
            (s["name"], s["running"], s["desired"], s["reason"])
            for s in doc["services_not_converged"]
        ),
        "stuck": sorted((t["service"], t["state"], t["reason"]) for t in doc["stuck_tasks"]),
        "problems": len(doc["problems"]),
    }


async def page_text(tab: Tab, url: str, width: int) -> dict[str, str]:
    await tab.open(url, width, 900)
    texts = {
        key: await tab.text(f"#{key}")
        for key in ("quorum", "verdict", "nodes", "services", "stuck", "healer", "freshness")
    }
    texts["alarm"] = await tab.text("#alarm")
    # Nothing wider than the window: no sideways scrolling of the page itself.
    overflow = await tab.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    texts["overflow"] = str(overflow)
    return texts


async def test_the_page_in_a_browser_says_what_status_says(
    made: Services, restored_lab: Lab, tmp_path: Path
) -> None:
    lab = restored_lab
    # Given up after one restart: down for good, and still on the page when it is looked at.
    made.create(
        "page-broken",
        ["sh", "-c", "exit 1"],
        restart_condition="on-failure",
        restart_max_attempts=1,
    )
    made.create("page-stuck", constraints=["node.labels.nobody==true"])
    lab.drain("w1")
    leader = lab.leader()
    assert leader is not None
    proc = Sentinel(leader.url, ["--healer.dry-run"])
    await asyncio.to_thread(proc.start)
    shots = Path(os.environ.get("STATUS_PAGE_SHOTS") or tmp_path)
    try:
        # A task is listed as stuck once it has waited 30 s.
        seen: list[tuple[set[str], set[str]]] = []

        def both_seen() -> dict[str, Any] | None:
            doc = status_json(leader.url)
            names = {s["name"] for s in doc["services_not_converged"]}
            stuck = {t["service"] for t in doc["stuck_tasks"]}
            seen.append((names, stuck))
            return doc if {"page-broken", "page-stuck"} <= names and "page-stuck" in stuck else None

        try:
            await asyncio.to_thread(wait_for, both_seen, 90, "the broken and the stuck service")
        except AssertionError as exc:
            names, stuck = seen[-1] if seen else (set(), set())
            raise AssertionError(f"{exc}: not converged {names}, stuck {stuck}") from None
        async with browser() as tab:
            desktop = await page_text(tab, proc.url + "/", 1280)
            assert desktop["overflow"] == "0"
            assert desktop["quorum"] == "3 managers, 3 reachable, quorum 2, can lose 1"
            assert desktop["verdict"].startswith("UNHEALTHY")
            assert "page-broken" in desktop["services"] and "0/1" in desktop["services"]
            assert "page-stuck" in desktop["stuck"] and "no_suitable_node" in desktop["stuck"]
            w1 = lab.node("w1").hostname
            row = next(line for line in desktop["nodes"].splitlines() if line.startswith(w1))
            assert "Drain" in row
            assert "dry run" in desktop["healer"]
            assert desktop["freshness"].endswith(", up")
            assert desktop["alarm"] == ""
            await tab.screenshot(shots / "status-page.png")
            phone = await page_text(tab, proc.url + "/", 390)
            assert phone["overflow"] == "0", "readable at phone width without scrolling sideways"
            await tab.screenshot(shots / "status-page-phone.png")
            # The page and the command, on the same swarm, say the same.
            page_doc = json.loads(proc.get("/status.json")[1])
            assert summary(page_doc) == summary(status_json(leader.url))
            # Each is made from the model as it was when made (at most once a second
            # each): an age ("32s ago") differs by the time between them.
            body = ages(desktop["quorum"] + desktop["verdict"] + await tab.text("body"))
            for line in (page_doc["quorum"]["summary"], *page_doc["problems"]):
                assert ages(line) in body

            # Two of three managers go: the page says so at its top.
            others = [m for m in lab.managers if m is not leader]
            lab.stop_engines(others)
            alarm = await tab.wait_for(
                "(document.querySelector('#alarm') || {innerText: ''}).innerText"
                ".startsWith('QUORUM LOST')",
                within=90,
            )
            assert alarm
            lost = await page_text(tab, proc.url + "/", 1280)
            assert lost["alarm"].startswith("QUORUM LOST")
            assert "down" in lost["freshness"] or "up" in lost["freshness"]
            await tab.screenshot(shots / "status-page-quorum-lost.png")
    finally:
        await asyncio.to_thread(proc.stop)
    for name in ("status-page.png", "status-page-phone.png", "status-page-quorum-lost.png"):
        assert (shots / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if shots != tmp_path:
        shutil.rmtree(tmp_path, ignore_errors=True)
