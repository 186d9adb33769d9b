"""Swarm objects for the offline tests, built as the engine would describe them:
one replicated service ``s1`` (``web``) and its tasks, at ``NOW``."""

from __future__ import annotations

from dataclasses import replace

from exporter.model import SwarmModel
from exporter.types import Service, Task

NOW = 1_000_000.0


def service(**kw: object) -> Service:
    base = Service(
        id="s1",
        name="web",
        mode="replicated",
        image="lab/busybox:1",
        labels=(),
        replicas=2,
        constraints=(),
        force_update=0,
        version=1,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def task(tid: str, slot: int, state: str, at: float, **kw: object) -> Task:
    base = Task(
        id=tid,
        service_id="s1",
        node_id="n1",
        slot=slot,
        state=state,
        err="",
        timestamp=at,
        created_at=at,
        desired_state="running",
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def model_with(svc: Service) -> SwarmModel:
    model = SwarmModel(clock=lambda: NOW)
    model.upsert_service(svc)
    return model
