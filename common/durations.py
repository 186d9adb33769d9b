"""Durations written the way Prometheus writes them: ``500ms``, ``30s``, ``5m``, ``1h30m``."""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(text: str) -> float:
    """Seconds in ``text``; ``ValueError`` with a one-line reason when it is not a duration."""
    s = text.strip()
    if not s:
        raise ValueError("empty duration")
    pos = 0
    total = 0.0
    for m in _PART.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(s):
        raise ValueError(f"{text!r} is not a duration (use e.g. 30s, 5m, 1h)")
    return total


def parse_positive_duration(text: str) -> float:
    """``parse_duration``, refusing zero: every interval, timeout, threshold or cooldown
    of swarm-sentinel must last (0s would busy-loop, fail every call, or force at once)."""
    seconds = parse_duration(text)
    if seconds <= 0:
        raise ValueError(f"{text!r} must be longer than 0s")
    return seconds


def format_duration(seconds: float) -> str:
    """The inverse, for logs and labels: 330 -> ``5m30s``."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    out = ""
    rest = round(seconds)
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            out += f"{rest // size}{unit}"
            rest %= size
    return out or "0s"


def short_duration(seconds: float) -> str:
    """Two units at most, as a person reads them: 42s, 3m12s, 2h05m, 1d03h."""
    s = max(round(seconds), 0)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"
