"""List answers decoded with msgspec (``exporter.decode``) give exactly what the
lenient reading of decoded JSON gives (``parse_node`` & co.), object by object:
for every object the engines sent (engine-samples/), every object the bench's
simulated engine sends, and objects garbled at random; an object msgspec refuses
falls back alone, an answer it refuses falls back whole.

The rules themselves, with today's figures, are in test_leniency.py.
"""

from __future__ import annotations

import asyncio
import copy
import gc
import json
import math
import random
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from bench.sim.shapes import API_VERSIONS, Shapes
from bench.sim.swarm import SimConfig, Swarm
from exporter import engine as engine_module
from exporter import parse, shapes
from exporter.client import EngineMetrics
from exporter.decode import NODES, SERVICES, TASKS, NotJSON, Reader, split
from exporter.engine import PARSE_PIECE, Engine
from exporter.errors import BadAnswer
from exporter.parse import parse_list
from exporter.shapes import ParseError
from tests.support.fake_engine import fake_engine, ping_141
from tests.unit.samples import SampleSet

READERS: dict[str, Reader[Any, Any]] = {"node": NODES, "service": SERVICES, "task": TASKS}
LISTS = {
    "nodes.json": "node",
    "nodes-one-manager-down.json": "node",
    "services-status.json": "service",
    "services-updates.json": "service",
    "tasks.json": "task",
    "tasks-updates.json": "task",
}


def both_ways(reader: Reader[Any, Any], item: msgspec.Raw | bytes) -> tuple[object, object]:
    """(typed, lenient) for one element: the object, or the ParseError's text."""

    def outcome(f: Any, arg: object) -> object:
        try:
            return f(arg)
        except ParseError as exc:
            return f"ParseError: {exc}"

    typed = outcome(lambda i: reader.build(reader.decoder.decode(i)), item)
    lenient = outcome(reader.parse, json.loads(bytes(item)))
    return typed, lenient


@pytest.mark.parametrize("name", sorted(LISTS))
def test_every_sample_object_is_decoded_typed_and_as_the_lenient_reading(
    sample: SampleSet, name: str
) -> None:
    body = sample.path(name).read_bytes()
    reader = READERS[LISTS[name]]
    items = split(body)
    assert items is not None and len(items) == len(json.loads(body)) > 0
    for item in items:
        # Real objects never need the fallback: msgspec takes every one of them.
        typed, lenient = both_ways(reader, item)
        assert typed == lenient
        assert not isinstance(typed, str), typed
    assert reader.read(items) == parse_list(json.loads(body), reader.parse, reader.kind)


def _simulated(api: str) -> Iterator[tuple[str, bytes]]:
    """Every object of a small simulated swarm, in each state the simulator has:
    tasks running, failed, shut down, pending (stuck), ready; services mid-update
    and with PreviousSpec; a manager and a worker down."""
    swarm = Swarm(
        SimConfig(
            nodes=12, managers=3, services=24, tasks_per_service=3, history=3,
            broken_fraction=0.3, api_version=api,
        )
    )  # fmt: skip
    services = list(swarm.services.values())
    for svc in services[:4]:
        swarm.update_service(svc, image="bench/other:2")
    for svc in services[4:8]:
        swarm.restart(svc, exit_code=137)
    swarm.update_service(services[8], replicas=5, labels={"a": "b"})
    nodes = list(swarm.nodes.values())
    swarm.set_node_state(nodes[1], "down")
    swarm.set_node_state(nodes[-1], "down")
    shapes = Shapes(api)
    for n in nodes:
        yield "node", shapes.node_json(n)
    for s in services:
        yield "service", shapes.service_json_status(s, swarm.nodes)
        yield "service", shapes.service_json(s)
    for t in swarm.tasks.values():
        yield "task", shapes.task_json(t)


@pytest.mark.parametrize("api", API_VERSIONS)
def test_every_simulated_object_is_decoded_typed_and_as_the_lenient_reading(api: str) -> None:
    kinds: set[str] = set()
    states: set[str] = set()
    for kind, raw in _simulated(api):
        typed, lenient = both_ways(READERS[kind], raw)
        assert typed == lenient
        assert not isinstance(typed, str), typed
        kinds.add(kind)
        states.add(getattr(typed, "state", "") or getattr(typed, "update_state", ""))
    assert kinds == {"node", "service", "task"}
    assert {"running", "failed", "shutdown", "pending", "ready", "updating", "down"} <= states


# -- Objects garbled at random: whatever msgspec makes of them, the same objects.

_ODD_VALUES: tuple[object, ...] = (
    None, True, False, "true", "false", 0, 1, -1, -7, 3.0, 2.5, 1e30, 10**30, "", "X",
    "Running", "MANAGER", [], {}, ["a", 1, None], {"a": 1}, {"a": None, "b": "c"},
    {"Replicas": -2}, "bad\ud800x", "y" * 5000, "2026-11-26T17:10:06.771732018Z",
    " 2026-11-26T17:10:06.5Z ", "0001-01-01T00:00:00Z", "2026-02-30T00:00:00Z",
    "img@sha256:abc", {"NanoCPUs": 2_000_000_000, "MemoryBytes": -1},
)  # fmt: skip
_ODD_KEYS = (
    "Global", "Replicated", "ReplicatedJob", "GlobalJob", "Leader", "Labels", "ID", "Name",
    "Constraints", "NanoCPUs", "ExitCode", "Slot", "ManagerStatus", "RunningTasks", "Image",
)  # fmt: skip


def _paths(obj: object, at: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    yield at
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, (*at, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, (*at, i))


def _garble(obj: Any, rng: random.Random) -> Any:
    """``obj`` with one to three values replaced, keys dropped or added."""
    obj = copy.deepcopy(obj)
    for _ in range(rng.randint(1, 3)):
        path = rng.choice([p for p in _paths(obj) if p])
        parent = obj
        for k in path[:-1]:
            parent = parent[k]
        odd = copy.deepcopy(rng.choice(_ODD_VALUES))
        r = rng.random()
        if r < 0.25 and isinstance(parent, dict):
            del parent[path[-1]]
        elif r < 0.4 and isinstance(parent[path[-1]], dict):
            parent[path[-1]][rng.choice(_ODD_KEYS)] = odd
        else:
            parent[path[-1]] = odd
    return obj


def test_garbled_objects_are_decoded_as_the_lenient_reading(sample: SampleSet) -> None:
    rng = random.Random(1)
    fell_back = typed_only = 0
    for name, kind in LISTS.items():
        reader = READERS[kind]
        objs = sample.load(name)
        for _ in range(600):
            garbled = _garble(rng.choice(objs), rng)
            body = json.dumps([garbled]).encode()
            items = split(body)
            if items is None:  # a lone surrogate: json.loads decodes the whole answer
                continue
            good, skipped = reader.read(items)
            got = good[0] if good else skipped[0]
            want: object
            try:
                want = reader.parse(garbled)
            except ParseError as exc:
                want = str(exc)
            assert got == want, json.dumps(garbled)[:2000]
            try:
                reader.decoder.decode(items[0])
                typed_only += 1
            except msgspec.ValidationError:
                fell_back += 1
    assert fell_back > 200 and typed_only > 200  # both ways were taken


# -- Answers, and the engine client's list calls.


def test_an_answer_msgspec_refuses_is_left_to_json_whole() -> None:
    assert split(b'{"message": "a map"}') is None  # not a list: json.loads, BadAnswer
    assert split(b"[1] x") is None  # not JSON at all
    assert split(b'[{"ID": NaN}]') is None  # json.loads takes NaN
    assert split(b'[{"Name": "a\\ud800"}]') is None  # and a lone surrogate
    assert split(b'\xef\xbb\xbf[{"ID": "a"}]') is None  # and a byte-order mark
    # Bytes that are not UTF-8, even where nothing is read: json.loads refuses them.
    assert split(b'[{"ID": "a", "Spec": {"X": "\xff"}}]') is None
    # Checked a piece at a time: a character across two pieces is still one.
    across = ('[{"ID": "' + "x" * ((1 << 16) - 10) + 'é"}]').encode()
    assert across.index("é".encode()) == (1 << 16) - 1 and split(across) is not None
    items = split('[{"ID": "é"}, 5]'.encode())
    assert items is not None and [bytes(i) for i in items] == ['{"ID": "é"}'.encode(), b"5"]


def test_an_element_json_refuses_makes_the_whole_answer_json_s() -> None:
    # Not met in practice (split checks what msgspec and json disagree on), but
    # should msgspec ever take what json does not, json decides for the answer.
    with pytest.raises(NotJSON):
        NODES.read([msgspec.Raw(b'{"ID": 5,}')])


def test_decoded_objects_are_not_tracked_by_the_collector() -> None:
    for item in split(b'[{"ID": "t", "ServiceID": "s", "Status": {"State": "running"}}]') or []:
        doc = TASKS.decoder.decode(item)
        assert not gc.is_tracked(doc) and not gc.is_tracked(doc.Status)
    assert not gc.is_tracked(shapes.read_doc(shapes.ServiceDoc, {"ID": "s"}, "service"))


def _task(i: int) -> dict[str, Any]:
    return {"ID": f"t{i}", "ServiceID": "s1", "Slot": i, "Status": {"State": "running"}}


@asynccontextmanager
async def engine_for(
    tmp_path: Path, tasks_body: bytes
) -> AsyncIterator[tuple[Engine, CollectorRegistry]]:
    """An engine client whose ``/tasks`` answers ``tasks_body``."""

    async def tasks(_: web.Request) -> web.Response:
        return web.Response(body=tasks_body, content_type="application/json")

    async with fake_engine(tmp_path, {"/_ping": ping_141, "/v1.41/tasks": tasks}) as url:
        registry = CollectorRegistry()
        eng = Engine(url, EngineMetrics(registry), timeout=5)
        try:
            yield eng, registry
        finally:
            await eng.close()


def _skipped(registry: CollectorRegistry) -> float | None:
    return registry.get_sample_value("dockerswarm_exporter_parse_errors_total", {"object": "task"})


async def test_one_garbage_object_is_skipped_and_counted_the_rest_parsed(tmp_path: Path) -> None:
    tasks: list[object] = [_task(i) for i in range(5)]
    tasks[1] = {"ID": "t1", "Slot": 1}  # no ServiceID: skipped
    tasks[2] = {**_task(2), "Slot": "2", "Labels": {"n": 5}}  # odd types: falls back, parses
    async with engine_for(tmp_path, json.dumps(tasks).encode()) as (eng, registry):
        with capture_logs() as logs:
            got = await eng.tasks()
    assert [(t.id, t.slot) for t in got] == [("t0", 0), ("t2", 0), ("t3", 3), ("t4", 4)]
    assert _skipped(registry) == 1
    skipped = [e["problem"] for e in logs if e["event"] == "api_object_skipped"]
    assert skipped == ["task t1: missing ServiceID"]


@pytest.mark.parametrize(
    "body",
    [
        # json.loads takes NaN and lone surrogates: the answer is decoded whole, as before.
        b'[{"ID": "t1", "ServiceID": "s1", "Slot": NaN}]',
        b'[{"ID": "t1", "ServiceID": "s1", "Status": {"Err": "x\\ud800"}}]',
    ],
)
async def test_an_answer_msgspec_refuses_parses_as_before(tmp_path: Path, body: bytes) -> None:
    async with engine_for(tmp_path, body) as (eng, registry):
        got = await eng.tasks()
    assert got == [parse.parse_task(t) for t in json.loads(body)]
    assert [(t.id, t.slot) for t in got] == [("t1", 0)]
    assert _skipped(registry) is None


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"<html>busy</html>", r"^tasks: answer is not JSON \(17 bytes\)$"),
        (b'[{"ID": "t1", "ServiceID": "s1", "Spec": "\xff"}]', r"^tasks: answer is not JSON"),
        (b'{"message": "x"}', r"^tasks: expected a list, got dict$"),
    ],
)
async def test_an_answer_that_is_no_json_list_is_one_engine_error(
    tmp_path: Path, body: bytes, error: str
) -> None:
    async with engine_for(tmp_path, body) as (eng, _):
        with pytest.raises(BadAnswer, match=error):
            await eng.tasks()


@pytest.mark.parametrize("seconds", [0.0, math.inf])
async def test_a_long_answer_is_decoded_in_pieces_letting_the_loop_run_in_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seconds: float
) -> None:
    """Pieces of ``PARSE_PIECE`` objects; the loop is let in between two of them once
    ``PARSE_SECONDS`` went by: after every piece when it is 0, never when it is
    infinite."""
    monkeypatch.setattr(engine_module, "PARSE_SECONDS", seconds)
    many = PARSE_PIECE * 2 + 7
    ticks = 0
    seen: list[tuple[int, int]] = []  # (objects in the piece, ticks of the loop so far)

    class Counting(Reader[Any, Any]):
        def read(self, items: Sequence[msgspec.Raw]) -> tuple[list[Any], list[str]]:
            seen.append((len(items), ticks))
            return super().read(items)

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    counting = Counting(TASKS.kind, TASKS.decoder, TASKS.build, TASKS.parse)
    body = json.dumps([_task(i) for i in range(many)]).encode()
    async with engine_for(tmp_path, body) as (eng, _):
        tick = asyncio.create_task(ticker())
        try:
            got = await eng._get_list("tasks", "tasks", None, counting)
        finally:
            tick.cancel()
    assert len(got) == many
    assert [n for n, _ in seen] == [PARSE_PIECE, PARSE_PIECE, 7]
    if seconds == 0:
        # The loop ran something else between two pieces.
        assert seen[0][1] < seen[1][1] < seen[2][1]
    else:
        assert seen[0][1] == seen[1][1] == seen[2][1]
