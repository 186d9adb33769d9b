"""The read-only Engine API calls the exporter makes, counted per endpoint.

A thin layer over aiodocker's raw query: aiodocker has no ``status=true`` on
services, and its JSON helper crashes on a garbled error body. Every failure
comes out as one of the ``exporter.errors`` classes, classified here and only
here, with one line of text.

List answers (nodes, services, tasks) are decoded by ``exporter.decode``
(msgspec, typed, only the fields read), a slice at a time; other answers and
event lines with ``json.loads``.

The API version is negotiated as the docker CLI does it (``common.apiversion``):
one ``GET /_ping`` before the first call, and again after the connection failed
or the event stream ended, since the engine may have been upgraded meanwhile.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, TypeVar

import aiodocker
import aiohttp
import structlog

from common.address import engine_host
from common.apiversion import (
    OLDEST,
    ApiVersion,
    ApiVersionError,
    choose,
    is_refusal,
    refusal_message,
)
from common.text import one_line
from exporter.decode import NODES, SERVICES, TASKS, NotJSON, Reader, split
from exporter.errors import (
    BadAnswer,
    EngineError,
    NoLeader,
    NotManager,
    Timeout,
    Unreachable,
    VersionRefused,
)
from exporter.logtail import LOG_TAIL, LogTail
from exporter.metrics.health import EngineMetrics
from exporter.parse import (
    SWARM_TASK_LABEL,
    ParseError,
    parse_container_event,
    parse_event,
    parse_info,
    parse_list,
    parse_node,
    parse_service,
)
from exporter.types import (
    CURRENT_DESIRED_STATES,
    ContainerEvent,
    Event,
    Node,
    Service,
    SwarmInfo,
    Task,
)

T = TypeVar("T")
S = TypeVar("S")
log = structlog.get_logger("exporter.engine")

PARSE_SLICE = 250
"""Objects of a list answer parsed between two yields to the event loop."""


class Engine:
    """Read calls against one engine. ``timeout`` bounds every non-streaming call."""

    def __init__(
        self,
        url: str | None,
        metrics: EngineMetrics,
        *,
        timeout: float = 10.0,
        api_version: ApiVersion | None = None,
    ) -> None:
        self._url = url
        self._docker: aiodocker.Docker | None = None
        self.metrics = metrics
        self.timeout = timeout
        self.pinned = api_version
        """The operator's --docker.api-version / DOCKER_API_VERSION: used as it is."""
        self.speaking: ApiVersion | None = None
        """The version in use; None until negotiated, and again after a lost connection."""
        self._negotiated: tuple[str, str] | None = None
        self._negotiating = asyncio.Lock()
        self._problems_logged: set[str] = set()

    @property
    def docker(self) -> aiodocker.Docker:
        if self._docker is None:
            try:
                # A version given here makes aiodocker ask nothing: the real one
                # is set once /_ping has answered (``_client``).
                self._docker = aiodocker.Docker(url=self.address, api_version=f"v{OLDEST}")
            except (ValueError, OSError, aiodocker.DockerError) as exc:
                raise Unreachable("connect", f"cannot set up the client: {exc}") from exc
        return self._docker

    async def _client(self) -> aiodocker.Docker:
        """The client, at the negotiated version (negotiating first when needed)."""
        docker = self.docker
        if self.speaking is None:
            async with self._negotiating:
                if self.speaking is None:
                    version = await self._negotiate(docker)
                    docker.api_version = f"v{version}"
                    self.speaking = version
        return docker

    async def _negotiate(self, docker: aiodocker.Docker) -> ApiVersion:
        """Ask ``GET /_ping`` for the engine's ``API-Version``; choose ours from it."""
        self.metrics.requests.labels("ping").inc()
        try:
            async with asyncio.timeout(self.timeout):
                async with docker._query("_ping", versioned_api=False) as resp:
                    offered = resp.headers.get("API-Version")
                if offered is None and self.pinned is None:
                    # A proxy may strip the header; /version says it in its body.
                    async with docker._query("version", versioned_api=False) as resp:
                        answer = json.loads(await resp.read())
                    raw = answer.get("ApiVersion") if isinstance(answer, dict) else None
                    offered = raw if isinstance(raw, str) else None
        except _CALL_ERRORS as exc:
            raise self._failure("ping", exc) from exc
        try:
            version = choose(offered, self.pinned)
        except ApiVersionError as exc:
            self.metrics.errors.labels("ping").inc()
            raise VersionRefused("ping", str(exc)) from exc
        seen = (str(version), offered or "")
        if seen != self._negotiated:
            self.metrics.api_version.clear()
            self.metrics.api_version.labels(*seen).set(1)
            self.metrics.speaking(str(version))
            log.info(
                "engine_api_version",
                engine=self.address,
                api_version=str(version),
                engine_api_version=offered or "unknown",
                pinned=self.pinned is not None,
            )
            self._negotiated = seen
        return version

    def _failure(self, endpoint: str, exc: BaseException) -> EngineError:
        """``exc`` (from aiodocker, aiohttp, a timeout) as one counted ``EngineError``.

        A failure to reach the engine, or a refused version, means the next call
        negotiates again: the engine behind the address may not be the same.
        """
        self.metrics.errors.labels(endpoint).inc()
        if isinstance(exc, aiodocker.DockerError):
            message = one_line(_message(exc.message))
            # Status 900: aiodocker's own code for "cannot connect".
            if exc.status == 900:
                self.speaking = None
                return Unreachable(endpoint, message, exc.status)
            if exc.status == 400 and is_refusal(message):
                used = self.speaking or self.pinned or OLDEST
                self.speaking = None
                return VersionRefused(
                    endpoint, refusal_message(message, used, self.pinned is not None), 400
                )
            return EngineError.from_answer(endpoint, message, exc.status)
        self.speaking = None
        if isinstance(exc, TimeoutError):
            return Timeout(endpoint, f"no answer within {self.timeout:g}s")
        if isinstance(exc, ValueError | KeyError):
            # aiodocker decodes error bodies itself and raises these on a garbled one.
            return BadAnswer(endpoint, one_line(f"{type(exc).__name__}: {exc}"))
        return Unreachable(endpoint, one_line(f"{type(exc).__name__}: {exc}"))

    @property
    def address(self) -> str:
        """The engine's address as the operator gave it, for logs."""
        return engine_host(self._url)

    async def close(self) -> None:
        if self._docker is not None:
            await self._docker.close()
            self._docker = None

    async def get_json(
        self, endpoint: str, path: str, params: Mapping[str, str] | None = None
    ) -> Any:
        """GET ``path`` and decode it; ``endpoint`` names it in counters and errors."""
        return self._loads(endpoint, await self._get(endpoint, path, params))

    async def _get(
        self,
        endpoint: str,
        path: str,
        params: Mapping[str, str] | None = None,
        *,
        sink: Callable[[bytes], None] | None = None,
    ) -> bytes:
        """GET ``path``: the body as it came; or, to ``sink``, chunk by chunk as it comes
        (nothing is kept: the answer is b"")."""
        docker = await self._client()
        self.metrics.requests.labels(endpoint).inc()
        try:
            async with asyncio.timeout(self.timeout):
                async with docker._query(path, "GET", params=dict(params or {})) as resp:
                    if sink is None:
                        body = await resp.read()
                        read = len(body)
                    else:
                        body, read = b"", 0
                        async for chunk in resp.content.iter_any():
                            read += len(chunk)
                            sink(chunk)
        except _CALL_ERRORS as exc:
            raise self._failure(endpoint, exc) from exc
        self.metrics.bytes.labels(endpoint).inc(read)
        return body

    def _loads(self, endpoint: str, body: bytes) -> Any:
        try:
            return json.loads(body)
        except ValueError as exc:
            self.metrics.errors.labels(endpoint).inc()
            raise BadAnswer(endpoint, f"answer is not JSON ({len(body)} bytes)") from exc

    async def _get_list(
        self,
        endpoint: str,
        path: str,
        params: Mapping[str, str] | None,
        reader: Reader[Any, T],
    ) -> list[T]:
        """GET a list answer and parse it (``exporter.decode``), a slice at a time."""
        body = await self._get(endpoint, path, params)
        items = split(body)
        if items is not None:
            try:
                return await self._sliced(reader.kind, items, reader.read)
            except NotJSON:
                pass  # json.loads decides, on the whole answer, as below
        return await self._list(reader.kind, self._loads(endpoint, body), reader.parse)

    async def info(self) -> SwarmInfo:
        return self._one("info", await self.get_json("info", "info"), parse_info)

    def require_manager(self, info: SwarmInfo) -> None:
        """Raise what ``info`` says is wrong for a cluster view: ``NotManager`` (a worker,
        no swarm) or ``NoLeader`` (quorum lost)."""
        if info.local_node_state != "active":
            raise NotManager(
                "info",
                f"the engine at {self.address} is not part of an active swarm "
                f"(state {info.local_node_state or 'unknown'})",
            )
        if not info.control_available:
            raise NotManager(
                "info",
                f"the engine at {self.address} is a swarm worker: point swarm-sentinel "
                "at a manager (--docker.host)",
            )
        if info.has_leader_error:
            raise NoLeader("info", info.error)

    async def nodes(self, *, role: str | None = None) -> list[Node]:
        """All nodes, or only those of ``role`` (``manager``: a cheap call at any scale)."""
        if role is None:
            return await self._get_list("nodes", "nodes", None, NODES)
        params = {"filters": json.dumps({"role": [role]})}
        return await self._get_list(f"nodes_{role}", "nodes", params, NODES)

    async def node(self, node_id: str) -> Node:
        return self._one("node", await self.get_json("node", f"nodes/{node_id}"), parse_node)

    async def services(self, *, parts: int = 1) -> list[Service]:
        """Every service with its task counts, asked for in ``parts`` calls.

        status=true adds Running/DesiredTasks per service in the same call
        (API 1.41): it is what tells the watcher whose tasks to fetch. A large
        swarm's answer is megabytes, and decoding it in one piece holds the
        event loop; ``parts`` > 1 splits it by the first character of the ID
        (the engine matches ID prefixes), into answers of about the same size.
        """
        if parts <= 1:
            return await self._get_list("services", "services", {"status": "true"}, SERVICES)
        out: list[Service] = []
        for prefixes in split_id_chars(parts):
            params = {"status": "true", "filters": json.dumps({"id": prefixes})}
            out += await self._get_list("services", "services", params, SERVICES)
        return out

    async def service(self, service_id: str) -> Service:
        raw = await self.get_json("service", f"services/{service_id}")
        return self._one("service", raw, parse_service)

    async def tasks(
        self, service_ids: list[str] | None = None, *, current_only: bool = False
    ) -> list[Task]:
        """The tasks of ``service_ids`` (None: of every service), their history
        included, or with ``current_only`` only those the orchestrator still stands
        behind (``CURRENT_DESIRED_STATES``): about a fifth of the bytes, as swarm keeps
        5 tasks per slot."""
        filters: dict[str, list[str]] = {}
        endpoint = "tasks"
        if service_ids is not None:
            filters["service"] = service_ids
            endpoint = "tasks_by_service"
        if current_only:
            filters["desired-state"] = list(CURRENT_DESIRED_STATES)
            endpoint = "current_tasks"
        params = {"filters": json.dumps(filters)} if filters else {}
        return await self._get_list(endpoint, "tasks", params, TASKS)

    async def tasks_by_id(self, task_ids: list[str]) -> list[Task]:
        """The tasks of ``task_ids`` that the engine still holds."""
        params = {"filters": json.dumps({"id": task_ids})}
        return await self._get_list("tasks_by_id", "tasks", params, TASKS)

    async def task_logs(self, task_id: str, *, tail: int = LOG_TAIL) -> list[str]:
        """The last ``tail`` lines of a task's output (stdout and stderr), each cut
        (``exporter.logtail``). The engine reads them through the task's log driver:
        json-file, local or journald; another one is refused (``EngineError``)."""
        params = {"stdout": "1", "stderr": "1", "tail": str(tail)}
        logs = LogTail(tail)
        await self._get("task_logs", f"tasks/{task_id}/logs", params, sink=logs.feed)
        return logs.lines()

    def events(
        self, since: float, on_connect: Callable[[], None] | None = None
    ) -> AsyncIterator[Event]:
        """Swarm-scope events (nodes, services) from ``since`` (epoch seconds) on, until
        the stream ends.

        ``on_connect`` is called once the engine has accepted the stream, before
        any event: from then on nothing is missed, so a relist can start. When the
        stream ends, however it ends, the next call negotiates the version again.
        """
        filters = {"scope": ["swarm"], "type": ["node", "service"]}
        return self._stream("events", "event", filters, since, on_connect, parse_event)

    def container_events(
        self, since: float, on_connect: Callable[[], None] | None = None
    ) -> AsyncIterator[ContainerEvent]:
        """This engine's own task containers' events (start, die, kill, oom,
        health_status) from ``since`` on, as ``events``. Any engine has them, a worker's
        too."""
        filters = {
            "type": ["container"],
            "event": ["start", "die", "kill", "oom", "health_status"],
            "label": [SWARM_TASK_LABEL],
        }
        return self._stream(
            "container_events", "container_event", filters, since, on_connect,
            parse_container_event,
        )  # fmt: skip

    async def _stream(
        self,
        endpoint: str,
        kind: str,
        filters: Mapping[str, list[str]],
        since: float,
        on_connect: Callable[[], None] | None,
        parse_one: Callable[[object], T],
    ) -> AsyncIterator[T]:
        docker = await self._client()
        self.metrics.requests.labels(endpoint).inc()
        params = {"since": f"{since:.9f}", "filters": json.dumps(filters)}
        try:
            async with docker._query(
                "events", "GET", params=params, timeout=aiohttp.ClientTimeout(total=None)
            ) as resp:
                if on_connect is not None:
                    on_connect()
                lines = Lines(MAX_EVENT_LINE)
                async for chunk in resp.content.iter_any():
                    self.metrics.bytes.labels(endpoint).inc(len(chunk))
                    for line in lines.feed(chunk):
                        try:
                            yield parse_one(json.loads(line))
                        except (ValueError, ParseError):
                            self.metrics.parse_errors.labels(kind).inc()
                    if lines.skipped:
                        self.metrics.parse_errors.labels(kind).inc(lines.skipped)
                        self._log_once(f"{kind}: a line over {MAX_EVENT_LINE} bytes, skipped")
                        lines.skipped = 0
        except _CALL_ERRORS as exc:
            raise self._failure(endpoint, exc) from exc
        finally:
            self.speaking = None

    async def _list(self, kind: str, raw: object, parse_one: Callable[[object], T]) -> list[T]:
        """A decoded list answer parsed, a slice at a time."""
        if not isinstance(raw, list):
            self.metrics.parse_errors.labels(kind).inc()
            raise BadAnswer(kind + "s", f"expected a list, got {type(raw).__name__}")
        return await self._sliced(kind, raw, lambda part: parse_list(part, parse_one, kind))

    async def _sliced(
        self,
        kind: str,
        items: Sequence[S],
        parse_part: Callable[[Sequence[S]], tuple[list[T], list[str]]],
    ) -> list[T]:
        """``parse_part`` over ``items``, ``PARSE_SLICE`` at a time; the objects it
        skipped counted and logged once, when all are parsed."""
        good: list[T] = []
        problems: list[str] = []
        # Parsing thousands of objects in one go holds the event loop long
        # enough for scrapes and events to wait behind it: parse a slice, then
        # let them in.
        for start in range(0, len(items), PARSE_SLICE):
            if start:
                await asyncio.sleep(0)
            part, bad = parse_part(items[start : start + PARSE_SLICE])
            good += part
            problems += bad
        if problems:
            self.metrics.parse_errors.labels(kind).inc(len(problems))
            for problem in problems:
                self._log_once(problem)
        return good

    def _log_once(self, problem: str) -> None:
        # Counted every time, logged once: the same bad object comes back each poll.
        if problem not in self._problems_logged and len(self._problems_logged) < 1000:
            self._problems_logged.add(problem)
            log.warning("api_object_skipped", problem=problem)

    def _one(self, kind: str, raw: object, parse_one: Callable[[object], T]) -> T:
        try:
            return parse_one(raw)
        except ParseError as exc:
            self.metrics.parse_errors.labels(kind).inc()
            raise BadAnswer(kind, str(exc)) from exc


_CALL_ERRORS = (
    aiodocker.DockerError,
    TimeoutError,
    aiohttp.ClientError,
    OSError,
    ValueError,
    KeyError,
)
"""What a call can raise: aiodocker decodes error bodies itself and raises
KeyError or ValueError on a garbled one."""

MAX_EVENT_LINE = 1 << 20
"""Bytes of one event line at most: swarm events are well under a kilobyte; a longer
line is skipped and counted, never a reason for the stream to end."""


class Lines:
    """The lines of a stream fed in chunks of any size, each at most ``limit`` bytes:
    a longer one is dropped (and counted in ``skipped``) as it comes, never held."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.skipped = 0
        self._buffer = bytearray()
        self._dropping = False

    def feed(self, chunk: bytes) -> list[bytes]:
        out: list[bytes] = []
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                self._keep(chunk[start:])
                return out
            self._keep(chunk[start:end])
            if not self._dropping and self._buffer.strip():
                out.append(bytes(self._buffer))
            self._buffer.clear()
            self._dropping = False
            start = end + 1

    def _keep(self, part: bytes) -> None:
        if self._dropping:
            return
        if len(self._buffer) + len(part) > self.limit:
            self._buffer.clear()
            self._dropping = True
            self.skipped += 1
            return
        self._buffer += part


ID_CHARS = "0123456789abcdefghijklmnopqrstuvwxyz"
"""What swarm object IDs are made of (swarmkit's identity.NewID: base 36)."""


def split_id_chars(parts: int) -> list[list[str]]:
    """``ID_CHARS`` in ``parts`` groups (at most one per character), as prefix filters."""
    parts = max(1, min(parts, len(ID_CHARS)))
    return [list(ID_CHARS[i::parts]) for i in range(parts)]


def _message(text: object) -> str:
    """The engine's error text: aiodocker decodes the JSON body only when its type is
    exactly ``application/json``; a proxy may add a charset."""
    text = str(text)
    if text.startswith("{"):
        try:
            body = json.loads(text)
        except ValueError:
            return text
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            return str(body["message"])
    return text
