"""``swarm-sentinel wait``: after ``docker stack deploy`` (or ``docker service
update``), wait until every service of the stack, or every one named, has converged
on its current spec, and say whether the deploy worked; for pipelines.

It reads the engine itself, as ``status`` does (no exporter needed): /info, the nodes,
the services it waits on and their tasks, every ``--poll-interval``, into a model of
their own (``exporter.snapshot.read_services``); when the time is up, the whole swarm
once, to say where a pending task could go. Each service is judged by
``verdict.judge``; a line is printed each time a service's progress changes
(``shop_api: updating, 3/6 updated``), and one line when it ends, naming the service
and the engine's words. It stops at the first service that failed, or when all have
converged, or at ``--timeout``.

Exit codes: 0 converged; 1 rolled back; 3 update paused; 4 a crash loop on the new
spec; 5 not converged in time (what keeps it named: no suitable node, an image that
does not come, ...); 2 no view of the swarm (the engine unreachable, not a manager, no
leader at the start), no such service or stack, or bad flags.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TextIO

from common.durations import format_duration
from common.logs import configure_logging
from common.text import iso_utc, one_line
from exporter.engine import Engine
from exporter.errors import EngineError
from exporter.model import SwarmModel
from exporter.snapshot import read_once, read_services
from exporter.types import FAILED_STATES, STACK_LABEL, Service, Task
from swarm_sentinel.flags import FlagParser, add_docker_flags, duration
from swarm_sentinel.oneshot import cause, engine_from
from swarm_sentinel.wait.verdict import EXIT_CODES, Ending, Verdict, judge, timed_out

EXIT_NO_VIEW = 2


def build_parser() -> argparse.ArgumentParser:
    p = FlagParser(
        prog="swarm-sentinel wait",
        description="Wait until every service of a stack (or every one named) has converged "
        "on its current spec after a deploy, and say whether the deploy worked: one line per "
        "change of a service's progress, one line naming the service and the engine's words "
        "when it ends. For pipelines, after docker stack deploy.",
        epilog="Exit code: 0 converged, 1 rolled back, 3 update paused, 4 crash loop on the "
        "new spec, 5 not converged within --timeout (what keeps it is named, e.g. no suitable "
        "node), 2 no view of the swarm, no such service or stack, or bad flags.",
    )
    add_docker_flags(p)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--stack", metavar="NAME", help="every service of this stack")
    target.add_argument(
        "--service",
        metavar="NAME",
        action="append",
        help="this service (by its full name, e.g. shop_api); repeat for more",
    )
    p.flag(
        "--timeout",
        default="10m",
        type=duration,
        metavar="DURATION",
        help="give up, exit code 5, when not all converged by then",
    )
    p.flag(
        "--poll-interval",
        default="2s",
        type=duration,
        metavar="DURATION",
        help="how often the engine is asked",
    )
    p.flag(
        "--output",
        default="text",
        choices=("text", "json"),
        help="text for people; json: one JSON object a line, for tools",
    )
    return p


@dataclass(frozen=True, slots=True)
class Target:
    """The services waited on: a stack's, or some by name."""

    stack: str = ""
    names: tuple[str, ...] = ()

    @property
    def filters(self) -> dict[str, list[str]]:
        """What the engine is asked for (its name filter matches prefixes: ``selects``)."""
        if self.stack:
            return {"label": [f"{STACK_LABEL}={self.stack}"]}
        return {"name": list(self.names)}

    def selects(self, service: Service) -> bool:
        return service.stack == self.stack if self.stack else service.name in self.names

    def missing(self, found: Sequence[Service]) -> str:
        """Why some of the target is not there, or ""."""
        if self.stack:
            return "" if found else f"no services in stack {self.stack!r}"
        absent = sorted(set(self.names) - {s.name for s in found})
        return f"no service {', '.join(map(repr, absent))}" if absent else ""

    def __str__(self) -> str:
        if self.stack:
            return f"the services of stack {self.stack}"
        return ", ".join(self.names)


class Output:
    """Progress and verdicts as text for people (progress on stdout, a failure's line on
    stderr) or as JSON lines for tools (all on stdout)."""

    def __init__(
        self,
        fmt: str,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.json = fmt == "json"
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.clock = clock

    def _emit(self, text: str, *, err: bool = False) -> None:
        stream = self.stderr if err else self.stdout
        # A reader that went away (`| head`) is not the deploy's failure.
        with contextlib.suppress(BrokenPipeError):
            print(text, file=stream, flush=True)

    def _record(self, event: str, **fields: object) -> None:
        self._emit(json.dumps({"event": event, "time": iso_utc(self.clock()), **fields}))

    def start(self, target: Target, timeout: float) -> None:
        if not self.json:
            self._emit(f"swarm-sentinel wait: {target}, for {format_duration(timeout)} at most")

    def progress(self, v: Verdict) -> None:
        if self.json:
            self._record("progress", **_fields(v))
        else:
            self._emit(v.progress)

    def ended(self, v: Verdict) -> None:
        if self.json:
            self._record("verdict", **_fields(v))
        else:
            self._emit(v.line, err=v.ending != Ending.CONVERGED)

    def done(self, ending: Ending, code: int, seconds: float, services: int) -> None:
        if self.json:
            self._record(
                "done",
                ending=str(ending),
                exit_code=code,
                seconds=round(seconds, 1),
                services=services,
            )
        elif ending == Ending.CONVERGED:
            noun = "service" if services == 1 else "services"
            self._emit(f"{services} {noun} converged in {format_duration(seconds)}")

    def problem(self, text: str) -> None:
        """No view of the swarm, no such service: one line on stderr, whatever the format."""
        self._emit(f"swarm-sentinel wait: {text}", err=True)


def _fields(v: Verdict) -> dict[str, object]:
    return {
        "service": v.service,
        "stack": v.stack,
        "phase": v.phase,
        "updated": v.updated,
        "desired": v.desired,
        "update_state": v.update_state or None,
        "ending": str(v.ending) if v.ending is not None else None,
        "message": v.detail or None,
    }


def failed_since(
    model: SwarmModel, tasks: Sequence[Task], baseline: set[str]
) -> dict[str, list[Task]]:
    """Per service: its tasks on its current spec that failed and are not in
    ``baseline`` (those failed before the wait began), newest first."""
    out: dict[str, list[Task]] = {}
    for t in tasks:
        svc = model.services.get(t.service_id)
        if (
            svc is not None
            and t.state in FAILED_STATES
            and t.id not in baseline
            and t.spec_digest
            and t.spec_digest == svc.template_digest
        ):
            out.setdefault(t.service_id, []).append(t)
    for failed in out.values():
        failed.sort(key=lambda t: (t.timestamp, t.created_at), reverse=True)
    return out


async def wait(
    engine: Engine,
    target: Target,
    *,
    within: float,
    interval: float,
    out: Output,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Poll until the target has converged, one of it failed, or ``within`` seconds
    passed; the exit code. An engine that fails once it was seen is asked again until
    the time is up."""
    timeout = within
    started = clock()
    baseline: set[str] | None = None
    shown: dict[str, str] = {}
    trouble: str = ""
    while True:
        try:
            model, tasks = await read_services(engine, target.filters, target.selects)
        except EngineError as exc:
            text = cause(exc, None, engine)
            if baseline is None:
                out.problem(text)
                return EXIT_NO_VIEW
            if text != trouble:
                out.problem(f"{text} (asking again)")
            trouble = text
        else:
            trouble = ""
            views = sorted(model.views.values(), key=lambda v: (v.service.name, v.service.id))
            missing = target.missing([v.service for v in views])
            if missing:
                out.problem(missing if baseline is None else f"{missing} any more")
                return EXIT_NO_VIEW
            if baseline is None:
                baseline = {t.id for t in tasks if t.state in FAILED_STATES}
                out.start(target, timeout)
            failed = failed_since(model, tasks, baseline)
            now = model.info.system_time if model.info is not None else 0.0
            verdicts = [judge(v, failed.get(v.service.id, []), now) for v in views]
            bad = [v for v in verdicts if v.ending not in (None, Ending.CONVERGED)]
            for v in verdicts:
                # Each change of a service's progress once; its convergence once (it may
                # come undone: then its progress again); a failure below.
                said = v.line if v.ending == Ending.CONVERGED else v.progress
                if v not in bad and shown.get(v.service) != said:
                    shown[v.service] = said
                    (out.ended if v.ending == Ending.CONVERGED else out.progress)(v)
            if bad or all(v.ending == Ending.CONVERGED for v in verdicts):
                for v in bad:
                    out.ended(v)
                ending = bad[0].ending if bad else Ending.CONVERGED
                assert ending is not None
                out.done(ending, EXIT_CODES[ending], clock() - started, len(verdicts))
                return EXIT_CODES[ending]
            if clock() - started >= timeout:
                whole = await _whole(engine)
                waited = format_duration(timeout)
                late = [
                    timed_out(v, whole.views.get(view.service.id, view), waited)
                    for v, view in zip(verdicts, views, strict=True)
                    if v.ending is None
                ]
                for v in late:
                    out.ended(v)
                out.done(Ending.TIMEOUT, EXIT_CODES[Ending.TIMEOUT], clock() - started, len(views))
                return EXIT_CODES[Ending.TIMEOUT]
        if trouble and clock() - started >= timeout:
            out.problem(f"{one_line(trouble)}; gave up after {format_duration(timeout)}")
            return EXIT_NO_VIEW
        await asyncio.sleep(max(0.05, min(interval, started + timeout - clock())))


async def _whole(engine: Engine) -> SwarmModel:
    """The whole swarm, once, to say where a pending task could go (every service's
    tasks hold the nodes' resources); what could not be read is left unexplained."""
    model = SwarmModel()
    with contextlib.suppress(EngineError):
        await read_once(engine, model)
    return model


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    # structlog's default prints to stdout; only real trouble of the engine client
    # may be logged, and not into the progress (or the JSON lines).
    configure_logging("error", "auto")
    target = Target(stack=args.stack or "", names=tuple(args.service or ()))
    out = Output(args.output)

    async def run() -> int:
        engine = engine_from(args)
        try:
            return await wait(
                engine,
                target,
                within=args.timeout,
                interval=args.poll_interval,
                out=out,
            )
        finally:
            await engine.close()

    try:
        return asyncio.run(run())
    except KeyboardInterrupt:
        return 130
