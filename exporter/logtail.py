"""The last lines of a task's output, as the engine streams them, in bounded memory.

``GET /tasks/{id}/logs`` answers with the engine's multiplexed stream (frames of an
8-byte header: the stream, three zero bytes, the payload's length), or with raw
text for a task that has a terminal. A line may be of any length: only its first
``line_max`` characters are kept, and only the last ``tail`` lines.
"""

from __future__ import annotations

from collections import deque

LOG_TAIL = 20
"""Lines of a failed task's output shown by ``explain`` (and the page, the webhook)."""
LOG_LINE_MAX = 500
"""Characters of one log line at most."""


class LogTail:
    def __init__(self, tail: int = LOG_TAIL, line_max: int = LOG_LINE_MAX) -> None:
        self._lines: deque[str] = deque(maxlen=max(tail, 0))
        self._line_max = line_max
        self._line = bytearray()
        self._framed: bool | None = None  # unknown until the first 8 bytes
        self._head = bytearray()  # a frame header being read
        self._left = 0  # payload bytes of the current frame still to come

    def feed(self, chunk: bytes) -> None:
        if self._framed is None:
            self._head += chunk
            if len(self._head) < 8:
                return
            head, self._head = bytes(self._head), bytearray()
            self._framed = head[0] in (0, 1, 2) and head[1:4] == b"\0\0\0"
            chunk = head
        if not self._framed:
            self._text(chunk)
            return
        view = memoryview(chunk)
        pos = 0
        while pos < len(view):
            if self._left:
                take = min(self._left, len(view) - pos)
                self._text(view[pos : pos + take])
                self._left -= take
                pos += take
                continue
            need = 8 - len(self._head)
            self._head += view[pos : pos + need]
            pos += need
            if len(self._head) == 8:
                self._left = int.from_bytes(self._head[4:8], "big")
                self._head.clear()

    def _text(self, data: bytes | memoryview) -> None:
        start = 0
        raw = bytes(data)
        while True:
            end = raw.find(b"\n", start)
            piece = raw[start:] if end < 0 else raw[start:end]
            # Enough bytes for line_max characters of any UTF-8: the rest is dropped.
            room = 4 * self._line_max - len(self._line)
            if room > 0:
                self._line += piece[:room]
            if end < 0:
                return
            self._end_line()
            start = end + 1

    def _end_line(self) -> None:
        text = bytes(self._line).decode("utf-8", "replace").rstrip("\r")
        self._lines.append(text[: self._line_max])
        self._line.clear()

    def lines(self) -> list[str]:
        """The last lines, the one not ended by a newline included."""
        if self._framed is None and self._head:
            self._framed = False  # shorter than a frame's header: text
            self._text(bytes(self._head))
            self._head.clear()
        if self._line:
            self._end_line()
        return list(self._lines)
