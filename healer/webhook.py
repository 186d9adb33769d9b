"""The healer's webhook: one JSON document POSTed per decision the healer reports.

Exactly the decisions of the ``healer_decision`` log event and of
``dockerswarm_healer_actions_total``: forced, rolled_back, dry_run, error and conflict each time,
gave_up and the skips (cooldown, rate limit, no quorum, no eligible node) once when
they start. The healer only puts a decision in a bounded queue, and never waits:
when the queue is full the decision is dropped and counted. A task of its own sends
the queue one document after another, each POST bounded by a timeout, and tries
again with a doubling wait after a refused connection, a timeout or a 5xx, 408 or
429 answer; any other answer is final. What it gives up on is counted and logged.

The URL may hold secrets (user:password@, a token in its path or query): log lines
and errors show only its scheme, host and port.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import aiohttp
import structlog

from common.durations import format_duration
from common.text import iso_utc, one_line
from common.version import VERSION
from exporter.metrics.text import TextStore
from healer.metrics import render_webhook
from healer.settings import WebhookSettings, shown_url

log = structlog.get_logger("healer")


@dataclass(frozen=True, slots=True)
class Failure:
    """The service's newest failed task, as ``explain`` shows it."""

    task_id: str
    at: float
    node: str
    """Its node's hostname (its ID when no longer known)."""
    exit_code: int | None
    reason: str
    error: str


LogReader = Callable[[str], Awaitable[tuple[tuple[str, ...], str]]]
"""A task's last lines of output by its ID, or why there are none: (lines, problem)."""


@dataclass(frozen=True, slots=True)
class Reported:
    """One decision as the healer reported it: what the webhook sends."""

    time: float
    service_id: str
    service_name: str
    stack: str
    reason: str
    result: str
    action: str
    """The write the decision is about: force, rollback; none for a skip."""
    attempts: int
    next_allowed: float
    running: int
    desired: int
    error: str
    """The service's last task error, as the ``healer_decision`` log event says it."""
    force_error: str
    """Why the write failed (error, conflict): the engine's or the client's words."""
    dry_run: bool
    node_id: str
    """The node of the engine this instance reads (and writes to)."""
    hostname: str
    failure: Failure | None = None


def document(
    r: Reported, engine: str, logs: tuple[tuple[str, ...], str] | None = None
) -> dict[str, Any]:
    """The JSON document of ``r``; ``engine``: this instance's Engine API address;
    ``logs``: the failed task's last lines, or why there are none (``--explain.logs``;
    without it the document has no ``logs``)."""
    doc: dict[str, Any] = {
        "event": "healer_decision",
        "time": iso_utc(r.time),
        "service_name": r.service_name,
        "service_id": r.service_id,
        "stack": r.stack,
        "reason": r.reason,
        "result": r.result,
        "action": r.action,
        "dry_run": r.dry_run,
        "attempts": r.attempts,
        "next_allowed": iso_utc(r.next_allowed) or None,
        "running": r.running,
        "desired": r.desired,
        "error": r.error,
        "force_error": r.force_error,
        "failure": None
        if r.failure is None
        else {
            "task_id": r.failure.task_id,
            "at": iso_utc(r.failure.at) or None,
            "node": r.failure.node or None,
            "exit_code": r.failure.exit_code,
            "reason": r.failure.reason,
            "error": r.failure.error,
        },
        "instance": {
            "engine": engine,
            "node_id": r.node_id,
            "hostname": r.hostname,
            "version": VERSION,
        },
    }
    if logs is not None:
        doc["logs"] = {"lines": list(logs[0]), "problem": logs[1] or None}
    return doc


class Webhook:
    """The queue the healer reports into, and the task that sends it (``run``)."""

    def __init__(
        self,
        settings: WebhookSettings,
        *,
        engine: str = "",
        store: TextStore | None = None,
        logs: LogReader | None = None,
    ) -> None:
        """``logs``: reads a failed task's last lines for the document (``--explain.logs``);
        None: documents carry none."""
        self.settings = settings
        self.logs = logs
        self.engine = engine
        self.store = store
        self.shown = shown_url(settings.url)
        self.queue: asyncio.Queue[Reported] = asyncio.Queue(settings.queue_size)
        self.sent = self.failures = self.dropped = 0
        self._dropping = False
        self._secrets = _secrets(settings.url)
        self._render()

    def submit(self, r: Reported) -> None:
        """Queue ``r`` for sending, or drop it (counted) when the queue is full. Never waits."""
        try:
            self.queue.put_nowait(r)
        except asyncio.QueueFull:
            self.dropped += 1
            self._render()
            if not self._dropping:  # once per stretch of drops, not once per decision
                log.warning(
                    "healer_webhook_dropping",
                    url=self.shown,
                    queued=self.queue.qsize(),
                    service=r.service_name,
                    result=r.result,
                )
            self._dropping = True
            return
        self._dropping = False

    async def run(self) -> None:
        """Send the queue, one document after another, for good."""
        s = self.settings
        log.info(
            "healer_webhook_started",
            url=self.shown,
            timeout=format_duration(s.timeout),
            attempts=s.attempts,
        )
        async with aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=s.timeout),
            headers={"User-Agent": f"swarm-sentinel/{VERSION}"},
        ) as session:
            while True:
                r = await self.queue.get()
                try:
                    await self._deliver(session, r)
                finally:
                    self.queue.task_done()

    async def _deliver(self, session: aiohttp.ClientSession, r: Reported) -> None:
        logs = None
        if self.logs is not None:
            logs = await self.logs(r.failure.task_id) if r.failure else ((), "no failed task")
        body = json.dumps(document(r, self.engine, logs)).encode()
        attempt, problem = 0, ""
        for attempt in range(1, self.settings.attempts + 1):
            # A receiver may echo what it was sent: with a task's output in it, its
            # answer is not repeated in our log.
            failed, again = await self._post(session, body, echo=logs is None)
            if failed is None:
                self.sent += 1
                self._render()
                return
            problem = failed
            if not again or attempt == self.settings.attempts:
                break
            wait = self.settings.backoff * 2 ** (attempt - 1)
            log.debug("healer_webhook_retry", url=self.shown, error=problem, wait=wait)
            await asyncio.sleep(wait)
        self.failures += 1
        self._render()
        log.warning(
            "healer_webhook_failed",
            url=self.shown,
            service=r.service_name,
            result=r.result,
            attempts=attempt,
            error=problem,
        )

    async def _post(
        self, session: aiohttp.ClientSession, body: bytes, *, echo: bool = True
    ) -> tuple[str | None, bool]:
        """One POST: (None, _) when answered 2xx, else (why, whether to try again); the
        answer's first words in the why only with ``echo``."""
        try:
            async with (
                asyncio.timeout(self.settings.timeout),
                session.post(
                    self.settings.url,
                    data=body,
                    headers={"Content-Type": "application/json"},
                    allow_redirects=False,  # a redirected POST would become a GET
                ) as resp,
            ):
                if 200 <= resp.status < 300:
                    return None, False
                said = ""
                if echo:
                    said = one_line((await resp.content.read(200)).decode("utf-8", "replace"), 200)
                again = resp.status >= 500 or resp.status in (408, 429)
                return self._scrub(f"HTTP {resp.status} {said}".strip()), again
        except TimeoutError:
            return f"no answer within {format_duration(self.settings.timeout)}", True
        except (aiohttp.ClientError, OSError) as exc:
            return self._scrub(one_line(f"{type(exc).__name__}: {exc}")), True

    def _scrub(self, text: str) -> str:
        """``text`` without any part of the URL that may be a secret."""
        for secret in self._secrets:
            text = text.replace(secret, "…")
        return text

    def _render(self) -> None:
        if self.store is not None:
            self.store.put("webhook", render_webhook(self.sent, self.failures, self.dropped))


def _secrets(url: str) -> list[str]:
    """The parts of ``url`` an error text must not repeat, longest first, as written
    and unquoted (the client may show either)."""
    if not url:
        return []
    found = [url]
    try:
        parts = urlsplit(url)
        found += [parts.netloc.rpartition("@")[0], parts.password or "", parts.query]
        if parts.username is not None or parts.password is not None:
            # What goes out as the Authorization header (base64 of user:password, as
            # written and unquoted): a receiver may echo it in an error body.
            for user, password in (
                (parts.username or "", parts.password or ""),
                (unquote(parts.username or ""), unquote(parts.password or "")),
            ):
                found.append(base64.b64encode(f"{user}:{password}".encode()).decode())
        found += [value for _, value in parse_qsl(parts.query)]
        if parts.path.strip("/"):
            # The path, and its parts long enough to be a token (/services/T0/B1/<token>).
            found += [parts.path, *(seg for seg in parts.path.split("/") if len(seg) >= 8)]
    except ValueError:
        pass
    found += [unquote(f) for f in found]
    return sorted({f for f in found if f}, key=len, reverse=True)
