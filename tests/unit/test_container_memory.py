"""100,000 service names seen over time by a node (a swarm deploying short-lived
stacks): the node keeps the counts and series of the live ones only, and its memory
ends where a swarm that never had them leaves it.

Each run is a process of its own, whose resident size is read at its end: the
figure an operator sees, which the allocator's arenas would hide inside one process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from exporter.containers import NodeContainers
from exporter.health import Health
from exporter.metrics import FAMILIES
from exporter.metrics.limits import SeriesLimit
from exporter.metrics.publish import Changes, Publisher
from exporter.metrics.text import TextStore
from exporter.model import SwarmModel
from exporter.types import ContainerEvent

ROOT = Path(__file__).resolve().parents[2]
LIVE = 20
"""Services of the swarm that never had 100,000."""


def churn(names: int, events: int, cap: int) -> dict[str, float]:
    """``events`` container lifetimes (create, start, die, destroy), spread over
    ``names`` services, one after another; a second of engine time each."""
    node = NodeContainers(forget_after=5.0)
    store = TextStore(FAMILIES)
    publish = Publisher(SwarmModel(), Health(), store, node, limit=SeriesLimit(cap))
    base = ContainerEvent("create", "", "", "", "t", "n", 0)
    t = 1.7e18
    for i in range(events):
        name = f"preview-{i * names // events:06}-web"
        cid = f"c{i}"
        for action, code in (("create", None), ("start", None), ("die", 1), ("destroy", None)):
            t += 2.5e8
            node.apply(
                replace(base, action=action, container_id=cid, service_name=name,
                        time_nano=int(t), exit_code=code)
            )  # fmt: skip
        node.forget_idle(t / 1e9)
        changed, removed = node.take_changes()
        publish(Changes(containers=changed, removed_containers=removed))
    text = store.render().decode()
    series = sum(1 for line in text.splitlines() if line.startswith("dockerswarm_container_"))
    rss = next(
        int(line.split()[1]) / 1024
        for line in Path("/proc/self/status").read_text().splitlines()
        if line.startswith("VmRSS:")
    )
    return {"rss_mib": rss, "series": series, "services": len(node.services)}


def run(names: int, events: int, cap: int = 0) -> dict[str, float]:
    call = f"churn({names}, {events}, {cap})"
    code = f"import json; from {__name__} import churn; print(json.dumps({call}))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr
    figures: dict[str, float] = json.loads(out.stdout)
    return figures


def test_100k_service_names_over_time_leave_only_the_live_ones() -> None:
    never = run(names=LIVE, events=100_000)
    had = run(names=100_000, events=100_000)
    capped = run(names=100_000, events=100_000, cap=1000)
    # Per service on the node: exits by reason, starts, unhealthy, last code and time.
    per_service = 5
    for figures in (had, capped):
        assert figures["services"] <= 6  # those with a container in the last 5 s
        assert figures["series"] <= per_service * figures["services"]
        assert figures["rss_mib"] - never["rss_mib"] < 20, (figures, never)
