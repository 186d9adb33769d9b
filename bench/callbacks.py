"""The longest callbacks of a window, read back from what ``bench/loopprobe.py`` wrote."""

from __future__ import annotations

import json
import math
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

PROBE = Path(__file__).resolve().parent / "loopprobe.py"
LIMIT_S = 0.010
"""The longest a callback of the watcher's loop may run (issue 23)."""
SETTLE = 1.0
"""Seconds to wait for the probe to have written a window's end (it writes twice a
second)."""
MAIN = "MainThread"


def probed(out: Path, module_argv: list[str]) -> list[str]:
    """The argv that runs ``python -m MODULE ARGS`` under the loop probe, writing to ``out``.

    ``-P``: the working directory must not come before ``PYTHONPATH`` (a snapshot of
    another revision is run that way)."""
    return [sys.executable, "-P", str(PROBE), str(out), *module_argv]


@dataclass(frozen=True, slots=True)
class Long:
    """One callback that held its loop at least the probe's ``LONG``."""

    t: float  # when it ended
    s: float  # how long it ran
    what: str  # a task's coroutine, else the callback
    cpu: float = 0.0  # of it, the thread's CPU time (the rest: the OS ran something else)
    start: str = ""  # where the task stood before it
    next: str = ""  # where the task stopped after it
    stacks: tuple[tuple[str, int], ...] = ()  # most sampled, with LOOPPROBE_SAMPLE


@dataclass
class Callbacks:
    """One thread's callbacks in a window."""

    count: int = 0
    """Callbacks run in all (from the probe's counts at the window's ends)."""
    long: list[Long] = field(default_factory=list)
    """Those of at least the probe's ``LONG``, longest first."""
    collections: list[float] = field(default_factory=list)
    """Full garbage collections, seconds each."""
    young: list[float] = field(default_factory=list)
    """Collections of the younger generations that took at least the probe's ``LONG``."""

    @property
    def max_ms(self) -> float:
        return max((r.s for r in self.long), default=math.nan) * 1000

    def over(self, seconds: float = LIMIT_S) -> int:
        return sum(1 for r in self.long if r.s > seconds)

    def top(self, n: int = 5) -> list[str]:
        """The ``n`` longest, as ``"12.3 ms task ... (next: where)"``."""
        out = []
        for r in self.long[:n]:
            where = f" ({r.start} -> {r.next})" if r.next else ""
            out.append(f"{r.s * 1000:.1f} ms ({r.cpu * 1000:.1f} CPU) {r.what}{where}")
            out += [f"    {n} x {stack}" for stack, n in r.stacks]
        return out

    def cpu_over(self, seconds: float = LIMIT_S) -> int:
        """How many took more than ``seconds`` of the thread's own CPU time."""
        return sum(1 for r in self.long if r.cpu > seconds)

    @property
    def max_cpu_ms(self) -> float:
        return max((r.cpu for r in self.long), default=math.nan) * 1000

    def kinds(self, seconds: float = LIMIT_S) -> list[tuple[str, int, float, float]]:
        """What ran longer than ``seconds``: (what, how many, longest ms, most CPU ms),
        most first."""
        n: Counter[str] = Counter()
        worst: dict[str, float] = {}
        cpu: dict[str, float] = {}
        for r in self.long:
            if r.s > seconds:
                key = f"{r.what}: {r.start} -> {r.next}"
                n[key] += 1
                worst[key] = max(worst.get(key, 0.0), r.s * 1000)
                cpu[key] = max(cpu.get(key, 0.0), r.cpu * 1000)
        return [(k, c, worst[k], cpu[k]) for k, c in n.most_common()]


def window(path: Path, t0: float, t1: float, thread: str = MAIN) -> Callbacks:
    """``thread``'s callbacks that ended between ``t0`` and ``t1`` (``time.monotonic()``)."""
    got = Callbacks()
    first: int | None = None
    last = 0
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return got
    for line in lines:
        try:
            rec = json.loads(line)
        except ValueError:
            continue  # a line being written
        t = float(rec.get("t", 0.0))
        if "counts" in rec:
            n = int(rec["counts"].get(thread, 0))
            if t <= t0:
                first = n
            elif t <= t1 + 1.0:
                last = n
            continue
        if rec.get("thread") != thread or not t0 <= t <= t1:
            continue
        what = str(rec.get("what", ""))
        if what in ("gc full collection", "gc collection 2"):
            got.collections.append(float(rec["s"]))
        elif what.startswith("gc collection"):
            got.young.append(float(rec["s"]))
        else:
            got.long.append(
                Long(
                    t,
                    float(rec["s"]),
                    str(rec["what"]),
                    float(rec.get("cpu", 0.0)),
                    str(rec.get("from", "")),
                    str(rec.get("next", "")),
                    tuple((str(k), int(n)) for k, n in rec.get("stacks", ())),
                )
            )
    got.count = max(0, last - (first or 0))
    got.long.sort(key=lambda r: -r.s)
    return got


def summary(cb: Callbacks) -> dict[str, object]:
    """What a report keeps of a window (JSON-able)."""
    return {
        "count": cb.count,
        "over": cb.over(),
        "cpu_over": cb.cpu_over(),
        "max_ms": cb.max_ms,
        "max_cpu_ms": cb.max_cpu_ms,
        "top": cb.top(3),
        "collections": len(cb.collections),
        "collection_max_ms": max(cb.collections, default=0.0) * 1000,
        "young_max_ms": max(cb.young, default=0.0) * 1000,
    }
