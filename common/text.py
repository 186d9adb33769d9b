"""Small forms every part writes in: one-line errors, UTC times, booleans."""

from __future__ import annotations

import time


def one_line(text: object, limit: int = 500) -> str:
    """``text`` on one line (whitespace runs as one space), at most ``limit`` characters:
    fit for a log field, a metric's error label or a CLI's one-line error. An OSError
    says its strerror only, without the errno tuple and repeated file name."""
    if isinstance(text, OSError) and text.strerror:
        text = text.strerror
    out = " ".join(str(text).split()) or (
        type(text).__name__ if isinstance(text, BaseException) else ""
    )
    return out[:limit]


def iso_utc(ts: float) -> str:
    """Epoch seconds as ``2026-11-26T17:10:30Z``; "" for 0 (never happened)."""
    if not ts:
        return ""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def parse_bool(text: str) -> bool:
    """``true/false``, ``1/0``, ``yes/no``, ``on/off`` (any case); ValueError otherwise."""
    t = text.strip().lower()
    if t in ("1", "true", "yes", "on"):
        return True
    if t in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{text!r} is not true or false")
