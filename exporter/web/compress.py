"""gzip on /metrics: the stores' text compressed once per change, the rest per scrape.

A scrape never waits for the big text to be compressed (see ``GzipBodies``).

The body of a scrape is the stores' pre-rendered text (megabytes at scale, unchanged
between two changes) followed by the registry's few kilobytes (process metrics and
the exporter's own counters, new at every scrape). Compressing the whole body on every
scrape would cost more than building it, so the answer is assembled from pieces:

- one deflate piece (RFC 1951) per store, compressed when that store changed and ended
  with a sync flush: byte-aligned, no final block, and no back-reference before its own
  start, so that pieces made apart join into one valid deflate stream;
- the registry's part, compressed at every scrape, with the final block;
- around them the gzip header, and the trailer: the CRC-32 of the whole text (the
  stores' CRC, kept with the pieces, continued over the registry's part) and its size.

The result is a single gzip member. Several members (RFC 1952 allows it, and Go's gzip
reader that Prometheus uses reads them all) would be simpler, but curl --compressed
(7.88) stops after the first member of such a body and fails.
"""

from __future__ import annotations

import asyncio
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from exporter.metrics.text import TextStore
from exporter.web.accept import weighted

LEVEL = 1
"""zlib's fastest level (Go's gzip.BestSpeed): about 200 MB/s for a ratio of about 11 on
our exposition text, where the default level 6 gains 12 % for 3.5 times the time."""

SMALL = 64 * 1024
"""Bytes of a changed store's text compressed on the scrape path (well under a
millisecond); a bigger one is compressed beside the scrapes."""

# ID1 ID2, CM deflate, no flags, MTIME 0 (none), XFL 0, OS 255 (unknown).
_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether ``accept_encoding`` (the request's Accept-Encoding) takes gzip at least as
    gladly as no coding, by q-value (RFC 9110, 12.5.3). ``*`` stands for the codings it
    does not name; identity not named at all is acceptable but preferred by nobody."""
    qs: dict[str, float] = {}
    for coding, q in weighted(accept_encoding):
        qs.setdefault(coding, q)
    gzip_q = qs.get("gzip", qs.get("x-gzip", qs.get("*", 0.0)))
    identity_q = qs.get("identity", qs.get("*", 0.0))
    return gzip_q > 0.0 and gzip_q >= identity_q


def deflate(data: bytes, *, final: bool) -> bytes:
    """``data`` as raw deflate: ended with the final block, or with a sync flush (no final
    block, byte-aligned) when more pieces follow."""
    c = zlib.compressobj(LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
    return c.compress(data) + c.flush(zlib.Z_FINISH if final else zlib.Z_SYNC_FLUSH)


@dataclass(frozen=True)
class _Pieces:
    versions: tuple[int, ...]  # of the stores, when they were compressed
    pieces: tuple[bytes, ...]  # one deflate piece per store
    crc: int  # CRC-32 of the stores' text, joined
    size: int  # its length in bytes


class GzipBodies:
    """The gzip bodies of one set of stores, in both formats.

    A scrape never compresses a big store's text: it gets gzip when the compressed
    pieces are those of the stores as they are now (``TextStore.version``; a small
    store that changed is compressed on the spot), and the plain text otherwise, while
    the pieces are made again in a worker thread (zlib lets go of the GIL), one
    refresh at a time. Between changes of the swarm every scrape is gzipped; under a
    constant stream of changes most are not, and cost no more than before.
    """

    def __init__(self, stores: Sequence[TextStore]) -> None:
        self.stores = tuple(stores)
        self._done: dict[bool, _Pieces] = {}
        self._refreshing: dict[bool, asyncio.Task[None]] = {}

    def body(self, openmetrics: bool, tail: bytes) -> list[bytes] | None:
        """The whole gzip body (as parts to write one after the other) of the stores'
        text followed by ``tail``, the registry's part; None when a big store changed
        since it was last compressed (a refresh is then under way). Small stores that
        changed (the exporter's own health, at every poll) are compressed here: it
        costs less than sending the big text plain."""
        done = self._done.get(openmetrics)
        versions = self._versions()
        if done is None or done.versions != versions:
            stale = [done is None or done.versions[i] != v for i, v in enumerate(versions)]
            bodies = [s.render(openmetrics) for s in self.stores]  # joined once per change
            if done is None or any(
                again and len(b) > SMALL for b, again in zip(bodies, stale, strict=True)
            ):
                self._refresh(openmetrics)
                return None
            pieces, crc = _compress(bodies, done.pieces, stale)
            done = _Pieces(versions, pieces, crc, sum(len(b) for b in bodies))
            self._done[openmetrics] = done
        return [
            _HEADER,
            *done.pieces,
            deflate(tail, final=True),
            struct.pack("<II", zlib.crc32(tail, done.crc), (done.size + len(tail)) & 0xFFFFFFFF),
        ]

    async def ready(self, openmetrics: bool) -> None:
        """Until the pieces are those of the stores as they are now (for tests)."""
        while self.body(openmetrics, b"") is None:
            task = self._refreshing.get(openmetrics)
            if task is not None:
                await task

    def _refresh(self, openmetrics: bool) -> None:
        if openmetrics in self._refreshing:
            return  # one at a time: the next scrape asks again if it is stale by then
        task = asyncio.create_task(self._compress_now(openmetrics))
        self._refreshing[openmetrics] = task
        task.add_done_callback(lambda _: self._refreshing.pop(openmetrics, None))

    async def _compress_now(self, openmetrics: bool) -> None:
        done = self._done.get(openmetrics)
        versions = self._versions()
        bodies = [s.render(openmetrics) for s in self.stores]
        old = done.pieces if done is not None else (None,) * len(bodies)
        stale = [done is None or done.versions[i] != v for i, v in enumerate(versions)]
        pieces, crc = await asyncio.to_thread(_compress, bodies, old, stale)
        self._done[openmetrics] = _Pieces(versions, pieces, crc, sum(len(b) for b in bodies))

    def _versions(self) -> tuple[int, ...]:
        return tuple(s.version for s in self.stores)


def _compress(
    bodies: Sequence[bytes], old: Sequence[bytes | None], stale: Sequence[bool]
) -> tuple[tuple[bytes, ...], int]:
    """The pieces of ``bodies`` (the ``stale`` ones compressed again, the others kept from
    ``old``) and the CRC-32 of their text joined. Runs in a worker thread."""
    pieces: list[bytes] = []
    crc = 0
    for body, piece, again in zip(bodies, old, stale, strict=True):
        pieces.append(deflate(body, final=False) if again or piece is None else piece)
        crc = zlib.crc32(body, crc)
    return tuple(pieces), crc
