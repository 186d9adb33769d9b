"""gzip on /metrics, made of pieces compressed apart.

The body of a scrape is the stores' pre-rendered text (megabytes at scale) followed by
the registry's few kilobytes (process metrics and the exporter's own counters, new at
every scrape). Compressing the whole body on every scrape, or even once per change,
would cost more than building it, so the answer is assembled from pieces
(``exporter.web.exposition`` keeps them):

- deflate pieces (RFC 1951) of the stores' text, each compressed when its text changed
  and ended with a sync flush: byte-aligned, no final block, and no back-reference
  before its own start, so that pieces made apart join into one valid deflate stream;
- the registry's part, compressed at every scrape, with the final block;
- around them the gzip header, and the trailer: the CRC-32 of the whole text (combined
  from the pieces' CRCs, ``crc32_combine``, continued over the registry's part) and its
  size.

The result is a single gzip member. Several members (RFC 1952 allows it, and Go's gzip
reader that Prometheus uses reads them all) would be simpler, but curl --compressed
(7.88) stops after the first member of such a body and fails.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import struct
import zlib
from collections.abc import Callable

from exporter.web.accept import weighted

LEVEL = 1
"""zlib's fastest level (Go's gzip.BestSpeed): about 200 MB/s for a ratio of about 11 on
our exposition text, where the default level 6 gains 12 % for 3.5 times the time."""

# ID1 ID2, CM deflate, no flags, MTIME 0 (none), XFL 0, OS 255 (unknown).
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


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


def gzip_trailer(crc: int, size: int) -> bytes:
    """The end of a gzip member: the CRC-32 of its text and the text's size (mod 2**32)."""
    return struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF)


# ---- CRC-32 of joined text from the CRCs of its parts --------------------------------

_POLY = 0xEDB88320  # CRC-32 (gzip's), reflected


def _multmodp(a: int, b: int) -> int:
    """a(x) * b(x) modulo the CRC polynomial (zlib's multmodp)."""
    m = 1 << 31
    p = 0
    while True:
        if a & m:
            p ^= b
            if not a & (m - 1):
                return p
        m >>= 1
        b = (b >> 1) ^ _POLY if b & 1 else b >> 1


def _powers() -> list[int]:
    out = [1 << 30]  # x**1
    for _ in range(31):
        out.append(_multmodp(out[-1], out[-1]))
    return out


_X2N = _powers()  # x**(2**n) modulo the polynomial


def _python_combine(crc1: int, crc2: int, len2: int) -> int:
    """zlib's crc32_combine, in Python: about 50 µs a call."""
    p, k = 1 << 31, 3  # x**0; len2 is in bytes: x**(8 * len2)
    while len2:
        if len2 & 1:
            p = _multmodp(_X2N[k & 31], p)
        len2 >>= 1
        k += 1
    return _multmodp(p, crc1) ^ crc2


def _libz_combine() -> Callable[[int, int, int], int] | None:
    """The system zlib's crc32_combine (the one Python's zlib module uses): about a
    microsecond a call. Loaded as a PyDLL so that each call keeps the GIL: a short call
    that let go of it would wait for it again up to the switch interval."""
    name = ctypes.util.find_library("z")
    if not name:
        return None
    try:
        lib = ctypes.PyDLL(name)
        fn = lib.crc32_combine
    except (OSError, AttributeError):
        return None
    fn.restype = ctypes.c_ulong
    fn.argtypes = [ctypes.c_ulong, ctypes.c_ulong, ctypes.c_long]
    combine: Callable[[int, int, int], int] = fn
    return combine


_combine = _libz_combine() or _python_combine


def crc32_combine(crc1: int, crc2: int, len2: int) -> int:
    """The CRC-32 of ``a + b`` from ``crc1`` (of ``a``), ``crc2`` (of ``b``) and
    ``len2``, the length of ``b``: what ``zlib.crc32(a + b)`` gives, without reading them."""
    if not len2:
        return crc1
    return int(_combine(crc1, crc2, len2)) & 0xFFFFFFFF
