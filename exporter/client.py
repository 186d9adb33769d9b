"""The one way swarm-sentinel talks to an engine: every verb, read or write, and every
stream, through ``EngineClient.request`` and ``EngineClient.stream``.

Here and only here:

- the address (the operator's, else DOCKER_HOST, else the local socket) and its
  connection, TLS included, set up by aiodocker's public constructor; requests go
  through the aiohttp session it exposes (``Docker.session``), at its base URL
  (``Docker.docker_host``): nothing private of either library is used;
- the API version, negotiated as the docker CLI does it (``common.apiversion``):
  one ``GET /_ping`` before the first call, and again after a failed connection, an
  ended stream or a refused version (the engine may have been upgraded meanwhile);
- the timeout of every call that is not a stream;
- what failed, as one of the ``exporter.errors`` classes with one line of text;
- the count of requests, errors and bytes per endpoint.

The verbs themselves (nodes, services, tasks, logs, the service update) are in
``exporter.engine``.
"""

from __future__ import annotations

import asyncio
import json
import platform
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiodocker
import aiohttp
import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge

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
from common.version import REVISION, VERSION
from exporter.errors import (
    BadAnswer,
    EngineError,
    Timeout,
    Unreachable,
    VersionRefused,
)

log = structlog.get_logger("exporter.engine")

ERROR_BODY_MAX = 64 * 1024
"""Bytes of an error answer read at most: its message is one line."""


class EngineMetrics:
    """The counters of the load the exporter puts on its engine, and of what failed."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "dockerswarm_exporter_api_requests",
            "Docker Engine API requests made by the exporter, by endpoint.",
            ["endpoint"],
            registry=registry,
        )
        self.errors = Counter(
            "dockerswarm_exporter_api_errors",
            "Docker Engine API requests that failed (transport, HTTP status or bad JSON).",
            ["endpoint"],
            registry=registry,
        )
        self.bytes = Counter(
            "dockerswarm_exporter_api_response_bytes",
            "Bytes of Docker Engine API answers read by the exporter, by endpoint.",
            ["endpoint"],
            registry=registry,
        )
        self.parse_errors = Counter(
            "dockerswarm_exporter_parse_errors",
            "API objects that could not be understood and were left out, by kind.",
            ["object"],
            registry=registry,
        )
        self.api_version = Gauge(
            "dockerswarm_exporter_api_version_info",
            "Engine API version the exporter speaks (api_version) and the newest the engine "
            "offers (engine_api_version, from GET /_ping); always 1, absent before the first "
            "negotiation.",
            ["api_version", "engine_api_version"],
            registry=registry,
        )
        self.build_info = Gauge(
            "dockerswarm_build_info",
            "Always 1: the swarm-sentinel build (version, git revision, Python version) and "
            "the Engine API version it speaks (api_version, empty before the first "
            "negotiation).",
            ["version", "revision", "python_version", "api_version"],
            registry=registry,
        )
        self.speaking("")

    def speaking(self, api_version: str) -> None:
        """The Engine API version negotiated: in ``dockerswarm_build_info``."""
        self.build_info.clear()
        self.build_info.labels(VERSION, REVISION, platform.python_version(), api_version).set(1)


class EngineClient:
    """One engine, at one address. ``timeout`` bounds every call but streams."""

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

    @property
    def address(self) -> str:
        """The engine's address as the operator gave it, for logs."""
        return engine_host(self._url)

    def _connection(self) -> aiodocker.Docker:
        if self._docker is None:
            try:
                # Given a version, aiodocker asks the engine nothing: ours is negotiated
                # below, and only its session and base URL are used.
                self._docker = aiodocker.Docker(url=self.address, api_version=f"v{OLDEST}")
            except (ValueError, OSError, aiodocker.DockerError) as exc:
                raise Unreachable("connect", f"cannot set up the client: {exc}") from exc
        return self._docker

    async def close(self) -> None:
        if self._docker is not None:
            await self._docker.close()
            self._docker = None

    # ---- the version -------------------------------------------------------

    async def version(self) -> ApiVersion:
        """The version to speak (negotiating first when needed)."""
        if self.speaking is None:
            async with self._negotiating:
                if self.speaking is None:
                    self.speaking = await self._negotiate()
        return self.speaking

    async def _negotiate(self) -> ApiVersion:
        """Ask ``GET /_ping`` for the engine's ``API-Version``; choose ours from it."""
        async with self._call("ping", "GET", "_ping", versioned=False) as resp:
            offered = resp.headers.get("API-Version")
        if offered is None and self.pinned is None:
            # A proxy may strip the header; /version says it in its body.
            async with self._call("version", "GET", "version", versioned=False) as resp:
                answer = self._loads("version", await resp.read())
            raw = answer.get("ApiVersion") if isinstance(answer, dict) else None
            offered = raw if isinstance(raw, str) else None
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

    # ---- calls ---------------------------------------------------------------

    async def request(
        self,
        endpoint: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        sink: Callable[[bytes], None] | None = None,
    ) -> bytes:
        """One call at the negotiated version, bounded by ``timeout``: the answer's
        body; or, to ``sink``, chunk by chunk as it comes (nothing kept: b"").
        ``endpoint`` names it in the counters and errors; ``body`` goes as JSON."""
        async with self._call(endpoint, method, path, params=params, body=body) as resp:
            if sink is None:
                data = await resp.read()
                read = len(data)
            else:
                data, read = b"", 0
                async for chunk in resp.content.iter_any():
                    read += len(chunk)
                    sink(chunk)
        self.metrics.bytes.labels(endpoint).inc(read)
        return data

    async def get_json(
        self, endpoint: str, path: str, params: Mapping[str, str] | None = None
    ) -> Any:
        """GET ``path`` and decode it."""
        return self._loads(endpoint, await self.request(endpoint, "GET", path, params=params))

    def stream(
        self,
        endpoint: str,
        path: str,
        params: Mapping[str, str],
        on_connect: Callable[[], None] | None = None,
    ) -> AsyncIterator[bytes]:
        """GET ``path`` as a stream of chunks, without a timeout, until it ends.
        ``on_connect`` is called once the engine has accepted it. However it ends, the
        next call negotiates the version again: the engine may have been upgraded."""
        return self._stream(endpoint, path, params, on_connect)

    async def _stream(
        self,
        endpoint: str,
        path: str,
        params: Mapping[str, str],
        on_connect: Callable[[], None] | None,
    ) -> AsyncIterator[bytes]:
        try:
            async with self._call(endpoint, "GET", path, params=params, stream=True) as resp:
                if on_connect is not None:
                    on_connect()
                async for chunk in resp.content.iter_any():
                    self.metrics.bytes.labels(endpoint).inc(len(chunk))
                    yield chunk
        finally:
            self.speaking = None

    @asynccontextmanager
    async def _call(
        self,
        endpoint: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        versioned: bool = True,
        stream: bool = False,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """The answer to one call, once it is known to be no error: an error answer,
        a lost connection or a timeout raises its ``EngineError`` (counted)."""
        docker = self._connection()
        prefix = f"v{await self.version()}/" if versioned else ""
        url = f"{docker.docker_host}/{prefix}{path}"
        self.metrics.requests.labels(endpoint).inc()
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else None
        timeout = aiohttp.ClientTimeout(total=None) if stream else None
        try:
            async with (
                _bounded(None if stream else self.timeout),
                docker.session.request(
                    method, url, params=params, data=data, headers=headers, timeout=timeout
                ) as resp,
            ):
                if resp.status >= 400:
                    said = await resp.content.read(ERROR_BODY_MAX)
                    raise self._answered(endpoint, resp.status, said)
                yield resp
        except EngineError:
            raise
        except TimeoutError as exc:
            self.speaking = None
            self.metrics.errors.labels(endpoint).inc()
            raise Timeout(endpoint, f"no answer within {self.timeout:g}s") from exc
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            # Refused, reset, cut mid-answer: the engine behind the address may not be
            # the same when it answers again.
            self.speaking = None
            self.metrics.errors.labels(endpoint).inc()
            raise Unreachable(endpoint, one_line(f"{type(exc).__name__}: {exc}")) from exc

    def _answered(self, endpoint: str, status: int, body: bytes) -> EngineError:
        """An error answer as its class; a refused version renegotiates next time."""
        self.metrics.errors.labels(endpoint).inc()
        message = one_line(error_message(body, status))
        if status == 400 and is_refusal(message):
            used = self.speaking or self.pinned or OLDEST
            self.speaking = None
            return VersionRefused(
                endpoint, refusal_message(message, used, self.pinned is not None), status
            )
        return EngineError.from_answer(endpoint, message, status)

    def _loads(self, endpoint: str, body: bytes) -> Any:
        try:
            return json.loads(body)
        except (ValueError, RecursionError) as exc:
            self.metrics.errors.labels(endpoint).inc()
            raise BadAnswer(endpoint, f"answer is not JSON ({len(body)} bytes)") from exc


@asynccontextmanager
async def _bounded(seconds: float | None) -> AsyncIterator[None]:
    if seconds is None:
        yield
        return
    async with asyncio.timeout(seconds):
        yield


def error_message(body: bytes, status: int) -> str:
    """The engine's words in an error answer: the ``message`` of its JSON body, else
    the body's text (a proxy's page, a garbled answer), else the HTTP status alone."""
    text = body.decode("utf-8", "replace").strip()
    if text.startswith("{"):
        try:
            decoded = json.loads(text)
        except (ValueError, RecursionError):
            decoded = None
        if isinstance(decoded, dict):
            message = decoded.get("message")
            if isinstance(message, str) and message.strip():
                return message
            return f"HTTP {status} without a message"
    return text or f"HTTP {status}"


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
