"""What a scrape serves: the stores' text as an immutable ``Exposition``, swapped whole.

The stores (``exporter.metrics.text``) change on the watcher's loop, thousands of keys a
second under churn; a scrape must neither wait for that nor see half of it. So the text
a scrape serves is a value of its own, made again after every change by
``Expositions`` and swapped in at once: a scrape reads whichever one is current when it
starts, runs no model or rendering code, and gets the same text plain or gzipped.

Making it again costs what changed, not the whole: each family's text is in pieces
(``TextStore.take`` hands over the ones that changed), and each piece is kept with its
deflated bytes and its CRC-32, so that only changed pieces are compressed again and
the gzip body is the pieces joined (``exporter.web.compress``). That is done beside the
loop, in a thread of its own (zlib lets go of the GIL while it compresses): the loop
only takes the changed pieces' chunks, which are references to strings.
"""

from __future__ import annotations

import asyncio
import functools
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import structlog

from exporter.metrics.text import Family, FamilyTake, TextStore
from exporter.web.compress import GZIP_HEADER, crc32_combine, deflate, gzip_trailer

log = structlog.get_logger("exporter.web")


@dataclass(frozen=True, slots=True)
class Piece:
    """Some text, with its raw deflate piece (sync-flushed, ``deflate``) and its CRC-32."""

    plain: bytes
    deflated: bytes
    crc: int

    @classmethod
    def of(cls, text: bytes) -> Piece:
        if not text:
            return EMPTY
        return cls(text, deflate(text, final=False), zlib.crc32(text))


EMPTY = Piece(b"", b"", 0)


@functools.cache
def header(family: Family, openmetrics: bool) -> Piece:
    """A family's HELP and TYPE lines in one format, compressed once for good."""
    return Piece.of(family.header(openmetrics).encode())


@dataclass(frozen=True, slots=True)
class FamilyText:
    """One family's text as served: its pieces, their size and their CRC joined."""

    family: Family
    pieces: tuple[Piece, ...]
    size: int
    crc: int

    @classmethod
    def of(cls, family: Family, pieces: Sequence[Piece]) -> FamilyText:
        """``pieces`` in their places (an empty one is ``EMPTY``)."""
        crc = size = 0
        for p in pieces:
            if p.plain:
                crc = crc32_combine(crc, p.crc, len(p.plain))
                size += len(p.plain)
        return cls(family, tuple(pieces), size, crc)


@dataclass(frozen=True, slots=True)
class _Body:
    """One format's whole text, ready to write: plain, or deflated with its CRC."""

    data: bytes
    crc: int
    size: int


class Exposition:
    """The stores' text at one moment, in both formats, plain and gzipped.

    Immutable once made: a scrape in any thread reads it without a lock. Each body is
    joined from the pieces when it is first asked for (another scrape of the same
    exposition reuses it; two doing it at once only waste a join).
    """

    def __init__(self, families: Sequence[FamilyText] = (), version: int = 0) -> None:
        self.families = tuple(f for f in families if f.size)
        self.version = version
        """How many expositions were made before this one."""
        self._bodies: dict[tuple[bool, bool], _Body] = {}

    def parts(self, openmetrics: bool, gzipped: bool, tail: bytes) -> list[bytes]:
        """The whole body of a scrape, followed by ``tail`` (the registry's text), as
        parts to write one after the other: plain, or one gzip member."""
        if not gzipped:
            return [self._body(openmetrics, False).data, tail]
        body = self._body(openmetrics, True)
        return [
            GZIP_HEADER,
            body.data,
            deflate(tail, final=True),
            gzip_trailer(zlib.crc32(tail, body.crc), body.size + len(tail)),
        ]

    def text(self, openmetrics: bool = False) -> bytes:
        """The stores' text, plain (what ``TextStore.render`` joins, for tests)."""
        return self._body(openmetrics, False).data

    def _body(self, openmetrics: bool, gzipped: bool) -> _Body:
        body = self._bodies.get((openmetrics, gzipped))
        if body is None:
            pieces: list[Piece] = []
            for f in self.families:
                pieces.append(header(f.family, openmetrics))
                pieces.extend(f.pieces)
            crc = size = 0
            for f in self.families:
                h = header(f.family, openmetrics)
                crc = crc32_combine(crc32_combine(crc, h.crc, len(h.plain)), f.crc, f.size)
                size += len(h.plain) + f.size
            data = b"".join([p.deflated if gzipped else p.plain for p in pieces])
            body = self._bodies[(openmetrics, gzipped)] = _Body(data, crc, size)
        return body


class Expositions:
    """The current ``Exposition`` of ``stores``, made again after they change.

    A change (any ``put`` or ``delete``) starts a build at the loop's next turn, unless
    one is under way: then that one builds again when it is done, taking every change
    made meanwhile. So a burst of changes costs one or two builds, and an exposition is
    at most two builds behind the stores.
    """

    def __init__(self, stores: Sequence[TextStore]) -> None:
        self.stores = tuple(stores)
        self.current = Exposition()
        """What a scrape serves now (replaced whole, never changed)."""
        self._texts: list[list[FamilyText]] = [[] for _ in self.stores]
        self._dirty = False
        self._again = False  # a build failed: the next takes everything
        self._task: asyncio.Task[None] | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="exposition")
        for store in self.stores:
            store.listen(self._changed)
        self.build()  # what the stores hold already, at once

    def _changed(self) -> None:
        self._dirty = True
        if self._task is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # no loop: ``build`` when it is wanted
            self._task = loop.create_task(self._run(), name="exposition")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._dirty:
                self._dirty = False
                takes = self._take()
                try:
                    built = await loop.run_in_executor(self._thread, self._build, takes)
                except Exception as exc:  # a bug: say so, and build everything next time
                    log.error("exposition_failed", error=f"{type(exc).__name__}: {exc}")
                    self._again = self._dirty = True
                    await asyncio.sleep(1.0)
                    continue
                self.current = built
        finally:
            self._task = None

    def _take(self) -> list[tuple[FamilyTake, ...]]:
        everything, self._again = self._again, False
        return [s.take(everything=everything) for s in self.stores]

    def build(self) -> Exposition:
        """Make the current exposition now, in this thread (where no loop runs: tests,
        the bench's cost curve)."""
        self._dirty = False
        self.current = self._build(self._take())
        return self.current

    async def settled(self) -> Exposition:
        """The current exposition once every change made so far is in it (for tests)."""
        while self._dirty or self._task is not None:
            if self._task is None:
                self._changed()
            if self._task is not None:
                await asyncio.shield(self._task)
        return self.current

    def close(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)

    def _build(self, takes: Sequence[tuple[FamilyTake, ...]]) -> Exposition:
        """The next exposition: the last one's pieces, with what changed made again.
        Runs in the build thread (or where no loop runs): it alone reads ``_texts``."""
        families: list[FamilyText] = []
        for i, take in enumerate(takes):
            before = self._texts[i]
            now = [_family(t, before[j] if j < len(before) else None) for j, t in enumerate(take)]
            self._texts[i] = now
            families += now
        return Exposition(families, self.current.version + 1)


def _family(take: FamilyTake, before: FamilyText | None) -> FamilyText:
    """A family's text after ``take``: its unchanged pieces kept, the others made again."""
    if before is not None and not take.changed and not take.relaid:
        return before
    if before is not None and not take.relaid and len(before.pieces) == take.pieces:
        pieces = list(before.pieces)
    else:
        pieces = [EMPTY] * take.pieces
    for i, chunks in take.changed.items():
        pieces[i] = Piece.of("".join(chunks).encode())
    return FamilyText.of(take.family, pieces)
