"""The Engine API verbs swarm-sentinel uses, read and write, over the one client
(``exporter.client``: negotiation, errors, timeouts and counters live there).

List answers (nodes, services, tasks) are decoded by ``exporter.decode``
(msgspec, typed, only the fields read), a slice at a time; other answers and
event lines with ``json.loads``. The one write is the service update the
healer posts (``update_service``: its force, or its rollback): no other code of the
product writes.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, TypeVar

import structlog

from common.apiversion import ApiVersion
from common.container_events import CONTAINER_EVENTS, SWARM_TASK_LABEL
from exporter.client import EngineClient, EngineMetrics, Lines
from exporter.decode import (
    CONFIGS,
    NETWORKS,
    NODES,
    SECRETS,
    SERVICES,
    TASKS,
    NotJSON,
    Reader,
    split,
)
from exporter.errors import BadAnswer, NoLeader, NotManager
from exporter.logtail import LOG_TAIL, LogTail
from exporter.parse import (
    parse_container_event,
    parse_event,
    parse_info,
    parse_list,
    parse_node,
    parse_service,
    parse_task_container,
)
from exporter.shapes import ParseError
from exporter.types import (
    CURRENT_DESIRED_STATES,
    ContainerEvent,
    Event,
    Network,
    Node,
    ObjectMeta,
    Service,
    SwarmInfo,
    Task,
    TaskContainer,
)

T = TypeVar("T")
S = TypeVar("S")
log = structlog.get_logger("exporter.engine")

PARSE_PIECE = 25
"""Objects of a list answer parsed between two looks at the clock."""
PARSE_SECONDS = 0.003
"""Parsing time after which the event loop is let in (``Engine._sliced``)."""


class Engine:
    """The verbs against one engine; ``client`` carries every call."""

    def __init__(
        self,
        url: str | None,
        metrics: EngineMetrics,
        *,
        timeout: float = 10.0,
        api_version: ApiVersion | None = None,
    ) -> None:
        self.client = EngineClient(url, metrics, timeout=timeout, api_version=api_version)
        self.metrics = metrics
        self._problems_logged: set[str] = set()

    @property
    def address(self) -> str:
        return self.client.address

    @property
    def timeout(self) -> float:
        return self.client.timeout

    async def close(self) -> None:
        await self.client.close()

    async def _get_list(
        self,
        endpoint: str,
        path: str,
        params: Mapping[str, str] | None,
        reader: Reader[Any, T],
    ) -> list[T]:
        """GET a list answer and parse it (``exporter.decode``), a slice at a time."""
        body = await self.client.request(endpoint, "GET", path, params=params)
        items = split(body)
        if items is not None:
            try:
                return await self._sliced(reader.kind, items, reader.read)
            except NotJSON:
                pass  # json.loads decides, on the whole answer, as below
        return await self._list(reader.kind, self.client._loads(endpoint, body), reader.parse)

    async def info(self) -> SwarmInfo:
        return self._one("info", await self.client.get_json("info", "info"), parse_info)

    def require_manager(self, info: SwarmInfo) -> None:
        """Raise what ``info`` says is wrong for a cluster view: ``NotManager`` (a worker,
        no swarm) or ``NoLeader`` (quorum lost)."""
        if info.local_node_state == "locked":
            raise NotManager(
                "info",
                f"the engine at {self.address} is locked (autolock after a restart): "
                "unlock it with `docker swarm unlock`",
            )
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
        return self._one("node", await self.client.get_json("node", f"nodes/{node_id}"), parse_node)

    async def services(
        self, *, parts: int = 1, filters: Mapping[str, list[str]] | None = None
    ) -> list[Service]:
        """Every service with its task counts, asked for in ``parts`` calls; or only
        those the engine's ``filters`` select (``label``: ``key=value``; ``name``: a
        name's prefix, as the engine matches it).

        status=true adds Running/DesiredTasks per service in the same call
        (API 1.41): it is what tells the watcher whose tasks to fetch. A large
        swarm's answer is megabytes, and decoding it in one piece holds the
        event loop; ``parts`` > 1 splits it by the first character of the ID
        (the engine matches ID prefixes), into answers of about the same size.
        """
        if parts <= 1:
            params = {"status": "true"}
            if filters:
                params["filters"] = json.dumps(dict(filters))
            return await self._get_list("services", "services", params, SERVICES)
        out: list[Service] = []
        for prefixes in split_id_chars(parts):
            params = {"status": "true", "filters": json.dumps({**(filters or {}), "id": prefixes})}
            out += await self._get_list("services", "services", params, SERVICES)
        return out

    async def service_spec(self, service_id: str) -> tuple[int, dict[str, Any]]:
        """A service's version and whole spec, as the engine gives them (for an update
        that must send back every field, known to us or not)."""
        raw = await self.client.get_json("service", f"services/{service_id}")
        return _version_and_spec(raw)

    async def service_with_spec(self, service_id: str) -> tuple[Service, dict[str, Any]]:
        """A service, parsed (its version, its update's state), and its whole spec as the
        engine gives it, from one answer: for a write that depends on the service's
        state and sends its spec back."""
        raw = await self.client.get_json("service", f"services/{service_id}")
        _, spec = _version_and_spec(raw)
        return self._one("service", raw, parse_service), spec

    async def update_service(
        self, service_id: str, version: int, spec: Mapping[str, Any], *, rollback: bool = False
    ) -> None:
        """Post ``spec`` whole as the service's new spec, read at ``version`` (the engine
        turns it away, ``Conflict``, when the service was written since), at the
        negotiated version: posted at an older one, the engine would drop the spec
        fields added since. The only write call of swarm-sentinel (the healer's).

        With ``rollback``, ``docker service rollback``: the engine puts the service's
        previous spec back (``rollback=previous``) and keeps nothing of ``spec`` (the
        current one, sent as the CLI sends it), a label of it neither; ``version`` is
        checked all the same."""
        params = {"version": str(version)}
        if rollback:
            params["rollback"] = "previous"
        await self.client.request(
            "service_rollback" if rollback else "service_update",
            "POST",
            f"services/{service_id}/update",
            params=params,
            body=spec,
        )

    async def service(self, service_id: str) -> Service:
        raw = await self.client.get_json("service", f"services/{service_id}")
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

    async def networks(self) -> list[Network]:
        """The swarm-scoped networks (overlays, ingress) with their subnets."""
        params = {"filters": json.dumps({"scope": ["swarm"]})}
        return await self._get_list("networks", "networks", params, NETWORKS)

    async def secrets(self) -> list[ObjectMeta]:
        """Every secret's name and times: the engine never gives a secret's data."""
        return await self._get_list("secrets", "secrets", None, SECRETS)

    async def configs(self) -> list[ObjectMeta]:
        """Every config's name and times. The answer carries each config's data too (the
        engine has no way to leave it out): it is never decoded, nor kept."""
        return await self._get_list("configs", "configs", None, CONFIGS)

    async def task_logs(self, task_id: str, *, tail: int = LOG_TAIL) -> list[str]:
        """The last ``tail`` lines of a task's output (stdout and stderr), each cut
        (``exporter.logtail``). The engine reads them through the task's log driver:
        json-file, local or journald; another one is refused (``EngineError``)."""
        params = {"stdout": "1", "stderr": "1", "tail": str(tail)}
        logs = LogTail(tail)
        await self.client.request(
            "task_logs", "GET", f"tasks/{task_id}/logs", params=params, sink=logs.feed
        )
        return logs.lines()

    async def task_containers(self) -> list[TaskContainer]:
        """This engine's own task containers, running or not: a worker's too."""
        params = {"all": "1", "filters": json.dumps({"label": [SWARM_TASK_LABEL]})}
        raw = await self.client.get_json("containers", "containers/json", params)
        return await self._list("container", raw, parse_task_container)

    def events(
        self, since: float, on_connect: Callable[[], None] | None = None
    ) -> AsyncIterator[Event]:
        """Swarm-scope events (nodes, services, networks, secrets, configs) from ``since``
        (epoch seconds) on, until the stream ends.

        ``on_connect`` is called once the engine has accepted the stream, before
        any event: from then on nothing is missed, so a relist can start. When the
        stream ends, however it ends, the next call negotiates the version again.
        """
        filters = {"scope": ["swarm"], "type": list(SWARM_EVENT_TYPES)}
        return self._stream("events", "event", filters, since, on_connect, parse_event)

    def container_events(
        self, since: float, on_connect: Callable[[], None] | None = None
    ) -> AsyncIterator[ContainerEvent]:
        """This engine's own task containers' events (create, start, die, kill, oom,
        health_status, destroy) from ``since`` on, as ``events``. Any engine has them, a
        worker's too."""
        return self._stream(
            "container_events", "container_event", CONTAINER_EVENTS, since, on_connect,
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
        params = {"since": f"{since:.9f}", "filters": json.dumps(filters)}
        lines = Lines(MAX_EVENT_LINE)
        async for chunk in self.client.stream(endpoint, "events", params, on_connect):
            for line in lines.feed(chunk):
                try:
                    yield parse_one(json.loads(line))
                except (ValueError, RecursionError, ParseError):
                    self.metrics.parse_errors.labels(kind).inc()
            if lines.skipped:
                self.metrics.parse_errors.labels(kind).inc(lines.skipped)
                self._log_once(f"{kind}: a line over {MAX_EVENT_LINE} bytes, skipped")
                lines.skipped = 0

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
        """``parse_part`` over ``items``, ``PARSE_PIECE`` at a time, yielding to the loop
        each time ``PARSE_SECONDS`` went by; the objects it skipped counted and logged
        once, when all are parsed."""
        good: list[T] = []
        problems: list[str] = []
        # Parsing thousands of objects in one go holds the event loop long enough for
        # events to wait behind it. A fixed count between yields did not bound it
        # either: what an object costs varies with its kind and the machine's load.
        resumed = time.perf_counter()
        for start in range(0, len(items), PARSE_PIECE):
            if time.perf_counter() - resumed >= PARSE_SECONDS:
                await asyncio.sleep(0)
                resumed = time.perf_counter()
            part, bad = parse_part(items[start : start + PARSE_PIECE])
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


def _version_and_spec(raw: Any) -> tuple[int, dict[str, Any]]:
    """``Version.Index`` and ``Spec`` of a service's answer; ``BadAnswer`` without them."""
    try:
        version = raw["Version"]["Index"]
        spec = raw["Spec"]
    except (KeyError, TypeError) as exc:
        raise BadAnswer("service", f"no Version.Index or Spec in the answer ({exc})") from exc
    if not isinstance(version, int) or isinstance(version, bool) or not isinstance(spec, dict):
        raise BadAnswer("service", "Version.Index or Spec of an unexpected type")
    return version, spec


SWARM_EVENT_TYPES = ("node", "service", "network", "secret", "config")
"""The swarm-scope events followed: each names one object to read again (a network, a
secret or a config: their lists, small and rarely changed)."""

MAX_EVENT_LINE = 1 << 20
"""Bytes of one event line at most: swarm events are well under a kilobyte; a longer
line is skipped and counted, never a reason for the stream to end."""

ID_CHARS = "0123456789abcdefghijklmnopqrstuvwxyz"
"""What swarm object IDs are made of (swarmkit's identity.NewID: base 36)."""


def split_id_chars(parts: int) -> list[list[str]]:
    """``ID_CHARS`` in ``parts`` groups (at most one per character), as prefix filters."""
    parts = max(1, min(parts, len(ID_CHARS)))
    return [list(ID_CHARS[i::parts]) for i in range(parts)]
