"""The simulated engine's HTTP API on a unix socket, and its counters of what it served."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from bench.sim.filters import BadFilter, event_matches, label_ok, parse_filters, parse_since
from bench.sim.objects import SimNode, SimService, SimTask
from bench.sim.shapes import Shapes, compact
from bench.sim.swarm import SimConfig, Swarm

CHUNK = 256 * 1024  # write lists in chunks: the loop stays responsive
GO_MAX_HEADER_BYTES = 1 << 20  # Go's net/http DefaultMaxHeaderBytes
_PREFIX = re.compile(r"^/v(\d+\.\d+)(?=/)")


@dataclass(slots=True)
class EndpointStats:
    requests: int = 0
    bytes: int = 0
    seconds: float = 0.0


class Traffic:
    """Requests and bytes served, per endpoint."""

    def __init__(self) -> None:
        self.endpoints: dict[str, EndpointStats] = {}

    def count(self, endpoint: str, nbytes: int, seconds: float = 0.0) -> None:
        st = self.endpoints.get(endpoint)
        if st is None:
            st = self.endpoints[endpoint] = EndpointStats()
        st.requests += 1
        st.bytes += nbytes
        st.seconds += seconds

    def add_bytes(self, endpoint: str, nbytes: int) -> None:
        self.endpoints[endpoint].bytes += nbytes

    def json(self) -> dict[str, Any]:
        eps = self.endpoints
        return {
            "endpoints": {
                k: {"requests": v.requests, "bytes": v.bytes} for k, v in sorted(eps.items())
            },
            "total": {
                "requests": sum(v.requests for v in eps.values()),
                "bytes": sum(v.bytes for v in eps.values()),
            },
        }


class SimServer:
    """The Engine API over ``swarm`` in the JSON of ``shapes``, and ``/_sim/*``."""

    def __init__(self, swarm: Swarm, shapes: Shapes, stop: asyncio.Event) -> None:
        self.swarm = swarm
        self.shapes = shapes
        self.traffic = Traffic()
        self.failing_inspects = 0
        """Node and service inspects still to answer with an HTTP 500."""
        self.stop = stop
        self._bg: set[asyncio.Task[None]] = set()

    def stats_json(self) -> dict[str, Any]:
        """``GET /_sim/stats``: what was served, and what the swarm is and did."""
        return {
            "uptime_seconds": round(time.monotonic() - self.swarm.started, 3),
            **self.traffic.json(),
            **self.swarm.state_json(),
        }

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.dispatch)
        return app

    # helpers
    def _json(
        self, endpoint: str | None, body: bytes, status: int = 200, t0: float | None = None
    ) -> web.Response:
        if endpoint is not None:
            self.traffic.count(endpoint, len(body), time.perf_counter() - t0 if t0 else 0.0)
        return web.Response(
            body=body,
            status=status,
            headers={**self.shapes.headers, "Content-Type": "application/json"},
        )

    def _error(self, endpoint: str | None, status: int, message: str) -> web.Response:
        return self._json(endpoint, (compact({"message": message}) + "\n").encode(), status)

    async def _list(
        self, request: web.Request, endpoint: str, items: Iterator[bytes], t0: float
    ) -> web.StreamResponse:
        """A JSON list, written in chunks (dockerd's big answers are chunked too)."""
        resp = web.StreamResponse(
            headers={**self.shapes.headers, "Content-Type": "application/json"}
        )
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        total = 0
        buf: list[bytes] = [b"["]
        size = 1
        first = True
        for item in items:
            if not item:
                continue
            if not first:
                buf.append(b",")
                size += 1
            first = False
            buf.append(item)
            size += len(item)
            if size >= CHUNK:
                chunk = b"".join(buf)
                total += len(chunk)
                await resp.write(chunk)
                buf, size = [], 0
        buf.append(b"]\n")
        chunk = b"".join(buf)
        total += len(chunk)
        await resp.write(chunk)
        await resp.write_eof()
        self.traffic.count(endpoint, total, time.perf_counter() - t0)
        return resp

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        t0 = time.perf_counter()
        sw = self.swarm
        asked = _PREFIX.match(request.path)
        if asked is not None:
            refused = self.shapes.refusal(asked.group(1))
            if refused is not None:
                return self._error("refused version", 400, refused)
        path = _PREFIX.sub("", request.path)
        parts = [p for p in path.split("/") if p]
        m = request.method
        try:
            if parts == ["_ping"] and m in ("GET", "HEAD"):
                self.traffic.count("GET /_ping", 2)
                return web.Response(
                    text="OK",
                    headers={**self.shapes.headers, "Cache-Control": "no-cache, no-store"},
                )
            if parts == ["version"] and m == "GET":
                return self._json("GET /version", self.shapes.version_body, t0=t0)
            if parts == ["info"] and m == "GET":
                return self._json("GET /info", self.shapes.info_json(sw.nodes, sw.leader), t0=t0)
            if self.failing_inspects and len(parts) == 2 and parts[0] in ("nodes", "services"):
                self.failing_inspects -= 1
                return self._error(f"GET /{parts[0]}/{{id}}", 500, "rpc error: simulated failure")
            if parts and parts[0] == "nodes" and m == "GET":
                return await self._nodes(request, parts, t0)
            if parts and parts[0] == "services":
                return await self._services(request, parts, t0)
            if parts and parts[0] == "tasks" and m == "GET":
                return await self._tasks(request, parts, t0)
            if parts == ["containers", "json"] and m == "GET":
                # The simulated manager runs no task containers of its own.
                return self._json("GET /containers/json", b"[]\n", t0=t0)
            if parts == ["events"] and m == "GET":
                return await self._events(request)
            if parts and parts[0] == "_sim":
                return await self._control(request, parts[1:])
        except BadFilter as exc:
            return self._error("bad request", 400, str(exc))
        return self._error("not found", 404, "page not found")

    async def _nodes(self, request: web.Request, parts: list[str], t0: float) -> web.StreamResponse:
        sw, js = self.swarm, self.shapes
        if len(parts) == 2:
            node = sw.nodes.get(parts[1]) or next(
                (n for n in sw.nodes.values() if n.hostname == parts[1]), None
            )
            if node is None:
                return self._error("GET /nodes/{id}", 404, f"node {parts[1]} not found")
            return self._json("GET /nodes/{id}", js.node_json(node) + b"\n", t0=t0)
        f = parse_filters(request.query.get("filters"), ("id", "name", "role", "membership"))
        nodes: Iterable[SimNode] = sw.nodes.values()
        if "role" in f:
            nodes = [n for n in nodes if n.role in f["role"]]
        if "id" in f:
            nodes = [n for n in nodes if any(n.id.startswith(v) for v in f["id"])]
        if "name" in f:
            nodes = [n for n in nodes if any(v in n.hostname for v in f["name"])]
        if "membership" in f and "accepted" not in f["membership"]:
            nodes = []
        endpoint = "GET /nodes?filters" if f else "GET /nodes"
        return await self._list(request, endpoint, (js.node_json(n) for n in nodes), t0)

    async def _services(
        self, request: web.Request, parts: list[str], t0: float
    ) -> web.StreamResponse:
        sw, js = self.swarm, self.shapes
        m = request.method
        if len(parts) >= 2:
            svc = sw.services.get(parts[1]) or sw.by_name.get(parts[1])
            if len(parts) == 2 and m == "GET":
                if svc is None:
                    return self._error("GET /services/{id}", 404, f"service {parts[1]} not found")
                return self._json("GET /services/{id}", js.service_json(svc) + b"\n", t0=t0)
            if len(parts) == 3 and parts[2] == "update" and m == "POST":
                return await self._update(request, svc, parts[1], t0)
            return self._error("not found", 404, "page not found")
        if m != "GET":
            return self._error("not found", 404, "page not found")
        f = parse_filters(request.query.get("filters"), ("id", "name", "label", "mode"))
        svcs: Iterable[SimService] = sw.services.values()
        if "id" in f:
            svcs = [s for s in svcs if any(s.id.startswith(v) for v in f["id"])]
        if "name" in f:
            svcs = [s for s in svcs if any(s.name.startswith(v) for v in f["name"])]
        if "mode" in f:
            svcs = [s for s in svcs if s.mode in f["mode"]]
        if "label" in f:
            svcs = [s for s in svcs if all(label_ok(s.labels, v) for v in f["label"])]
        status = request.query.get("status", "").lower() in ("1", "true")

        def render(s: SimService) -> bytes:
            return js.service_json_status(s, sw.nodes) if status else js.service_json(s)

        endpoint = "GET /services" + ("?status=true" if status else "") + ("&filters" if f else "")
        return await self._list(request, endpoint, (render(s) for s in svcs), t0)

    async def _update(
        self, request: web.Request, svc: SimService | None, ident: str, t0: float
    ) -> web.Response:
        ep = "POST /services/{id}/update"
        if svc is None:
            return self._error(ep, 404, f"service {ident} not found")
        try:
            version = int(request.query.get("version", ""))
            spec = await request.json()
        except ValueError:
            return self._error(ep, 400, "invalid service version or spec")
        if version != svc.version:
            return self._error(ep, 500, "rpc error: code = Unknown desc = update out of sequence")
        if not isinstance(spec, dict):
            return self._error(ep, 400, "invalid spec")
        tt = spec.get("TaskTemplate") or {}
        mode = spec.get("Mode") or {}
        replicas = (mode.get("Replicated") or {}).get("Replicas")
        self.swarm.update_service(
            svc,
            labels={str(k): str(v) for k, v in (spec.get("Labels") or {}).items()},
            replicas=replicas if isinstance(replicas, int) else None,
            image=(tt.get("ContainerSpec") or {}).get("Image"),
            force_update=tt.get("ForceUpdate") if isinstance(tt.get("ForceUpdate"), int) else None,
        )
        return self._json(ep, b'{"Warnings":null}\n', t0=t0)

    async def _tasks(self, request: web.Request, parts: list[str], t0: float) -> web.StreamResponse:
        sw, js = self.swarm, self.shapes
        if len(parts) == 2:
            t = sw.tasks.get(parts[1])
            if t is None:
                return self._error("GET /tasks/{id}", 404, f"task {parts[1]} not found")
            return self._json("GET /tasks/{id}", js.task_json(t) + b"\n", t0=t0)
        f = parse_filters(
            request.query.get("filters"), ("service", "node", "desired-state", "id", "name")
        )
        svcs: Iterable[SimService]
        if "service" in f:
            found: dict[str, SimService] = {}
            for v in f["service"]:
                s = sw.services.get(v) or sw.by_name.get(v)
                if s is None:
                    s = next((x for x in sw.services.values() if x.id.startswith(v)), None)
                if s is not None:
                    found[s.id] = s
            svcs = found.values()
        else:
            svcs = sw.services.values()
        rest = {k: v for k, v in f.items() if k != "service"}
        endpoint = "GET /tasks?filters" if f else "GET /tasks"
        if not rest:
            items: Iterator[bytes] = (js.service_tasks_blob(s) for s in svcs)
        else:

            def keep(t: SimTask) -> bool:
                if "node" in rest and t.node_id not in rest["node"]:
                    return False
                if "id" in rest and not any(t.id.startswith(v) for v in rest["id"]):
                    return False
                if "desired-state" in rest and t.desired not in rest["desired-state"]:
                    return False
                return "name" not in rest or any(v in t.service.name for v in rest["name"])

            ids = rest.get("id", ())
            if ids and "service" not in f and all(v in sw.tasks for v in ids):
                # Whole IDs (the replaced tasks a poll fetches): looked up, not matched
                # against every task of the swarm, which stalled this process for
                # seconds and delayed every event behind it.
                tasks: Iterable[SimTask] = (sw.tasks[v] for v in dict.fromkeys(ids))
            else:
                tasks = (t for s in svcs for hist in s.slots.values() for t in hist)
            items = (js.task_json(t) for t in tasks if keep(t))
        return await self._list(request, endpoint, items, t0)

    async def _events(self, request: web.Request) -> web.StreamResponse:
        sw = self.swarm
        f = parse_filters(
            request.query.get("filters"), ("type", "scope", "event", "node", "service", "label")
        )
        since = parse_since(request.query.get("since"))
        until = parse_since(request.query.get("until"))
        resp = web.StreamResponse(
            headers={**self.shapes.headers, "Content-Type": "application/json"}
        )
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        sub = (f, queue)
        sent = 0
        replay = [
            line
            for ns, ev, line in list(sw.events)
            if since is not None
            and ns >= since
            and (until is None or ns <= until)
            and event_matches(ev, f)
        ]
        sw.subscribers.append(sub)
        self.traffic.count("GET /events", 0)
        try:
            if replay:
                chunk = b"".join(replay)
                sent += len(chunk)
                await resp.write(chunk)
            while not self.stop.is_set():
                timeout = None
                if until is not None:
                    timeout = until / 1e9 - time.time()
                    if timeout <= 0:
                        break
                try:
                    line = await asyncio.wait_for(queue.get(), timeout)
                except TimeoutError:
                    break
                lines = [line]
                while line and not queue.empty() and len(lines) < 1000:
                    line = queue.get_nowait()
                    lines.append(line)
                chunk = b"".join(lines)
                sent += len(chunk)
                await resp.write(chunk)
                if not line:  # closed by the simulator (drop_streams, stop)
                    break
            await resp.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            sw.subscribers.remove(sub)
            self.traffic.add_bytes("GET /events", sent)
        return resp

    async def _control(self, request: web.Request, parts: list[str]) -> web.Response:
        sw = self.swarm

        def ok(obj: object) -> web.Response:
            return web.Response(text=compact(obj) + "\n", content_type="application/json")

        if parts == ["stats"]:
            return ok(self.stats_json())
        if parts == ["meta"]:
            return ok(sw.meta_json())
        body: dict[str, Any] = {}
        if request.can_read_body:
            loaded = await request.json()
            body = loaded if isinstance(loaded, dict) else {}
        if parts == ["churn"] and request.method == "POST":
            sw.task_churn = float(body.get("task_churn", sw.task_churn))
            sw.service_churn = float(body.get("service_churn", sw.service_churn))
            sw.node_flaps = float(body.get("node_flaps", sw.node_flaps))
            return ok(sw.churn_json())
        if parts == ["probe"] and request.method == "POST":
            kind = str(body.get("kind", ""))
            target = str(body.get("target", ""))
            if kind in ("node_down", "node_up", "node_label"):
                node = sw.nodes.get(target)
                if node is None:
                    return web.Response(status=404, text="no such node\n")
                if kind == "node_label":
                    return ok({"t": sw.touch_node(node)})
                return ok(
                    {"t": sw.set_node_state(node, "down" if kind == "node_down" else "ready")}
                )
            svc = sw.services.get(target)
            if svc is None:
                return web.Response(status=404, text="no such service\n")
            if kind == "scale":
                return ok({"t": sw.update_service(svc, replicas=int(body["replicas"]))})
            if kind == "task_fail":
                slot = body.get("slot", 1)
                done = sw.restart(svc, int(slot) if slot is not None else None)
                return ok({"t": time.monotonic(), "done": done})
            return web.Response(status=400, text="unknown probe\n")
        if parts == ["burst"] and request.method == "POST":
            task = asyncio.create_task(
                sw.run_burst(int(body.get("events", 10000)), float(body.get("seconds", 1.0)))
            )
            self._bg.add(task)
            task.add_done_callback(self._bg.discard)
            return ok({"t": time.monotonic()})
        if parts == ["drop_streams"] and request.method == "POST":
            # As a restarted or failed-over manager does: every event stream ends.
            for _, queue in list(sw.subscribers):
                queue.put_nowait(b"")
            return ok({"t": time.monotonic(), "streams": len(sw.subscribers)})
        if parts == ["fail_inspects"] and request.method == "POST":
            # The next node or service inspects fail, as during a leader election: an
            # event the client cannot follow up, after which it must list everything.
            self.failing_inspects = int(body.get("count", 1))
            return ok({"failing_inspects": self.failing_inspects})
        if parts == ["stop"] and request.method == "POST":
            self.stop.set()
            return ok({"stopping": True})
        return web.Response(status=404, text="unknown control path\n")


async def serve(
    cfg: SimConfig, socket_path: str, max_seconds: float, quiet: bool
) -> dict[str, Any]:
    """Serves until stopped (signal, ``POST /_sim/stop``, ``max_seconds``); returns the
    final ``/_sim/stats``."""
    t0 = time.monotonic()
    shapes = Shapes(cfg.api_version, cfg.min_api_version)
    swarm = Swarm(cfg)
    # Render everything once, so the first list is as fast as the later ones.
    for s in swarm.services.values():
        shapes.service_tasks_blob(s)
        shapes.service_json(s)
    for n in swarm.nodes.values():
        shapes.node_json(n)
    built = time.monotonic() - t0
    stop = asyncio.Event()
    server = SimServer(swarm, shapes, stop)
    # Go's net/http takes request lines and headers up to 1 MiB (DefaultMaxHeaderBytes);
    # aiohttp's default is 8 KiB, which long ?filters= lists of service IDs exceed.
    runner = web.AppRunner(
        server.app(),
        access_log=None,
        handle_signals=False,
        max_line_size=GO_MAX_HEADER_BYTES,
        max_field_size=GO_MAX_HEADER_BYTES,
    )
    await runner.setup()
    _remove_socket(socket_path)
    site = web.UnixSite(runner, socket_path)
    await site.start()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    size = swarm.state_json()["size"]
    if not quiet:
        print(
            f"simengine: unix://{socket_path}: {size['nodes']} nodes ({size['managers']} managers),"
            f" {size['services']} services, {size['current_tasks']} current tasks,"
            f" {size['tasks']} tasks with history; built in {built:.1f}s",
            file=sys.stderr,
            flush=True,
        )
    churn = asyncio.create_task(swarm.run_churn(stop))
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max_seconds)
    finally:
        stop.set()
        churn.cancel()
        await asyncio.gather(churn, return_exceptions=True)
        for _, queue in list(swarm.subscribers):
            queue.put_nowait(b"")
        await runner.cleanup()
        _remove_socket(socket_path)
    return server.stats_json()


def _remove_socket(socket_path: str) -> None:
    path = Path(socket_path)
    if path.is_socket():
        path.unlink()
