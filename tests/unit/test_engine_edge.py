"""The engine edge on garbled answers: one-line errors, counted, logged once.

A tiny server stands in for the engine here only to send what a real one
never would; behaviour against the real engine is tested on the lab.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from exporter.engine import Engine, EngineError, EngineMetrics


async def _nodes(_: web.Request) -> web.Response:
    return web.json_response([{"ID": "n1", "Description": {"Hostname": "a"}}, 5, {"x": 1}])


async def _info(_: web.Request) -> web.Response:
    return web.Response(text="<html>not json</html>", content_type="application/json")


async def _services(_: web.Request) -> web.Response:
    return web.Response(status=500, text="garbage", content_type="application/json")


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[tuple[Engine, CollectorRegistry]]:
    app = web.Application()
    app.router.add_get("/v1.41/nodes", _nodes)
    app.router.add_get("/v1.41/info", _info)
    app.router.add_get("/v1.41/services", _services)
    runner = web.AppRunner(app)
    await runner.setup()
    sock = tmp_path / "engine.sock"
    await web.UnixSite(runner, str(sock)).start()
    registry = CollectorRegistry()
    eng = Engine(f"unix://{sock}", EngineMetrics(registry), timeout=5)
    try:
        yield eng, registry
    finally:
        await eng.close()
        await runner.cleanup()


async def test_bad_objects_are_skipped_counted_and_logged_once(
    engine: tuple[Engine, CollectorRegistry],
) -> None:
    eng, registry = engine
    with capture_logs() as logs:
        for _ in range(3):
            nodes = await eng.nodes()
            assert [n.id for n in nodes] == ["n1"]
    assert (
        registry.get_sample_value("dockerswarm_exporter_parse_errors_total", {"object": "node"})
        == 6
    )
    assert len([e for e in logs if e["event"] == "api_object_skipped"]) == 2


async def test_garbled_answers_raise_one_line_engine_errors(
    engine: tuple[Engine, CollectorRegistry],
) -> None:
    eng, registry = engine
    with pytest.raises(EngineError) as info:
        await eng.info()
    assert "not JSON" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(EngineError) as services:
        await eng.services()
    assert "\n" not in str(services.value)
    assert (
        registry.get_sample_value("dockerswarm_exporter_api_errors_total", {"endpoint": "info"})
        == 1
    )
