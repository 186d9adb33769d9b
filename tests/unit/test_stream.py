"""The event stream when the engine, or a proxy in front of it, misbehaves in ways a
real engine cannot be made to: a 2 MB event line, a stream cut as soon as it is
accepted, a stream held open in silence. The process is the real one; the engine is
tests/support/fake_engine.py answering from the captured samples. (A stream cut by
a daemon that dies, and an engine restarted, are tested on the lab.)"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from exporter.client import EngineMetrics
from exporter.engine import Engine
from exporter.health import Health
from exporter.metrics.publish import Changes
from exporter.model import SwarmModel
from exporter.types import Event
from exporter.watch import WatcherMetrics, WatchSettings
from exporter.watcher import Watcher
from tests.support.fake_engine import SampledEngine
from tests.support.sentinel import Sentinel, wait_for
from tests.unit.samples import SampleSet

QUIET = ["--no-healer.enabled"]


def ident(nodes: list[dict[str, object]], hostname: str) -> dict[str, str]:
    node = next(n for n in nodes if n["Description"]["Hostname"] == hostname)  # type: ignore[index]
    return {"node_id": str(node["ID"]), "hostname": hostname}


async def test_a_long_event_line_is_skipped_and_the_stream_goes_on(
    tmp_path: Path, sample: SampleSet
) -> None:
    engine = SampledEngine(sample.dir, events_mode="long")
    async with engine.serving(tmp_path) as url:
        proc = Sentinel(url, [*QUIET, "--watch.poll-interval", "5m"])
        await asyncio.to_thread(proc.start)
        try:
            # The sample's own events follow the long line: they arrive (counted).
            await asyncio.to_thread(
                wait_for,
                lambda: sum(proc.series("dockerswarm_exporter_events_total").values()) >= 5,
                20,
                "the events after the long line",
            )
            skipped = proc.value("dockerswarm_exporter_parse_errors_total", object="event")
            assert skipped == 1
            reconnects = proc.series("dockerswarm_exporter_stream_reconnects_total", stream="swarm")
            assert sum(reconnects.values()) == 0
            assert proc.value("dockerswarm_up") == 1
            assert "over 1048576 bytes, skipped" in proc.logs()
        finally:
            await asyncio.to_thread(proc.stop)


async def test_a_stream_cut_at_once_costs_ever_rarer_reconnects(
    tmp_path: Path, sample: SampleSet
) -> None:
    engine = SampledEngine(sample.dir, events_mode="cut")
    window = 15.0
    async with engine.serving(tmp_path) as url:
        # The defaults: polls every 15 s.
        proc = Sentinel(url, [*QUIET, "--watch.poll-interval", "15s"])
        await asyncio.to_thread(proc.start)
        try:
            before = sum(engine.requests.values())
            await asyncio.sleep(window)
            asked = dict(engine.requests)
            total = sum(asked.values()) - before
            relists = proc.value("dockerswarm_exporter_relists_total")
        finally:
            await asyncio.to_thread(proc.stop)
    print(f"requests in {window:.0f}s under a cutting proxy: {total} ({asked})")
    # Back-off 0.5, 1, 2, 4, 8 s without resetting on accept: about 5 streams, each
    # caught up by one poll, not by a relist of everything.
    assert asked["events"] <= 7
    assert total <= 60
    assert relists == 1  # the first sync only


async def test_a_silent_stream_hides_no_node_change_for_longer_than_a_poll(
    tmp_path: Path, sample: SampleSet
) -> None:
    engine = SampledEngine(sample.dir, events_mode="silent")
    async with engine.serving(tmp_path) as url:
        proc = Sentinel(url, QUIET)  # polls every 1 s, relists every 30 s
        await asyncio.to_thread(proc.start)
        try:
            worker = next(n for n in engine.nodes if n["Spec"]["Role"] == "worker")
            labels = ident(engine.nodes, worker["Description"]["Hostname"])
            assert proc.value("dockerswarm_node_state", **labels, state="ready") == 1
            worker["Status"] = {**worker["Status"], "State": "down", "Message": "heartbeat failure"}
            changed = time.monotonic()
            await asyncio.to_thread(
                proc.wait_value, "dockerswarm_node_state", 1, {**labels, "state": "down"}, timeout=5
            )
            took = time.monotonic() - changed
            assert took < 5
            print(f"a worker going down behind a silent stream seen after {took:.1f}s")
            assert json.dumps(worker)  # the fake served the change as JSON
        finally:
            await asyncio.to_thread(proc.stop)


class _Crashing(Engine):
    """An engine client whose event stream fails with what nobody foresaw."""

    calls = 0
    again = asyncio.Event()

    async def events(
        self, since: float, on_connect: Callable[[], None] | None = None
    ) -> AsyncIterator[Event]:
        _Crashing.calls += 1
        if _Crashing.calls >= 2:
            _Crashing.again.set()
        raise RuntimeError("an unforeseen bug")
        yield  # an async generator, as the real one


async def test_a_background_loop_that_dies_is_said_and_started_again() -> None:
    registry = CollectorRegistry()
    health = Health(up=True, has_leader=True, synced=True)
    seen: list[Changes] = []
    engine = _Crashing("unix:///nonexistent.sock", EngineMetrics(registry))
    watcher = Watcher(
        engine,
        SwarmModel(),
        health,
        WatcherMetrics(registry),
        WatchSettings(poll_interval=3600, resync_interval=3600),
        on_change=seen.append,
    )
    with capture_logs() as logs:
        task = asyncio.create_task(watcher.run())
        try:
            async with asyncio.timeout(10):
                await _Crashing.again.wait()  # started again after the failure
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await engine.close()
    failed = [e for e in logs if e["event"] == "task_failed" and e["task"] == "event stream"]
    assert failed and "RuntimeError: an unforeseen bug" in failed[0]["error"]
    assert health.up is False and "an unforeseen bug" in health.last_error
    assert any(c.health for c in seen), "the metrics were told"
