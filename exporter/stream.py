"""Following one engine event stream for good: the swarm's (nodes, services, on a
manager) and each node's own task containers' (on every node) alike.

- A lost stream is opened again from just after the last event seen
  (``since``, the engine's time): the engine replays what it still holds, and what
  follows the stream counts each event once.
- Between attempts, a wait that doubles up to ``backoff_max``, back to
  ``backoff_initial`` only once a stream held for ``stable_after``: a proxy that
  accepts the stream and cuts it at once gets ever rarer reconnects.
- A loss is counted (``dockerswarm_exporter_stream_reconnects_total``) and logged
  once, not once per failed retry; the owner hears of each opening (with how long
  the stream was lost) and each loss.
- When it last heard from the engine, for the owner's "silent for too long".
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import structlog
from prometheus_client import Counter

from common.backoff import Backoff
from exporter.errors import EngineError, Unreachable

log = structlog.get_logger("exporter.stream")


class Timed(Protocol):
    @property
    def time_nano(self) -> int: ...


E = TypeVar("E", bound=Timed)


@dataclass(frozen=True, slots=True)
class StreamSettings:
    backoff_initial: float = 0.5
    """First wait before reconnecting a stream; doubles up to ``backoff_max``."""
    backoff_max: float = 30.0
    stable_after: float = 30.0
    """Seconds a stream must have stayed up for its loss to start the back-off over."""


Opener = Callable[[float, Callable[[], None]], AsyncIterator[E]]
"""Opens the stream from ``since`` (epoch seconds); calls its second argument once the
engine has accepted it."""


class StreamFollower(Generic[E]):
    def __init__(
        self,
        name: str,
        open_stream: Opener[E],
        settings: StreamSettings,
        reconnects: Counter,
        *,
        address: str,
        on_open: Callable[[float | None], None] = lambda _: None,
        on_lost: Callable[[], None] = lambda: None,
        wanted: Callable[[], bool] = lambda: True,
        idle: float = 15.0,
    ) -> None:
        """``name``: the stream's, in its log events and its reconnect counter's label.
        ``on_open`` hears each opening, with the seconds since it was lost (None the
        first time); ``on_lost`` each loss. While ``wanted()`` is False (a worker has no
        swarm events), nothing is opened and it asks again every ``idle`` seconds."""
        self.name = name
        self._open = open_stream
        self._settings = settings
        self._reconnects = reconnects.labels(name)
        self._address = address
        self._on_open = on_open
        self._on_lost = on_lost
        self._wanted = wanted
        self._idle = idle
        self.up = False
        self.resume_from = 0.0
        """The engine's time (epoch) to open it from: just after the last event seen."""
        self.last_heard = 0.0
        """Monotonic: its last event, or its opening."""
        self._opened_at = 0.0
        self._lost_at = 0.0
        self._was_up = False

    async def run(self, handle: Callable[[E], Awaitable[object]]) -> None:
        """Follow the stream for good, ``handle`` each event."""
        s = self._settings
        backoff = Backoff(s.backoff_initial, s.backoff_max, s.stable_after)
        self.resume_from = self.resume_from or time.time()
        while True:
            if not self._wanted():
                await asyncio.sleep(self._idle)
                continue
            lasted = 0.0
            try:
                async for event in self._open(self.resume_from, self._opened):
                    self.last_heard = time.monotonic()
                    if event.time_nano:
                        # Just after it: the engine replays from ``since`` inclusive.
                        self.resume_from = (event.time_nano + 1) / 1e9
                    await handle(event)
                raise Unreachable(self.name, "the engine closed the event stream")
            except EngineError as exc:
                if self.up:
                    self._reconnects.inc()
                    log.warning(
                        "event_stream_lost", stream=self.name, engine=self._address, error=str(exc)
                    )
                    self._lost_at = time.monotonic()
                    lasted = self._lost_at - self._opened_at
                    self.up = False
                    self._on_lost()
                else:
                    log.debug("event_stream_retry", stream=self.name, error=str(exc))
            await asyncio.sleep(backoff.after(lasted))

    def _opened(self) -> None:
        now = time.monotonic()
        self.up = True
        self._opened_at = self.last_heard = now
        gap = None
        if self._was_up:
            gap = now - self._lost_at
            log.info(
                "event_stream_reconnected",
                stream=self.name,
                engine=self._address,
                gap=round(gap, 1),
            )
        self._was_up = True
        self._on_open(gap)

    def silent(self, after: float) -> bool:
        """Whether the stream may have missed something: down, or quiet for ``after``."""
        return not self.up or time.monotonic() - self.last_heard >= after
