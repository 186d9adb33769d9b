"""API version negotiation: the rule, and the engine client's use of it.

The tiny engine here only sends what a real one never does (no API-Version
header, a version older than 20.10's, a refusal after an upgrade); the real
thing, Engine 20.10 and Engine 28 refusing < 1.44, is tested on the lab.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from common.apiversion import (
    NEWEST,
    OLDEST,
    ApiVersion,
    ApiVersionError,
    choose,
    is_refusal,
    parse_pin,
    refusal_message,
)
from exporter.client import EngineMetrics
from exporter.engine import Engine
from exporter.errors import EngineError
from exporter.parse import parse_event
from tests.support.fake_engine import fake_engine
from tests.unit.samples import SampleSet

TOO_OLD = (
    "client version 1.41 is too old. Minimum supported API version is 1.44, "
    "please upgrade your client to a newer version"
)


def test_the_lower_of_the_engines_and_ours() -> None:
    assert choose("1.41", None) == ApiVersion(1, 41)
    assert choose("1.51", None) == ApiVersion(1, 51)
    assert choose("1.54", None) == NEWEST
    # Compared as numbers: 1.5 is older than 1.41.
    assert ApiVersion.parse("1.5") < ApiVersion.parse("1.41") < ApiVersion.parse("v1.100")


def test_a_pin_is_used_as_it_is() -> None:
    assert choose("1.51", ApiVersion(1, 44)) == ApiVersion(1, 44)
    assert choose(None, ApiVersion(1, 41)) == ApiVersion(1, 41)
    assert parse_pin("") is None and parse_pin(" ") is None
    assert parse_pin("1.47") == ApiVersion(1, 47)
    with pytest.raises(ValueError, match=r"needs Engine API 1\.41 or newer"):
        parse_pin("1.40")
    with pytest.raises(ValueError, match="not an Engine API version"):
        parse_pin("latest")


def test_an_engine_older_than_ours_is_one_line_naming_both() -> None:
    with pytest.raises(ApiVersionError) as err:
        choose("1.40", None)
    assert str(err.value) == (
        "the engine speaks Engine API 1.40 at most; swarm-sentinel needs 1.41 or newer "
        "(Docker 20.10+)"
    )
    with pytest.raises(ApiVersionError, match="unreadable"):
        choose("one.two", None)
    with pytest.raises(ApiVersionError, match="did not say"):
        choose(None, None)


def test_refusals_are_recognised_and_explained() -> None:
    assert is_refusal(TOO_OLD)
    assert is_refusal("client version 1.52 is too new. Maximum supported API version is 1.41")
    assert not is_refusal("rpc error: The swarm does not have a leader")
    pinned = refusal_message(TOO_OLD, ApiVersion(1, 41), pinned=True)
    assert pinned.startswith("the engine refuses Engine API 1.41 (pinned by --docker.api-version")
    assert TOO_OLD in pinned and "\n" not in pinned
    assert f"speaks {OLDEST} to {NEWEST}" in refusal_message(TOO_OLD, OLDEST, pinned=False)


@dataclass
class FakeEngine:
    """Answers /_ping with ``offered`` (or no header), /version, and versioned /info;
    refuses versions below ``minimum`` with the real engine's words."""

    offered: str | None
    minimum: ApiVersion = OLDEST
    version_body: object = field(default_factory=lambda: {"ApiVersion": "1.43"})
    pings: int = 0
    asked: list[str] = field(default_factory=list)

    async def ping(self, _: web.Request) -> web.Response:
        self.pings += 1
        headers = {"API-Version": self.offered} if self.offered else {}
        return web.Response(text="OK", headers=headers)

    async def version(self, _: web.Request) -> web.Response:
        return web.json_response(self.version_body)

    async def info(self, request: web.Request) -> web.Response:
        used = ApiVersion.parse(request.match_info["version"])
        self.asked.append(str(used))
        if used < self.minimum:
            message = TOO_OLD.replace("1.41", str(used)).replace("1.44", str(self.minimum))
            return web.json_response({"message": message}, status=400)
        return web.json_response({"Swarm": {"LocalNodeState": "active"}})


@pytest.fixture
async def fake(tmp_path: Path) -> AsyncIterator[tuple[FakeEngine, str]]:
    fe = FakeEngine(offered="1.51")
    routes = {"/_ping": fe.ping, "/version": fe.version, r"/v{version:[0-9.]+}/info": fe.info}
    async with fake_engine(tmp_path, routes) as url:
        yield fe, url


async def _info_with(
    url: str, pinned: ApiVersion | None = None, calls: int = 1
) -> tuple[Engine, CollectorRegistry]:
    registry = CollectorRegistry()
    engine = Engine(url, EngineMetrics(registry), timeout=5, api_version=pinned)
    try:
        for _ in range(calls):
            await engine.info()
    finally:
        await engine.close()
    return engine, registry


async def test_one_ping_then_the_negotiated_version(fake: tuple[FakeEngine, str]) -> None:
    fe, url = fake
    with capture_logs() as logs:
        engine, registry = await _info_with(url, calls=3)
    assert fe.pings == 1 and fe.asked == ["1.51"] * 3
    assert engine.client.speaking == ApiVersion(1, 51)
    info = {"api_version": "1.51", "engine_api_version": "1.51"}
    assert registry.get_sample_value("dockerswarm_exporter_api_version_info", info) == 1
    assert [e["api_version"] for e in logs if e["event"] == "engine_api_version"] == ["1.51"]


async def test_no_header_asks_version_instead(fake: tuple[FakeEngine, str]) -> None:
    fe, url = fake
    fe.offered = None
    engine, _ = await _info_with(url)
    assert fe.asked == ["1.43"] and engine.client.speaking == ApiVersion(1, 43)
    fe.version_body = ["not", "a", "map"]
    with pytest.raises(EngineError, match=r"^ping: the engine did not say"):
        await _info_with(url)


async def test_an_engine_older_than_ours_is_refused_before_any_call(
    fake: tuple[FakeEngine, str],
) -> None:
    fe, url = fake
    fe.offered = "1.40"
    with pytest.raises(EngineError) as err:
        await _info_with(url)
    assert "speaks Engine API 1.40 at most; swarm-sentinel needs 1.41" in str(err.value)
    assert fe.asked == []


async def test_a_refused_pin_is_explained_and_negotiated_again(
    fake: tuple[FakeEngine, str],
) -> None:
    fe, url = fake
    fe.minimum = ApiVersion(1, 44)
    registry = CollectorRegistry()
    engine = Engine(url, EngineMetrics(registry), timeout=5, api_version=ApiVersion(1, 41))
    try:
        for _ in range(2):
            with pytest.raises(EngineError) as err:
                await engine.info()
            assert str(err.value) == (
                "info: the engine refuses Engine API 1.41 (pinned by --docker.api-version or "
                f"DOCKER_API_VERSION): {TOO_OLD}"
            )
        # Each refusal is followed by a new /_ping: the engine may have changed.
        assert fe.pings == 2
    finally:
        await engine.close()


async def test_an_engine_upgraded_under_a_live_client_is_negotiated_again(
    fake: tuple[FakeEngine, str],
) -> None:
    fe, url = fake
    fe.offered = "1.41"
    registry = CollectorRegistry()
    engine = Engine(url, EngineMetrics(registry), timeout=5)
    try:
        await engine.info()
        # The engine is replaced by one that offers more and refuses what we spoke.
        fe.offered, fe.minimum = "1.51", ApiVersion(1, 44)
        with pytest.raises(EngineError, match=r"refuses Engine API 1\.41"):
            await engine.info()
        await engine.info()
    finally:
        await engine.close()
    assert fe.asked == ["1.41", "1.41", "1.51"]
    info = {"api_version": "1.51", "engine_api_version": "1.51"}
    assert registry.get_sample_value("dockerswarm_exporter_api_version_info", info) == 1
    old = {"api_version": "1.41", "engine_api_version": "1.41"}
    assert registry.get_sample_value("dockerswarm_exporter_api_version_info", old) is None


async def test_events_as_engine_29_sends_them(tmp_path: Path, sample: SampleSet) -> None:
    """API 1.52 (Engine 29): the stream's Content-Type is application/x-ndjson, and the
    deprecated status/id/from fields are gone; neither is read."""
    lines = sample.path("events-swarm.jsonl").read_bytes()

    async def events(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await resp.prepare(request)
        await resp.write(lines)
        return resp

    async def ping(_: web.Request) -> web.Response:
        return web.Response(text="OK", headers={"API-Version": "1.52"})

    routes = {"/_ping": ping, "/v1.52/events": events}
    async with fake_engine(tmp_path, routes) as url:
        engine = Engine(url, EngineMetrics(CollectorRegistry()), timeout=5)
        try:
            got = [e async for e in engine.events(0.0)]
        finally:
            await engine.close()
    expected = [parse_event(json.loads(line)) for line in lines.splitlines() if line.strip()]
    assert got == expected and len(got) > 5
