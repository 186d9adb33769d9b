"""structlog, configured once: JSON lines in production, console on a terminal, or
logfmt lines as Prometheus' own exporters write them.

The libraries' own logging (aiohttp's request errors, asyncio's complaints) goes
through the same renderer, one line per record and at most a few a minute per
logger: an unauthenticated client must not be able to flood the log with tracebacks.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable

import structlog
from structlog.typing import EventDict, WrappedLogger

from common.text import one_line

LEVELS = ("debug", "info", "warn", "warning", "error")


def configure_logging(level: str = "info", fmt: str = "auto") -> None:
    """``fmt``: ``json``, ``logfmt``, ``console`` or ``auto`` (console when stderr is a
    terminal, JSON otherwise)."""
    name = "warning" if level.lower() == "warn" else level.lower()
    numeric = logging.getLevelNamesMapping().get(name.upper(), logging.INFO)
    if fmt == "auto":
        fmt = "console" if sys.stderr.isatty() else "json"
    renderer: structlog.typing.Processor
    if fmt == "console":
        renderer = structlog.dev.ConsoleRenderer()
    elif fmt == "logfmt":
        renderer = logfmt
    else:
        renderer = structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    root = logging.getLogger()
    root.handlers = [LibraryLogs()]
    root.setLevel(max(numeric, logging.INFO))


def logfmt(_: WrappedLogger, __: str, event_dict: EventDict) -> str:
    """One event as one logfmt line, as Prometheus' exporters write them (go-kit's
    logfmt): ``ts``, ``level`` and ``msg`` first (the JSON lines' ``timestamp``,
    ``level`` and ``event``, same values), then the event's own fields in order.

    A value is quoted when it is empty or holds a space, ``=``, ``"`` or a control
    character, with JSON's escapes inside the quotes, so that an event is always one
    line; ``true``/``false``/``null`` as in the JSON lines; lists and mappings as JSON.
    """
    head = {
        "ts": event_dict.pop("timestamp", None),
        "level": event_dict.pop("level", None),
        "msg": event_dict.pop("event", None),
    }
    fields = {k: v for k, v in head.items() if v is not None}
    fields.update(event_dict)
    return " ".join(f"{_logfmt_key(k)}={_logfmt_value(v)}" for k, v in fields.items())


def _logfmt_key(key: object) -> str:
    text = str(key)
    return "".join("_" if c <= " " or c in '="' else c for c in text) or "_"


def _logfmt_value(value: object) -> str:
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int | float):
        return str(value)
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    # A lone surrogate could not be written out as UTF-8.
    text = text.encode("utf-8", "replace").decode("utf-8")
    if text and not any(c <= " " or c in '="\x7f' for c in text):
        return text
    return json.dumps(text, ensure_ascii=False)


# Loggers whose records are about a client's request, not about us.
_REQUEST_LOGGERS = ("aiohttp.server", "aiohttp.web", "aiohttp.access")


class LibraryLogs(logging.Handler):
    """Each stdlib record as one structured event: a traceback shrinks to its last
    line, and each logger says at most ``per_minute`` things a minute, then how many
    it left out."""

    def __init__(self, per_minute: int = 10, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.per_minute = per_minute
        self.clock = clock
        self._windows: dict[str, list[float]] = {}  # logger -> [start, said, left out]

    def emit(self, record: logging.LogRecord) -> None:
        now = self.clock()
        window = self._windows.setdefault(record.name, [now, 0, 0])
        log = structlog.get_logger(record.name)
        if now - window[0] >= 60:
            if window[2]:
                log.warning("log_lines_left_out", logger=record.name, count=int(window[2]))
            window[:] = [now, 0, 0]
        if window[1] >= self.per_minute:
            window[2] += 1
            return
        window[1] += 1
        fields: dict[str, object] = {"logger": record.name}
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            fields["error"] = one_line(f"{type(exc).__name__}: {exc}", 300)
        event = (
            "http_request_error"
            if record.name.startswith(_REQUEST_LOGGERS)
            else one_line(record.getMessage(), 300)
        )
        if event == "http_request_error":
            fields["message"] = one_line(record.getMessage(), 300)
        if record.levelno >= logging.ERROR:
            log.error(event, **fields)
        elif record.levelno >= logging.WARNING:
            log.warning(event, **fields)
        else:
            log.info(event, **fields)
