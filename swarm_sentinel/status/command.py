"""``swarm-sentinel status``: a one-shot view of the swarm for the person on call.

It reads the swarm once, through the exporter's own code (``Engine`` and
``exporter.snapshot.read_once`` into a ``SwarmModel``), and prints the nodes with the
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

from prometheus_client import CollectorRegistry

from common.logs import configure_logging
from exporter.engine import Engine
from exporter.errors import EngineError, NoLeader, NotManager, Timeout
from exporter.metrics.health import EngineMetrics
from exporter.model import SwarmModel
from exporter.snapshot import read_once
from healer.settings import HealerSettings
from swarm_sentinel.config import docker_settings
from swarm_sentinel.flags import FlagParser, add_docker_flags, positive_int
from swarm_sentinel.status.json import to_json
from swarm_sentinel.status.report import EXIT_NO_VIEW, build_report, no_leader_report
from swarm_sentinel.status.text import render_text, use_color


def build_parser() -> argparse.ArgumentParser:
    p = FlagParser(
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
        type=positive_int,
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
    docker = docker_settings(args)
    model = SwarmModel()
    engine = Engine(
        docker.host,
        EngineMetrics(CollectorRegistry()),
        timeout=docker.timeout,
        api_version=docker.api_version,
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


async def _read(engine: Engine, model: SwarmModel) -> None:
    try:
        await read_once(engine, model)
    finally:
        await engine.close()


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
