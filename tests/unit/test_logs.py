"""--log.format logfmt: one key=value line per event, as Prometheus' own exporters
write them, carrying what the JSON line carries."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from common.logs import configure_logging, logfmt
from swarm_sentinel.flags import parse_args
from tests.support.sentinel import Sentinel, wait_for

# key=value, the value bare (no space, =, " or control character) or a JSON string.
PAIR = re.compile(r'([^\s="]+)=("(?:[^"\\]|\\.)*"|[^\s="]+)(?: |$)')


def parse(line: str) -> dict[str, str]:
    """A logfmt line back into its pairs; fails on anything that is not logfmt."""
    pairs = PAIR.findall(line)
    assert " ".join(f"{k}={v}" for k, v in pairs) == line, line
    return {k: json.loads(v) if v.startswith('"') else v for k, v in pairs}


@pytest.fixture
def restored() -> Iterator[None]:
    before, root = structlog.get_config(), logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.configure(**before)
    root.handlers, root.level = handlers, level


def test_logfmt_quotes_what_needs_it() -> None:
    line = logfmt(
        None,
        "info",
        {
            "event": "started",
            "level": "info",
            "timestamp": "2026-11-30T00:00:00.000000Z",
            "listen": ":9675",
            "tls": False,
            "none": None,
            "n": 3,
            "empty": "",
            "said": 'a "quoted"\nsecond line',
            "name": "jürgen",
            "bad": "\ud800",
            "list": ["a b", 1],
        },
    )
    assert line == (
        "ts=2026-11-30T00:00:00.000000Z level=info msg=started listen=:9675 tls=false "
        'none=null n=3 empty="" said="a \\"quoted\\"\\nsecond line" name=jürgen bad=? '
        'list="[\\"a b\\", 1]"'
    )
    assert parse(line)["said"] == 'a "quoted"\nsecond line'


@pytest.mark.usefixtures("restored")
def test_logfmt_lines_carry_what_json_lines_carry(capsys: pytest.CaptureFixture[str]) -> None:
    def lines(fmt: str) -> list[str]:
        configure_logging("info", fmt)
        log = structlog.get_logger("test")
        log.info("engine_api_version", api_version="1.44", pinned=False)
        try:
            raise ValueError("bad\nvalue")
        except ValueError:
            log.exception("task_failed", task="poll")
        logging.getLogger("aiohttp.server").error("Error handling request", exc_info=OSError("x"))
        return capsys.readouterr().err.splitlines()

    as_json = [json.loads(line) for line in lines("json")]
    as_logfmt = [parse(line) for line in lines("logfmt")]
    assert len(as_logfmt) == len(as_json) == 3
    for j, f in zip(as_json, as_logfmt, strict=True):
        assert list(f)[:3] == ["ts", "level", "msg"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", f.pop("ts"))
        j.pop("timestamp")
        j["msg"] = j.pop("event")
        assert f == {k: v if isinstance(v, str) else json.dumps(v) for k, v in j.items()}
    assert as_logfmt[1]["exception"].endswith("ValueError: bad\nvalue")
    assert as_logfmt[2]["msg"] == "http_request_error"


def test_the_flag_takes_logfmt_and_the_process_writes_it(tmp_path: Path) -> None:
    assert getattr(parse_args(["--log.format", "logfmt"]), "log.format") == "logfmt"
    proc = Sentinel(f"unix://{tmp_path}/no-engine.sock", ["--log.format", "logfmt"])
    proc.start(wait_ready=False)
    try:
        wait_for(lambda: "msg=started" in proc.logs(), 20, "the started event")
    finally:
        proc.stop()
    lines = [parse(line) for line in proc.logs().splitlines() if line]
    started = next(line for line in lines if line["msg"] == "started")
    assert started["level"] == "info" and started["tls"] == "false"
