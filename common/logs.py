"""structlog, configured once: JSON lines in production, console on a terminal.

The libraries' own logging (aiohttp's request errors, asyncio's complaints) goes
through the same renderer, one line per record and at most a few a minute per
logger: an unauthenticated client must not be able to flood the log with tracebacks.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable

import structlog

from common.text import one_line

LEVELS = ("debug", "info", "warn", "warning", "error")


def configure_logging(level: str = "info", fmt: str = "auto") -> None:
    """``fmt``: ``json``, ``console`` or ``auto`` (console when stderr is a terminal)."""
    name = "warning" if level.lower() == "warn" else level.lower()
    numeric = logging.getLevelNamesMapping().get(name.upper(), logging.INFO)
    console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer() if console else structlog.processors.JSONRenderer()
    )
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
