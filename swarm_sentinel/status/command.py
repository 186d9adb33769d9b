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

from common.logs import configure_logging
from exporter.engine import Engine
from exporter.errors import EngineError, NoLeader
from exporter.model import SwarmModel
from exporter.snapshot import read_once
from exporter.views import ServiceView
from swarm_sentinel.config import healer_policy
from swarm_sentinel.flags import FlagParser, add_docker_flags, add_healer_policy_flags
from swarm_sentinel.oneshot import cause, engine_from, print_out
from swarm_sentinel.status.explain import Logs, explain, find, newest_failed, read_logs
from swarm_sentinel.status.json import explanation_to_json, to_json
from swarm_sentinel.status.report import (
    EXIT_HEALTHY,
    EXIT_NO_VIEW,
    EXIT_UNHEALTHY,
    build_report,
    no_leader_report,
)
from swarm_sentinel.status.text import render_explanation_text, render_text, use_color


def _parser(prog: str, description: str, epilog: str) -> FlagParser:
    """The flags ``status`` and ``explain`` share: the engine, the output, the healer's."""
    p = FlagParser(prog=prog, description=description, epilog=epilog)
    add_docker_flags(p)
    p.flag("--output", default="text", choices=("text", "json"), help="text for people, json")
    p.flag(
        "--color",
        default="auto",
        choices=("auto", "always", "never"),
        help="auto: colour on a terminal unless NO_COLOR is set",
    )
    add_healer_policy_flags(p)
    return p


def build_parser() -> argparse.ArgumentParser:
    return _parser(
        "swarm-sentinel status",
        "Print a one-shot view of the swarm: nodes and manager quorum, services not "
        "converged and why, stuck tasks, the healer's recorded forces.",
        "Exit code: 0 healthy, 1 unhealthy (incl. no leader), 2 no view of the swarm "
        "(engine unreachable, not a manager, bad flags).",
    )


def build_explain_parser() -> argparse.ArgumentParser:
    p = _parser(
        "swarm-sentinel explain",
        "Say why one service is down: its last failed tasks (exit code, reason, node, "
        "time), what keeps a pending task off each node, its update, and what the healer "
        "did and will do (as a healer with the --healer.* settings given counts).",
        "Exit code: 0 the service runs as desired, 1 it does not, 2 no view of the swarm "
        "or no such service (engine unreachable, not a manager, no leader, bad flags).",
    )
    p.add_argument("service", help="the service's name, or its ID (or a unique prefix of it)")
    p.switch(
        "--explain.logs",
        default=False,
        help="also show the last 20 lines of its newest failed task's output (off by default: "
        "logs can hold secrets; only for the json-file, local and journald log drivers)",
    )
    return p


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = healer_policy(args)
    except ValueError as exc:
        print(f"swarm-sentinel status: {exc}", file=sys.stderr)
        return EXIT_NO_VIEW
    # structlog's default prints to stdout; the watcher must not mix its log
    # lines into the report (or into the JSON), and only real trouble matters here.
    configure_logging("error", "auto")
    model = SwarmModel()
    engine = engine_from(args)
    try:
        asyncio.run(_read(engine, model))
    except NoLeader as exc:
        report = no_leader_report(model.info, exc.message, now=time.time(), engine=engine.address)
    except EngineError as exc:
        print(f"swarm-sentinel status: {cause(exc, model.info, engine)}", file=sys.stderr)
        return EXIT_NO_VIEW
    else:
        report = build_report(model, now=time.time(), engine=engine.address, settings=settings)
    if args.output == "json":
        print_out(json.dumps(to_json(report), indent=2))
    else:
        print_out(render_text(report, use_color(args.color, sys.stdout, os.environ)))
    return report.exit_code


def explain_main(argv: Sequence[str]) -> int:
    args = build_explain_parser().parse_args(argv)
    try:
        settings = healer_policy(args)
    except ValueError as exc:
        print(f"swarm-sentinel explain: {exc}", file=sys.stderr)
        return EXIT_NO_VIEW
    configure_logging("error", "auto")
    model = SwarmModel()
    engine = engine_from(args)
    want_logs = getattr(args, "explain.logs")
    try:
        found = asyncio.run(_explain(engine, model, args.service, want_logs))
    except EngineError as exc:
        print(f"swarm-sentinel explain: {cause(exc, model.info, engine)}", file=sys.stderr)
        return EXIT_NO_VIEW
    if found is None:
        print(f"swarm-sentinel explain: no service {args.service!r}", file=sys.stderr)
        return EXIT_NO_VIEW
    view, logs = found
    e = explain(model, view, now=time.time(), settings=settings, logs=logs)
    if args.output == "json":
        print_out(json.dumps(explanation_to_json(e), indent=2))
    else:
        print_out(render_explanation_text(e, use_color(args.color, sys.stdout, os.environ)))
    return EXIT_HEALTHY if e.converged else EXIT_UNHEALTHY


async def _explain(
    engine: Engine, model: SwarmModel, ref: str, want_logs: bool
) -> tuple[ServiceView, Logs | None] | None:
    try:
        await read_once(engine, model)
        view = find(model, ref)
        if view is None:
            return None
        task = newest_failed(view) if want_logs else None
        return view, (await read_logs(engine, task.id) if task is not None else None)
    finally:
        await engine.close()


async def _read(engine: Engine, model: SwarmModel) -> None:
    try:
        await read_once(engine, model)
    finally:
        await engine.close()
