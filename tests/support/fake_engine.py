"""A tiny Engine API on a unix socket, for what a real engine never sends (garbled
answers, a missing header, a refused version after an upgrade, a hang). Behaviour
against the real engine is tested on the lab."""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def ping_141(_: web.Request) -> web.Response:
    """``GET /_ping`` of an engine whose newest API is 1.41."""
    return web.Response(text="OK", headers={"API-Version": "1.41"})


@asynccontextmanager
async def fake_engine(
    tmp_path: Path, routes: Mapping[str, Handler], name: str = "engine.sock"
) -> AsyncIterator[str]:
    """Serve ``routes`` (path -> handler, any method); yields the ``unix://`` URL."""
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_route("*", path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    sock = tmp_path / name
    await web.UnixSite(runner, str(sock)).start()
    try:
        yield f"unix://{sock}"
    finally:
        await runner.cleanup()


class SampledEngine:
    """A manager answering from a captured sample set (engine-samples/<api>/), whose
    event stream misbehaves as a test asks (``events_mode``):

    - ``silent``: accepted, then nothing, ever (a stream a proxy holds open);
    - ``cut``: accepted and closed at once (a proxy that cuts it);
    - ``long``: one line of ``long_line`` bytes, then the sample's events, then silence.

    The node's own container stream (``containers_mode``): ``replay``, the sample's
    container events whole at every opening (as a reconnect's replay from before them),
    then cut; ``cut``: accepted and closed at once; ``silent``.

    ``nodes`` can be changed between calls; ``requests`` counts what was asked, by path
    (``update`` for a service update, which takes ``update_delay`` seconds to answer;
    ``container-events`` for the node's container stream, ``events`` for the swarm's).
    """

    def __init__(
        self, sample_dir: Path, events_mode: str = "silent", containers_mode: str = "silent"
    ) -> None:
        self.dir = sample_dir
        self.events_mode = events_mode
        self.containers_mode = containers_mode
        self.long_line = 2 << 20
        self.nodes: list[dict[str, Any]] = json.loads((sample_dir / "nodes.json").read_text())
        self.requests: Counter[str] = Counter()
        self.update_delay = 0.0
        self.refused: set[str] = set()
        """Paths answered 403, as a socket proxy that allows only some endpoints."""
        self._hold = asyncio.Event()

    def _sample(self, name: str) -> web.Response:
        return web.Response(body=(self.dir / name).read_bytes(), content_type="application/json")

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = re.sub(r"^/v[0-9.]+/", "/", request.path)
        if request.method == "POST" and path.endswith("/update"):
            self.requests["update"] += 1
            await asyncio.sleep(self.update_delay)
            return web.json_response({"Warnings": None})
        self.requests[self._counted_as(path, request)] += 1
        if path in self.refused:
            return web.json_response({"message": "Forbidden"}, status=403)
        if path == "/_ping":
            api = self.dir.name
            return web.Response(text="OK", headers={"API-Version": api})
        if path == "/info":
            return self._sample("info.json")
        if path == "/nodes":
            role = json.loads(request.query.get("filters", "{}")).get("role")
            nodes = [n for n in self.nodes if not role or n["Spec"]["Role"] in role]
            return web.json_response(nodes)
        if path.startswith("/nodes/"):
            found = [n for n in self.nodes if n["ID"] == path.split("/")[2]]
            return web.json_response(found[0]) if found else web.json_response({}, status=404)
        if path == "/services":
            return self._sample("services-status.json")
        if path.startswith("/services/"):
            sid = path.split("/")[2]
            services = json.loads((self.dir / "services-status.json").read_text())
            return web.json_response(next(s for s in services if s["ID"] == sid))
        if path == "/tasks":
            return self._sample("tasks.json")
        if path in ("/networks", "/secrets", "/configs"):
            sample = self.dir / f"{path[1:]}.json"
            return self._sample(sample.name) if sample.exists() else web.json_response([])
        if path == "/events":
            return await self._events(request)
        if path == "/containers/json":
            return self._sample("containers.json")
        return web.json_response({"message": "page not found"}, status=404)

    @staticmethod
    def _counted_as(path: str, request: web.Request) -> str:
        name = path.strip("/").split("/")[0]
        if name == "events" and "container" in json.loads(request.query.get("filters", "{}")).get(
            "type", []
        ):
            return "container-events"  # the node's own stream, apart from the swarm's
        return name

    async def _events(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        if self._counted_as("/events", request) == "container-events":
            if self.containers_mode == "replay":
                await resp.write((self.dir / "events-containers.jsonl").read_bytes())
            if self.containers_mode in ("replay", "cut"):
                return resp
            await self._hold.wait()
            return resp
        if self.events_mode == "cut":
            return resp
        if self.events_mode == "long":
            await resp.write(b'{"Type":"service","x":"' + b"x" * self.long_line + b'"}\n')
            await resp.write((self.dir / "events-swarm.jsonl").read_bytes())
        await self._hold.wait()
        return resp

    @asynccontextmanager
    async def serving(self, tmp_path: Path) -> AsyncIterator[str]:
        async with fake_engine(tmp_path, {"/{tail:.*}": self._dispatch}) as url:
            try:
                yield url
            finally:
                self._hold.set()
