"""A list answer must not undo what an event did after the answer was asked for.

The poll asks for services, then applies them a slice at a time; the event
task runs in between. The engine is never called here: these drive the
watcher's bookkeeping directly with parsed objects.
"""

from __future__ import annotations

import time
from pathlib import Path

from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from exporter.client import EngineMetrics
from exporter.engine import Engine
from exporter.health import Health
from exporter.metrics import FAMILIES
from exporter.metrics.publish import Publisher
from exporter.metrics.text import TextStore
from exporter.model import SwarmModel
from exporter.types import Event, Service
from exporter.watch import WatcherMetrics, WatchSettings
from exporter.watcher import APPLY_SLICE, Watcher
from tests.support.fake_engine import SampledEngine
from tests.unit.samples import SampleSet


def svc(sid: str, running: int = 1) -> Service:
    return Service(
        id=sid,
        name=f"name-{sid}",
        mode="replicated",
        image="busybox",
        labels=(),
        replicas=1,
        constraints=(),
        force_update=0,
        version=1,
        running_tasks=running,
        desired_tasks=1,
    )


def watcher() -> tuple[Watcher, TextStore]:
    registry = CollectorRegistry()
    model, health, store = SwarmModel(), Health(), TextStore(FAMILIES)
    w = Watcher(
        Engine("unix:///nonexistent.sock", EngineMetrics(registry)),
        model,
        health,
        WatcherMetrics(registry),
        WatchSettings(),
        on_change=Publisher(model, health, store),
    )
    return w, store


async def test_answer_older_than_an_event_neither_removes_nor_revives() -> None:
    w, _ = watcher()
    asked = time.monotonic()
    # Events handled after the answer was asked for: "new" created, "gone" removed.
    w.model.upsert_service(svc("new"))
    w._service_touched["new"] = asked + 1
    w._service_touched["gone"] = asked + 1
    await w._apply_services([svc("old"), svc("gone")], asked)
    assert set(w.model.services) == {"new", "old"}


async def test_answer_newer_than_an_event_wins_and_the_memory_is_dropped() -> None:
    w, _ = watcher()
    w.model.upsert_service(svc("a", running=0))
    w.model.upsert_service(svc("b"))
    w._service_touched["a"] = time.monotonic()
    asked = time.monotonic() + 1
    await w._apply_services([svc("a", running=1)], asked)
    assert set(w.model.services) == {"a"}
    assert w.model.services["a"].running_tasks == 1
    assert w._service_touched == {}


async def test_many_services_applied_across_slices() -> None:
    w, store = watcher()
    many = [svc(f"s{i}") for i in range(APPLY_SLICE * 2 + 3)]
    await w._apply_services(many, time.monotonic())
    assert len(w.model.services) == len(many)
    assert store.series > 0  # published between slices


async def test_lists_follow_their_events_and_a_refused_one_is_said_once(
    tmp_path: Path, sample: SampleSet
) -> None:
    """Networks, secrets and configs are listed at a relist and again when one of their
    events comes (or the stream may have missed it), not at every poll; a list a proxy
    refuses (403) is logged once, the others are read all the same."""
    fake = SampledEngine(sample.dir)
    fake.refused.add("/secrets")
    registry = CollectorRegistry()
    model = SwarmModel()
    async with fake.serving(tmp_path) as url:
        engine = Engine(url, EngineMetrics(registry))
        w = Watcher(engine, model, Health(), WatcherMetrics(registry), WatchSettings())
        try:
            with capture_logs() as logs:
                await w.resync()
                await w.resync()
            assert [e["event"] for e in logs].count("list_refused") == 1
            networks = {n.name for n in model.network_use.networks.values()}
            assert networks == {"appnet", "ingress"}
            assert {o.name for o in model.inventory.of("config")} == {"app-conf", "old-conf"}
            assert model.inventory.of("secret") == []
            before = fake.requests["configs"]
            await w.poll()  # the stream is down: it may have missed their events
            assert fake.requests["configs"] == before + 1
            w.stream.up, w.stream.last_heard = True, time.monotonic()  # as if it just spoke
            await w.poll()
            assert fake.requests["configs"] == before + 1, "a poll lists none of them"
            await w._apply_event(Event(type="config", action="create", actor_id="x"))
            await w.poll()
            assert fake.requests["configs"] == before + 2
            assert fake.requests["info"] >= 5, "/info at every poll"
        finally:
            await engine.close()
