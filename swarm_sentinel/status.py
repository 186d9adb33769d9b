"""``swarm-sentinel status``: a one-shot view of the swarm for the person on call.

It reads the swarm once, through the exporter's own code (``Engine`` +
``Watcher.resync()`` into a ``SwarmModel``), and prints the nodes with the
manager quorum, the services that are not converged and why, the tasks stuck
before running, and what the healer has recorded in its state labels.

Exit codes, for scripts and shell prompts:

- 0: healthy.
- 1: unhealthy: a node not ready, a manager not reachable, quorum lost or
  at risk (no fault tolerance left with more than one manager), no leader,
  or a service with fewer running tasks than desired. A manager answering
  "the swarm does not have a leader" is a quorum loss, hence 1 (with the
  engine's words), not 2: the engine was reached and told us what is wrong.
- 2: no view of the swarm at all: the engine cannot be reached, is not an
  active swarm manager, or a later call failed for another reason than a
  missing leader; also bad flags. One line on stderr names the cause and
  nothing is printed on stdout, not even with ``--output json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from prometheus_client import CollectorRegistry

from common.apiversion import ApiVersion
from common.logs import configure_logging
from common.text import iso_utc
from exporter.engine import Engine, EngineMetrics
from exporter.errors import EngineError, NoLeader, NotManager, Timeout
from exporter.families import MODEL_FAMILIES
from exporter.metrics_text import TextStore
from exporter.model import SwarmModel
from exporter.types import Task
from exporter.watcher import Watcher, WatcherMetrics, WatchSettings
from healer.settings import HealerSettings
from swarm_sentinel.flags import _Parser, _positive_int, add_docker_flags
from swarm_sentinel.status_report import EXIT_NO_VIEW, Report, build_report, no_leader_report
from swarm_sentinel.status_text import render_text, use_color

# ---- JSON ------------------------------------------------------------------


def _iso(ts: float) -> str | None:
    return iso_utc(ts) or None


def to_json(r: Report) -> dict[str, Any]:
    q = r.quorum
    return {
        "time": _iso(r.now),
        "engine": r.engine,
        "seen_from": r.seen_from,
        "cluster_id": r.cluster_id,
        "healthy": r.healthy,
        "complete": r.complete,
        "error": r.error or None,
        "problems": r.problems,
        "nodes": [
            {
                "id": n.id,
                "hostname": n.hostname,
                "self": n.is_self,
                "role": n.role,
                "status": n.status.lower(),
                "availability": n.availability.lower(),
                "manager_status": n.manager_status.lower() or None,
                "engine_version": n.engine_version,
                "running_tasks": n.running_tasks,
                "message": n.message,
            }
            for n in r.nodes
        ],
        "quorum": {
            "managers": q.managers,
            "reachable": q.reachable,
            "quorum": q.quorum,
            "can_lose": q.can_lose,
            "has_leader": q.has_leader,
            "leader": q.leader or None,
            "state": q.state,
            "summary": q.summary,
        },
        "services_not_converged": [
            {
                "id": s.id,
                "name": s.name,
                "stack": s.stack,
                "mode": s.mode,
                "running": s.running,
                "desired": s.desired,
                "reason": s.reason,
                "last_error": s.last_error,
                "last_error_at": _iso(s.last_error_at),
                "update_state": s.update_state or None,
                "failures": dict(s.failures),
            }
            for s in r.services
        ],
        "stuck_tasks": [
            {
                "service": t.service,
                "service_id": t.service_id,
                "state": t.state,
                "reason": t.reason,
                "since": _iso(t.since),
                "seconds": round(t.seconds, 1),
                "detail": t.detail,
            }
            for t in r.stuck
        ],
        "healer": [
            {
                "service": h.service,
                "service_id": h.service_id,
                "forces": [_iso(t) for t in h.forces],
                "last_force": _iso(h.last_force),
                "next_allowed": _iso(h.next_allowed),
                "attempts_24h": h.attempts,
                "max_attempts": h.max_attempts,
                "given_up": h.given_up,
                "resumes_at": _iso(h.resumes_at),
                "converged": h.converged,
                "error": h.error or None,
            }
            for h in r.healer
        ],
    }


# ---- reading the swarm -------------------------------------------------------


class _RecordingEngine(Engine):
    """Keeps the task list that the resync fetched: the model keeps only each
    slot's current error, the report also wants the failures before it."""

    def __init__(
        self,
        url: str | None,
        metrics: EngineMetrics,
        *,
        timeout: float,
        api_version: ApiVersion | None,
    ) -> None:
        super().__init__(url, metrics, timeout=timeout, api_version=api_version)
        self.listed_tasks: list[Task] = []

    async def tasks(self, service_ids: list[str] | None = None) -> list[Task]:
        self.listed_tasks = await super().tasks(service_ids)
        return self.listed_tasks


async def _read(engine: _RecordingEngine, model: SwarmModel) -> None:
    registry = CollectorRegistry()
    watcher = Watcher(
        engine, model, TextStore(MODEL_FAMILIES), WatcherMetrics(registry), WatchSettings()
    )
    try:
        await watcher.resync()
    finally:
        await engine.close()


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="swarm-sentinel status",
        description=(
            "Print a one-shot view of the swarm: nodes and manager quorum, services not "
            "converged and why, stuck tasks, the healer's recorded forces."
        ),
        epilog="Exit code: 0 healthy, 1 unhealthy (incl. no leader), 2 no view of the swarm "
        "(engine unreachable, not a manager, bad flags).",
    )
    add_docker_flags(p)
    p.flag("--output", default="text", choices=("text", "json"), help="text for people, json")
    p.flag(
        "--color",
        default="auto",
        choices=("auto", "always", "never"),
        help="auto: colour on a terminal unless NO_COLOR is set",
    )
    p.flag(
        "--healer.max-attempts",
        default=HealerSettings().max_attempts,
        type=_positive_int,
        metavar="N",
        help="the healer's setting: forces in 24h after which it gives up "
        "(the service label swarm-sentinel.heal.max-attempts wins)",
    )
    return p


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    # structlog's default prints to stdout; the watcher must not mix its log
    # lines into the report (or into the JSON), and only real trouble matters here.
    configure_logging("error", "auto")
    host: str = getattr(args, "docker.host") or ""
    model = SwarmModel()
    engine = _RecordingEngine(
        host or None,
        EngineMetrics(CollectorRegistry()),
        timeout=getattr(args, "docker.timeout"),
        api_version=getattr(args, "docker.api_version") or None,
    )
    try:
        asyncio.run(_read(engine, model))
    except NoLeader as exc:
        report = no_leader_report(model.info, exc.message, now=time.time(), engine=engine.address)
    except EngineError as exc:
        print(f"swarm-sentinel status: {_cause(exc, model, engine)}", file=sys.stderr)
        return EXIT_NO_VIEW
    else:
        report = build_report(
            model,
            engine.listed_tasks,
            now=time.time(),
            engine=engine.address,
            max_attempts=getattr(args, "healer.max_attempts"),
        )
    if args.output == "json":
        text = json.dumps(to_json(report), indent=2)
    else:
        text = render_text(report, use_color(args.color, sys.stdout, os.environ))
    try:
        print(text, flush=True)
    except BrokenPipeError:
        # `status | head` closed the pipe early: not an error of ours. Point stdout
        # at /dev/null so that the interpreter's final flush does not complain.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return report.exit_code


def _cause(exc: EngineError, model: SwarmModel, engine: Engine) -> str:
    address = engine.address
    if isinstance(exc, Timeout):
        # Seen on the lab: while a manager's swarm loses quorum, even its /info can
        # hang for some seconds before it says "no leader". Worth a hint, not a guess.
        return (
            f"the Docker engine at {address} gave no answer within {engine.timeout:g}s "
            f"({exc.endpoint}); a manager can stall while its swarm loses quorum: "
            "try again, or give a longer --docker.timeout"
        )
    if isinstance(exc, NotManager):
        return exc.message  # a worker, or no swarm: it names the address
    if model.info is None:
        return f"cannot talk to the Docker engine at {address}: {exc.message}"
    return f"the manager at {address} did not answer: {exc}"
