"""The engine edge on garbled answers: one-line errors, counted, logged once.

A tiny server stands in for the engine here only to send what a real one
never would; behaviour against the real engine is tested on the lab.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from common import address
from exporter.client import EngineMetrics
from exporter.engine import (
    ID_CHARS,
    PARSE_PIECE,
    Engine,
    split_id_chars,
)
from exporter.errors import EngineError, NoLeader, NotFound, NotManager, Timeout, Unreachable
from exporter.parse import parse_node
from tests.support.fake_engine import fake_engine, ping_141


async def _nodes(_: web.Request) -> web.Response:
    return web.json_response([{"ID": "n1", "Description": {"Hostname": "a"}}, 5, {"x": 1}])


async def _info(_: web.Request) -> web.Response:
    return web.Response(text="<html>not json</html>", content_type="application/json")


async def _services(_: web.Request) -> web.Response:
    return web.Response(status=500, text="garbage", content_type="application/json")


# More nodes than one parse piece holds, a bad one in the first and in the last slice.
MANY = PARSE_PIECE * 2 + 7


async def _many_nodes(_: web.Request) -> web.Response:
    nodes: list[object] = [
        {"ID": f"n{i}", "Description": {"Hostname": f"h{i}"}} for i in range(MANY)
    ]
    nodes[3] = "bad"
    nodes[-1] = {"Description": {}}
    return web.json_response(nodes)


async def _not_a_list(_: web.Request) -> web.Response:
    return web.json_response({"message": "a map where a list belongs"})


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[tuple[Engine, CollectorRegistry]]:
    routes = {
        "/_ping": ping_141,
        "/v1.41/nodes": _nodes,
        "/v1.41/info": _info,
        "/v1.41/services": _services,
        "/v1.41/tasks": _not_a_list,
        "/v1.41/many/nodes": _many_nodes,
    }
    async with fake_engine(tmp_path, routes) as url:
        registry = CollectorRegistry()
        eng = Engine(url, EngineMetrics(registry), timeout=5)
        try:
            yield eng, registry
        finally:
            await eng.close()


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


async def test_a_long_list_is_parsed_in_slices_keeping_every_good_object(
    engine: tuple[Engine, CollectorRegistry],
) -> None:
    eng, registry = engine
    raw = await eng.client.get_json("nodes", "many/nodes")
    nodes = await eng._list("node", raw, parse_node)
    assert len(nodes) == MANY - 2
    assert nodes[0].id == "n0" and nodes[-1].id == f"n{MANY - 2}"
    assert (
        registry.get_sample_value("dockerswarm_exporter_parse_errors_total", {"object": "node"})
        == 2
    )


async def test_a_map_where_a_list_belongs_is_one_engine_error(
    engine: tuple[Engine, CollectorRegistry],
) -> None:
    eng, _ = engine
    with pytest.raises(EngineError, match=r"^tasks: expected a list, got dict$"):
        await eng.tasks()


def test_id_prefix_groups_cover_every_id_character_once() -> None:
    for parts in (1, 2, 10, 36, 100):
        groups = split_id_chars(parts)
        assert len(groups) == min(parts, 36)
        chars = [c for g in groups for c in g]
        assert sorted(chars) == sorted(ID_CHARS) and len(chars) == len(set(chars))
        assert max(map(len, groups)) - min(map(len, groups)) <= 1


@pytest.mark.parametrize(
    ("status", "message", "kind"),
    [
        (404, "node abc not found", NotFound),
        (
            500,
            "rpc error: code = Unknown desc = The swarm does not have a leader. It's possible "
            "that too few managers are online.",
            NoLeader,
        ),
        (500, "rpc error: code = DeadlineExceeded desc = context deadline exceeded", NoLeader),
        (
            503,
            "This node is not a swarm manager. Worker nodes can't be used to view or modify "
            "cluster state.",
            NotManager,
        ),
        (500, "something else broke", EngineError),
    ],
)
async def test_error_answers_are_classified_once(
    tmp_path: Path, status: int, message: str, kind: type[EngineError]
) -> None:
    async def answer(_: web.Request) -> web.Response:
        return web.json_response({"message": message}, status=status)

    async with fake_engine(tmp_path, {"/_ping": ping_141, "/v1.41/nodes": answer}) as url:
        eng = Engine(url, EngineMetrics(CollectorRegistry()), timeout=5)
        try:
            with pytest.raises(EngineError) as err:
                await eng.nodes()
        finally:
            await eng.close()
    assert type(err.value) is kind
    assert str(err.value) == f"nodes: {message}"


async def test_no_engine_is_unreachable_and_silence_a_timeout(tmp_path: Path) -> None:
    gone = Engine(f"unix://{tmp_path}/none.sock", EngineMetrics(CollectorRegistry()), timeout=5)
    try:
        with pytest.raises(Unreachable, match=r"^ping: "):
            await gone.info()
    finally:
        await gone.close()

    async def hang(_: web.Request) -> web.Response:
        await asyncio.sleep(1)
        return web.Response(text="late")

    async with fake_engine(tmp_path, {"/_ping": hang}, "slow.sock") as url:
        slow = Engine(url, EngineMetrics(CollectorRegistry()), timeout=0.2)
        try:
            with pytest.raises(Timeout, match=r"^ping: no answer within 0\.2s$"):
                await slow.info()
        finally:
            await slow.close()


async def test_no_socket_and_no_docker_host_is_unreachable_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What an operator gets with no DOCKER_HOST on a host without /var/run/docker.sock
    # (aiodocker left to itself fails an assert there).
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setattr(address, "DEFAULT_HOST", f"unix://{tmp_path}/docker.sock")
    eng = Engine(None, EngineMetrics(CollectorRegistry()), timeout=5)
    try:
        assert eng.address == f"unix://{tmp_path}/docker.sock"
        with pytest.raises(Unreachable):
            await eng.info()
    finally:
        await eng.close()


async def test_an_error_answer_without_a_message_is_one_line(tmp_path: Path) -> None:
    """A 500 whose JSON body has no ``message`` (a proxy's, a garbled engine's) was
    logged as ``KeyError: 'message'``: it is the engine's status, said plainly."""

    async def bare(_: web.Request) -> web.Response:
        return web.json_response({"error": "oops"}, status=500)

    async def empty(_: web.Request) -> web.Response:
        return web.Response(status=502)

    routes = {"/_ping": ping_141, "/v1.41/info": bare, "/v1.41/nodes": empty}
    async with fake_engine(tmp_path, routes) as url:
        eng = Engine(url, EngineMetrics(CollectorRegistry()), timeout=5)
        try:
            with pytest.raises(EngineError) as info:
                await eng.info()
            with pytest.raises(EngineError) as nodes:
                await eng.nodes()
        finally:
            await eng.close()
    assert str(info.value) == "info: HTTP 500 without a message" and info.value.status == 500
    assert str(nodes.value) == "nodes: HTTP 502" and "KeyError" not in str(nodes.value)
