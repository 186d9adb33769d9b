"""Healer policy evaluation time over every service, in-process.

Builds swarm-sentinel's own model (``exporter.model.SwarmModel``) from the
simulated engine's /info, /nodes, /services?status=true and /tasks, exactly as
a full relist does, then times ``healer.runner.Healer.evaluate`` in dry run
with a stub forcer and a clock that moves 5 s (the default interval) per pass,
so services broken in the data pass the 2 min threshold and are decided.

    python -m bench.healerbench --socket /tmp/sim.sock [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import logging
import pstats
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import structlog

from bench.baseline import api_prefix
from bench.measure import percentile
from exporter import gc_tuning
from exporter.health import Health
from exporter.model import SwarmModel
from exporter.parse import parse_info, parse_list, parse_node, parse_service, parse_task
from healer.forcer import ForceResult, Outcome
from healer.runner import Healer
from healer.settings import HealerSettings, Scope
from healer.state import HealState


class StubForcer:
    """Never writes: the runner's dry run does not call it; if it did, it would 'force'."""

    def __init__(self) -> None:
        self.calls = 0

    async def force(self, service_id: str, new_state: HealState, seen: HealState) -> ForceResult:
        self.calls += 1
        return ForceResult(Outcome.FORCED)

    async def rollback(self, service_id: str) -> ForceResult:
        self.calls += 1
        return ForceResult(Outcome.ROLLED_BACK)


def _drop(_: object, __: str, event: structlog.typing.EventDict) -> structlog.typing.EventDict:
    raise structlog.DropEvent


def quiet_logs() -> None:
    """As with ``--log.level warn``: info decisions are filtered out (cheaply); the
    few warnings are dropped too, so the timing is of the policy, not of stderr."""
    structlog.configure(
        processors=[_drop], wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING)
    )


async def fetch(socket_path: str, current_only: bool = False) -> tuple[Any, Any, Any, Any]:
    """The engine's answers; ``current_only``: tasks with desired state running only (the
    latest task of every slot; the healer never looks at history, and it is 5x smaller)."""
    async with aiohttp.ClientSession(
        connector=aiohttp.UnixConnector(path=socket_path),
        timeout=aiohttp.ClientTimeout(total=600),
    ) as s:
        api = await api_prefix(s)

        async def get(path: str) -> Any:
            async with s.get(f"{api}/{path}") as r:
                r.raise_for_status()
                return await r.json(content_type=None)

        return (
            await get("info"),
            await get("nodes"),
            await get("services?status=true"),
            await get(
                "tasks?filters=%7B%22desired-state%22%3A%5B%22running%22%5D%7D"
                if current_only
                else "tasks"
            ),
        )


def build_model(info: Any, nodes: Any, services: Any, tasks: Any) -> SwarmModel:
    model = SwarmModel()
    model.set_info(parse_info(info))
    model.replace_nodes(parse_list(nodes, parse_node, "node")[0])
    model.replace_services(parse_list(services, parse_service, "service")[0])
    model.replace_tasks(parse_list(tasks, parse_task, "task")[0], None, whole=True)
    return model


SYNCED = Health(up=True, has_leader=True, synced=True)
"""The exporter's health the healer sees during the bench: all well."""


@dataclass(frozen=True)
class HealerTiming:
    scope: str
    services: int
    passes: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    decided: int  # decisions other than "waiting" in the last pass
    broken: int


async def time_evaluate(
    model: SwarmModel, scope: Scope, passes: int, profile: cProfile.Profile | None = None
) -> HealerTiming:
    quiet_logs()
    now = [time.time()]
    healer = Healer(
        model,
        SYNCED,
        HealerSettings(dry_run=True, scope=scope, interval=5.0),
        StubForcer(),
        clock=lambda: now[0],
    )
    times: list[float] = []
    decided = 0
    # As the swarm-sentinel process does at start and after each relist (the
    # healer runs in it); undone below, so the bench's scrapers are unaffected.
    thresholds = gc.get_threshold()
    gc_tuning.tune()
    gc_tuning.settle()
    for i in range(passes + 1):
        if profile is not None and i > 0:
            profile.enable()
        t0 = time.perf_counter()
        out = await healer.evaluate()
        dt = time.perf_counter() - t0
        if profile is not None:
            profile.disable()
        if i > 0:  # the first pass fills the healer's memory: not a steady pass
            times.append(dt * 1000)
        decided = len(out)
        now[0] += 5.0
    gc.set_threshold(*thresholds)
    gc.unfreeze()
    broken = sum(1 for v in model.views.values() if v.running < v.desired)
    return HealerTiming(
        scope=str(scope),
        services=len(model.views),
        passes=passes,
        p50_ms=percentile(times, 50),
        p99_ms=percentile(times, 99),
        max_ms=max(times),
        decided=decided,
        broken=broken,
    )


async def run(socket_path: str, passes: int) -> tuple[list[HealerTiming], float]:
    t0 = time.monotonic()
    model = build_model(*await fetch(socket_path))
    built = time.monotonic() - t0
    out = [
        await time_evaluate(model, Scope.ALL, passes),
        await time_evaluate(model, Scope.LABELLED, passes),
    ]
    return out, built


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.healerbench", description=__doc__)
    p.add_argument("--socket", required=True)
    p.add_argument("--passes", type=int, default=30)
    p.add_argument("--profile", action="store_true", help="cProfile the scope=all passes")
    a = p.parse_args(argv)
    if a.profile:
        model = build_model(*asyncio.run(fetch(a.socket)))
        prof = cProfile.Profile()
        timing = asyncio.run(time_evaluate(model, Scope.ALL, a.passes, prof))
        print(timing)
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(18)
        print(buf.getvalue())
        return 0
    timings, built = asyncio.run(run(a.socket, a.passes))
    print(f"model built in {built:.1f}s")
    for t in timings:
        print(t)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
