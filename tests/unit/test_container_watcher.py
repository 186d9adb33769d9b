"""The node's own container stream, offline: the follower every event stream goes
through (``exporter.stream``), against a fake engine that cuts the stream and replays
it whole at every opening. The lab runs it against real engines
(tests/lab/test_task_truth.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from exporter.client import EngineMetrics
from exporter.container_watcher import ContainerWatcher
from exporter.containers import NodeContainers
from exporter.engine import Engine
from exporter.health import Health
from exporter.metrics.publish import Changes
from exporter.stream import StreamSettings
from exporter.watch import WatcherMetrics, WatchSettings
from tests.support.fake_engine import SampledEngine
from tests.unit.samples import SampleSet

FAST = WatchSettings(stream=StreamSettings(backoff_initial=0.05, backoff_max=0.4, stable_after=30))


@asynccontextmanager
async def watching(
    tmp_path: Path, sample: SampleSet, mode: str
) -> AsyncIterator[tuple[ContainerWatcher, SampledEngine, CollectorRegistry, list[Changes]]]:
    fake = SampledEngine(sample.dir, containers_mode=mode)
    registry = CollectorRegistry()
    seen: list[Changes] = []
    async with fake.serving(tmp_path) as url:
        engine = Engine(url, EngineMetrics(registry), timeout=5)
        w = ContainerWatcher(
            engine, NodeContainers(), Health(), WatcherMetrics(registry), FAST,
            on_change=seen.append,
        )  # fmt: skip
        task = asyncio.create_task(w.run())
        try:
            yield w, fake, registry, seen
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await engine.close()


async def until(check: object, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_a_replay_after_each_reconnect_counts_each_event_once(
    tmp_path: Path, sample: SampleSet
) -> None:
    with capture_logs() as logs:
        async with watching(tmp_path, sample, "replay") as (w, fake, registry, seen):
            await until(lambda: fake.requests["container-events"] >= 4)
            counts = {k[0]: dict(v.exits) for k, v in w.containers.services.items()}
            lost = registry.get_sample_value(
                "dockerswarm_exporter_stream_reconnects_total", {"stream": "containers"}
            )
    # Replayed 3 times and more: each way of ending counted as once.
    assert counts["crash"]["nonzero_exit"] >= 5 and counts["crash"].get("stopped", 0) <= 1
    assert counts["oom"] == {"oom": 1} and counts["sick"] == {"healthcheck": 1}
    assert counts["deployed"] == {"stopped": 3}
    assert w.containers.node_id and w.containers.hostname  # from the engine's /info
    assert lost is not None and lost >= 3
    # Each loss said once, and the stream's state followed (up, down, up ...).
    assert sum(e["event"] == "event_stream_lost" for e in logs) == lost
    assert any(c.health for c in seen) and any(c.containers for c in seen)


async def test_a_stream_cut_at_once_backs_off(tmp_path: Path, sample: SampleSet) -> None:
    async with watching(tmp_path, sample, "cut") as (w, fake, _, _):
        await asyncio.sleep(2.0)
        opened = fake.requests["container-events"]
    # Waits of 0.05, 0.1, 0.2, 0.4, 0.4, ... s (never back to 0.05: no stream held 30 s):
    # 2 s hold 7 or 8 openings, not the 40 a fixed 0.05 s would make.
    assert 4 <= opened <= 10, opened
    assert not w.health.containers_up
