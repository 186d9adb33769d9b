"""Background tasks that never end unnoticed: an exception (or an unexpected return)
is logged as one line, reported to the owner, and the task is started again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import NoReturn

import structlog

from common.backoff import Backoff
from common.text import one_line

log = structlog.get_logger("supervise")


async def supervise(
    name: str,
    run: Callable[[], Awaitable[object]],
    *,
    on_failure: Callable[[str], None] = lambda _: None,
    first_wait: float = 1.0,
    max_wait: float = 60.0,
    clock: Callable[[], float] = time.monotonic,
) -> NoReturn:
    """Run ``run()`` for good. Each time it ends, ``on_failure`` hears why (one line)
    and it starts again after a wait that doubles up to ``max_wait``, back to
    ``first_wait`` once a run lasted ``max_wait``. Cancelling the supervisor cancels it."""
    backoff = Backoff(first_wait, max_wait, stable_after=max_wait)
    while True:
        started = clock()
        try:
            await run()
            problem = "ended on its own"
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # anything: a dead task must not go unnoticed
            problem = one_line(f"{type(exc).__name__}: {exc}")
        wait = backoff.after(clock() - started)
        log.error("task_failed", task=name, error=problem, restart_in=wait)
        on_failure(problem)
        await asyncio.sleep(wait)
