"""Decoding and parsing list answers, before and after msgspec, in one process.

The bodies are the simulated engine's (``bench.sim``: nodes, services with
their status, tasks with history, as ``GET /nodes``, ``/services?status=true``
and ``/tasks`` send them). Each is decoded and parsed, repeatedly and
interleaved, by:

- *old*: ``json.loads`` and the hand parser of ``--old`` (a git revision, or a
  file: its ``exporter/parse.py``), as the exporter did before;
- *typed*: ``exporter.decode`` (msgspec splits the list, decodes each object
  into the fields we read, ``exporter.parse`` builds it), as it does now;
- *lenient*: ``json.loads`` and today's ``parse_*`` on dicts: what an object
  msgspec refuses costs, and a whole answer it refuses.

With the exporter's GC settings (``exporter.gc_tuning``, the model frozen as
after a relist). Printed per list and path: the time's median and minimum over
the repetitions, per object, and the collections run and the time spent in
them per repetition. The machine's other load moves the figures: compare the
paths of one run with each other.

    python -m bench.decode [--old REV|FILE] [--tasks 20000] [--services 5000] [--nodes 1000]
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import subprocess
import sys
import time
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.measure import percentile
from bench.sim.shapes import API_VERSIONS, Shapes
from bench.sim.swarm import SimConfig, Swarm
from exporter import gc_tuning
from exporter.decode import NODES, SERVICES, TASKS, Reader, split
from exporter.parse import parse_list

ROOT = Path(__file__).resolve().parents[1]
TASKS_PER_SERVICE, HISTORY = 10, 5  # as bench.run's swarms


def old_parser(old: str) -> types.ModuleType:
    """``exporter/parse.py`` of revision (or file) ``old``, as a module of its own."""
    path = Path(old)
    if path.is_file():
        source, where = path.read_text(), str(path)
    else:
        where = f"{old}:exporter/parse.py"
        source = subprocess.run(
            ["git", "-C", str(ROOT), "show", where], check=True, capture_output=True, text=True
        ).stdout
    if "import msgspec" in source:
        raise SystemExit(f"{where} decodes with msgspec already: --old the revision before it")
    module = types.ModuleType("bench_old_parse")
    exec(compile(source, where, "exec"), module.__dict__)
    return module


def bodies(api: str, nodes: int, services: int, tasks: int) -> dict[str, bytes]:
    """The three list answers, as the simulated engine of API ``api`` sends them."""
    shapes = Shapes(api)
    big = Swarm(SimConfig(nodes=nodes, services=services, tasks_per_service=1, history=1))
    per_service = TASKS_PER_SERVICE * HISTORY
    some = Swarm(
        SimConfig(
            nodes=nodes,
            services=max(1, math.ceil(tasks / per_service)),
            tasks_per_service=TASKS_PER_SERVICE,
            history=HISTORY,
        )
    )

    def answer(parts: list[bytes]) -> bytes:
        return b"[" + b",".join(parts) + b"]\n"

    return {
        "nodes": answer([shapes.node_json(n) for n in big.nodes.values()]),
        "services": answer(
            [shapes.service_json_status(s, big.nodes) for s in big.services.values()]
        ),
        "tasks": answer([shapes.service_tasks_blob(s) for s in some.services.values()]),
    }


@dataclass
class GcWatch:
    """Collections per generation, and the time spent in them, while ``on``."""

    on: bool = False
    runs: list[int] = field(default_factory=lambda: [0, 0, 0])
    seconds: float = 0.0
    _started: float = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if not self.on:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started
            self.runs[info["generation"]] += 1


@dataclass
class Timings:
    seconds: list[float] = field(default_factory=list)
    collections: list[list[int]] = field(default_factory=list)
    gc_seconds: list[float] = field(default_factory=list)


def paths(
    old: types.ModuleType, reader: Reader[Any, Any]
) -> dict[str, Callable[[bytes], list[Any]]]:
    old_parse = getattr(old, f"parse_{reader.kind}")

    def old_path(body: bytes) -> list[Any]:
        good: list[Any] = old.parse_list(json.loads(body), old_parse, reader.kind)[0]
        return good

    def typed(body: bytes) -> list[Any]:
        items = split(body)
        assert items is not None
        return reader.read(items)[0]

    def lenient(body: bytes) -> list[Any]:
        return parse_list(json.loads(body), reader.parse, reader.kind)[0]

    return {"old": old_path, "typed": typed, "lenient": lenient}


def run(old: types.ModuleType, answers: dict[str, bytes], reps: int) -> list[dict[str, Any]]:
    readers: dict[str, Reader[Any, Any]] = {"nodes": NODES, "services": SERVICES, "tasks": TASKS}
    watch = GcWatch()
    gc.callbacks.append(watch)
    rows = []
    try:
        for name, body in answers.items():
            ways = paths(old, readers[name])
            want = ways["typed"](body)
            same_as_old = ways["old"](body) == want
            if ways["lenient"](body) != want:
                raise SystemExit(f"{name}: the typed and the lenient path differ")
            timings = {way: Timings() for way in ways}
            for rep in range(reps):
                order = list(ways) if rep % 2 == 0 else list(reversed(ways))
                for way in order:
                    gc.collect()
                    watch.runs, watch.seconds, watch.on = [0, 0, 0], 0.0, True
                    t0 = time.perf_counter()
                    out = ways[way](body)
                    elapsed = time.perf_counter() - t0
                    watch.on = False
                    del out
                    t = timings[way]
                    t.seconds.append(elapsed)
                    t.collections.append(watch.runs)
                    t.gc_seconds.append(watch.seconds)
            for way, t in timings.items():
                rows.append(
                    {
                        "list": name,
                        "objects": len(want),
                        "MB": len(body) / 1e6,
                        "path": way,
                        "p50_ms": percentile(t.seconds, 50) * 1e3,
                        "min_ms": min(t.seconds) * 1e3,
                        "us_per_object": percentile(t.seconds, 50) * 1e6 / max(1, len(want)),
                        "collections": [
                            percentile([c[g] for c in t.collections], 50) for g in range(3)
                        ],
                        "gc_ms": percentile(t.gc_seconds, 50) * 1e3,
                        "same_as_old": same_as_old,
                    }
                )
    finally:
        gc.callbacks.remove(watch)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    p50 = {(r["list"], r["path"]): r["p50_ms"] for r in rows}
    out = [
        "| list | objects | MB | path | p50 ms | min ms | µs/object "
        "| collections gen0/1/2 | in GC ms | old / this |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        c = "/".join(f"{x:g}" for x in r["collections"])
        ratio = p50[(r["list"], "old")] / r["p50_ms"] if r["p50_ms"] else math.nan
        out.append(
            f"| {r['list']} | {r['objects']:,} | {r['MB']:.1f} | {r['path']} "
            f"| {r['p50_ms']:.1f} | {r['min_ms']:.1f} | {r['us_per_object']:.1f} "
            f"| {c} | {r['gc_ms']:.1f} | {ratio:.1f}x |"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.decode", description=__doc__)
    p.add_argument("--old", default="HEAD", help="git revision or file of the old parse.py")
    p.add_argument("--api", default="1.41", choices=API_VERSIONS)
    p.add_argument("--nodes", type=int, default=1000)
    p.add_argument("--services", type=int, default=5000)
    p.add_argument("--tasks", type=int, default=20000)
    p.add_argument("--reps", type=int, default=9)
    p.add_argument("--json", action="store_true", help="print the rows as JSON too")
    a = p.parse_args(argv)
    old = old_parser(a.old)
    t0 = time.perf_counter()
    answers = bodies(a.api, a.nodes, a.services, a.tasks)
    built = time.perf_counter() - t0
    # As the exporter runs: its thresholds, what it holds frozen after a relist.
    gc.collect()
    gc.freeze()
    gc_tuning.tune()
    rows = run(old, answers, a.reps)
    print(
        f"old: {a.old}; API {a.api}; bodies built in {built:.1f} s; {a.reps} repetitions, "
        f"interleaved; gc thresholds {gc.get_threshold()}, "
        f"{gc.get_freeze_count():,} objects frozen; Python {sys.version.split()[0]}"
    )
    print(table(rows))
    if not all(r["same_as_old"] for r in rows):
        print("note: the old parser's objects differ from today's (fields added since?)")
    if a.json:
        print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
