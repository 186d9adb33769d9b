"""The longest callbacks on a process's event loops, as a bench probe.

Run a Python program under it (by path, so that it works for any tree on
``PYTHONPATH``, an old snapshot's too)::

    python -P bench/loopprobe.py OUT.jsonl -m swarm_sentinel.cli --docker.host ...

Every callback an asyncio loop runs (``Handle._run``: a task's step, a timer, an
I/O callback) is timed; those holding their loop at least ``LONG`` seconds go to
``OUT.jsonl`` with when they ended (``time.monotonic()``, the clock the bench reads
too), their thread, what they were (a task's coroutine, else the callback) and where
the task stood before and after (the span of code it ran), and the thread's CPU
time meanwhile (the rest was taken by the OS), as do garbage collections (every full
one, the others when long). Each write also says how many callbacks each thread ran
in all, so that a window's share is known. ``bench.callbacks`` reads a window of it
back.

The timing costs about a microsecond a callback; nothing else of the program changes.
"""

from __future__ import annotations

import asyncio.events
import gc
import json
import os
import runpy
import sys
import sysconfig
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import CoroutineType, FrameType

LONG = 0.002
"""Seconds a callback must hold its loop to be written down."""
FLUSH = 0.5
"""Seconds between two writes of the file."""

_records: list[dict[str, object]] = []
_counts: Counter[str] = Counter()
_lock = threading.Lock()


_LIBRARIES = (sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"])


def _where(coro: object) -> str:
    """Where a task stands: the innermost frame of its await chain that is the program's
    own (not the standard library's or a package's), and the innermost one if other."""
    own = other = ""
    while isinstance(coro, CoroutineType):
        frame = coro.cr_frame
        if frame is None:
            break
        here = f"{frame.f_code.co_qualname}:{frame.f_lineno}"
        if frame.f_code.co_filename.startswith(_LIBRARIES) or "site-packages" in (
            frame.f_code.co_filename
        ):
            other = here
        else:
            own, other = here, ""
        coro = coro.cr_await
    return own + (f" [{other}]" if other else "")


def _what(callback: Callable[..., object]) -> tuple[str, object]:
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):
        coro = owner.get_coro()
        name = getattr(coro, "__qualname__", type(coro).__name__)
        return f"task {owner.get_name()} {name}", coro
    name = getattr(callback, "__qualname__", None) or type(callback).__name__
    return str(name), None


class _Sampler:
    """With ``LOOPPROBE_SAMPLE`` (seconds, e.g. 0.002): the main thread's stack sampled
    that often while one of its callbacks runs, so that a long one says where its time
    went (its most sampled stacks of the program's own code). It takes the GIL to
    sample: the figures are then not the program's alone."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.main = threading.main_thread().ident or 0
        self.running_since = 0.0  # of the main thread's current callback (0: none)
        self.samples: Counter[str] = Counter()

    def run(self) -> None:
        while True:
            time.sleep(self.interval)
            if self.running_since and time.monotonic() - self.running_since > self.interval:
                frame = sys._current_frames().get(self.main)
                if frame is not None:
                    self.samples[_stack(frame)] += 1


def _stack(frame: FrameType | None) -> str:
    """The innermost three frames of the program's own code, innermost last."""
    own: list[str] = []
    while frame is not None and len(own) < 3:
        name = frame.f_code.co_filename
        if not name.startswith(_LIBRARIES) and "site-packages" not in name:
            own.append(f"{frame.f_code.co_qualname}:{frame.f_lineno}")
        frame = frame.f_back
    return " < ".join(own)


def _install() -> None:
    original = asyncio.events.Handle._run
    interval = float(os.environ.get("LOOPPROBE_SAMPLE", "0") or 0)
    sampler = _Sampler(interval) if interval > 0 else None
    if sampler is not None:
        threading.Thread(target=sampler.run, name="loopsampler", daemon=True).start()

    def timed(self: asyncio.events.Handle) -> None:
        callback = self._callback  # type: ignore[attr-defined]
        owner = getattr(callback, "__self__", None)
        # Where a task stood before this step: with where it stopped after, the span of
        # code the step ran.
        before = _where(owner.get_coro()) if isinstance(owner, asyncio.Task) else ""
        c0, t0 = time.thread_time(), time.monotonic()
        main = sampler is not None and threading.get_ident() == sampler.main
        if main and sampler is not None:
            sampler.samples = Counter()
            sampler.running_since = t0
        original(self)
        t1, c1 = time.monotonic(), time.thread_time()
        if main and sampler is not None:
            sampler.running_since = 0.0
        thread = threading.current_thread().name
        _counts[thread] += 1
        if t1 - t0 >= LONG:
            what, coro = _what(callback)
            rec: dict[str, object] = {
                "t": t1,
                "s": t1 - t0,
                "cpu": c1 - c0,
                "thread": thread,
                "what": what,
            }
            if coro is not None:
                rec["from"] = before
                rec["next"] = _where(coro)
            if main and sampler is not None and sampler.samples:
                rec["stacks"] = sampler.samples.most_common(3)
            with _lock:
                _records.append(rec)

    asyncio.events.Handle._run = timed  # type: ignore[method-assign]

    started: dict[int, float] = {}

    def collection(phase: str, info: dict[str, int]) -> None:
        gen = info.get("generation", 0)
        if phase == "start":
            started[gen] = time.monotonic()
        elif gen in started:
            t1 = time.monotonic()
            took = t1 - started.pop(gen)
            if gen == 2 or took >= LONG:  # every full one, the others when long
                rec = {
                    "t": t1,
                    "s": took,
                    "thread": threading.current_thread().name,
                    "what": f"gc collection {gen}",
                    "collected": info.get("collected", 0),
                }
                with _lock:
                    _records.append(rec)

    gc.callbacks.append(collection)


def _writer(out: Path) -> None:
    with out.open("a", encoding="utf-8") as f:
        while True:
            time.sleep(FLUSH)
            with _lock:
                taken = _records[:]
                _records.clear()
            for rec in taken:
                f.write(json.dumps(rec) + "\n")
            f.write(json.dumps({"t": time.monotonic(), "counts": dict(_counts)}) + "\n")
            f.flush()


def main() -> None:
    if len(sys.argv) < 4 or sys.argv[2] != "-m":
        raise SystemExit("usage: python -P bench/loopprobe.py OUT.jsonl -m MODULE [ARGS...]")
    out, module = Path(sys.argv[1]), sys.argv[3]
    _install()
    threading.Thread(target=_writer, args=(out,), name="loopprobe", daemon=True).start()
    sys.argv = [module, *sys.argv[4:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
