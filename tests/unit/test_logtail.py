"""The tail of a task's log stream: frames or raw text, cut anywhere, long lines cut."""

from __future__ import annotations

from exporter.logtail import LogTail


def frame(stream: int, payload: bytes) -> bytes:
    return bytes([stream, 0, 0, 0]) + len(payload).to_bytes(4, "big") + payload


def fed(body: bytes, step: int, tail: int = 3, line_max: int = 10) -> list[str]:
    logs = LogTail(tail, line_max)
    for i in range(0, len(body), step):
        logs.feed(body[i : i + step])
    return logs.lines()


def test_frames_of_both_streams_cut_at_any_byte() -> None:
    body = frame(1, b"one\ntw") + frame(2, b"o\nthree\n") + frame(1, b"four\nfive")
    for step in range(1, len(body) + 1):
        assert fed(body, step) == ["three", "four", "five"], step


def test_raw_text_of_a_task_with_a_terminal() -> None:
    body = b"boot\r\nready\r\nexit 3\r\n"
    for step in (1, 2, 7, 100):
        assert fed(body, step) == ["boot", "ready", "exit 3"]


def test_a_long_line_is_cut_and_never_held_whole() -> None:
    logs = LogTail(2, 10)
    logs.feed(frame(1, b"x" * 5))
    for _ in range(1000):
        logs.feed(frame(1, "é".encode() * 500))
    logs.feed(frame(1, b"\nlast"))
    assert len(logs._line) <= 40
    assert logs.lines() == ["xxxxx" + "é" * 5, "last"]


def test_nothing_and_a_short_answer() -> None:
    assert fed(b"", 1) == []
    assert fed(b"hi", 1) == ["hi"]  # fewer than a header's 8 bytes: text
