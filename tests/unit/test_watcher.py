"""A list answer must not undo what an event did after the answer was asked for.

The poll asks for services, then applies them a slice at a time; the event
task runs in between. The engine is never called here: these drive the
watcher's bookkeeping directly with parsed objects.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry

from exporter.client import EngineMetrics
from exporter.engine import Engine
from exporter.health import Health
from exporter.metrics import FAMILIES
from exporter.metrics.publish import Publisher
from exporter.metrics.text import TextStore
from exporter.model import SwarmModel
from exporter.types import Service
from exporter.watch import WatcherMetrics, WatchSettings
from exporter.watcher import APPLY_SLICE, Watcher


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
