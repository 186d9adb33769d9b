"""Following up events several at once: one object at a time, the latest event of each.

Every node or service event is followed up by inspecting the object again, one call
each. One after the other, those calls are what an event waits behind: under a steady
stream of service updates, or a burst of thousands of events, each waits for every
round trip before it (docs/benchmarks.md). Here up to ``workers`` run at once, with two
rules that keep the model right whatever order the answers come in:

- one object is followed up by one worker at a time: its events are applied in the
  order they came;
- an object whose follow-up has not started yet is followed up once for all its events
  since, with the latest of them: an inspect reads the object as it is now, so one
  answers them all (a removal, the latest, is applied as such).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, Protocol, TypeVar


class Followed(Protocol):
    @property
    def type(self) -> str: ...

    @property
    def actor_id(self) -> str: ...


E = TypeVar("E", bound=Followed)


class FollowUps(Generic[E]):
    """Runs ``handle`` for submitted events, ``workers`` at once, as the module says."""

    def __init__(self, handle: Callable[[E], Awaitable[object]], workers: int) -> None:
        self._handle = handle
        self._workers = workers
        self._waiting: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._latest: dict[tuple[str, str], E] = {}  # queued or to be queued again
        self._busy: set[tuple[str, str]] = set()
        self.pending = 0
        """Objects waiting for a follow-up or being followed up (an int: read from any
        thread)."""

    def submit(self, event: E) -> None:
        """Follow ``event`` up (it returns at once)."""
        key = (event.type, event.actor_id)
        queued = key in self._latest
        if not queued and key not in self._busy:
            self.pending += 1
        self._latest[key] = event
        if not queued and key not in self._busy:
            self._waiting.put_nowait(key)

    @property
    def backlog(self) -> int:
        """Objects waiting for a follow-up."""
        return len(self._latest)

    async def run(self) -> None:
        """The workers, for good (until cancelled, or ``handle`` raises)."""
        await asyncio.gather(*(self._work() for _ in range(self._workers)))

    async def _work(self) -> None:
        while True:
            key = await self._waiting.get()
            event = self._latest.pop(key)
            self._busy.add(key)
            try:
                await self._handle(event)
            finally:
                self._busy.discard(key)
                if key in self._latest:  # came again meanwhile: its turn again
                    self._waiting.put_nowait(key)
                else:
                    self.pending -= 1
