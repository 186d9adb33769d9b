"""Basic auth in front of every route: bcrypt hashes from ``basic_auth_users``."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Final

import bcrypt
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from exporter.web.config import WebConfig

REALM: Final = "swarm-sentinel"


_WWW_AUTHENTICATE: Final = f'Basic realm="{REALM}"'


# bcrypt only ever looks at the first 72 bytes. pyca/bcrypt >= 5 raises instead of
# truncating; Go and htpasswd truncate, so we do too to accept the same passwords.
_BCRYPT_MAX_PASSWORD: Final = 72


# Bound on remembered successful logins; a handful of scrapers is the normal case.
_CACHE_SIZE: Final = 256


class Checks:
    """Bounded bcrypt work, whoever asks: a flood of wrong passwords must neither burn
    more than ``workers`` cores nor make a real user wait behind it.

    - At most ``workers`` checks run at once (in threads: bcrypt releases the GIL),
      and at most ``waiting`` more wait for one; beyond that a request is turned
      away at once (429) instead of queueing.
    - One check at a time per client address: a client's second unverified request
      while its first is being checked is turned away too.
    - A client whose check failed waits before its next one is even tried: 1 s,
      doubling with each further failure up to 30 s, reset by a success.

    A turned-away scraper misses one scrape; a valid login otherwise takes one
    bcrypt check however many clients guess (exporter-toolkit instead runs every
    check at once, and there each costs the more the more guesses run beside it).
    """

    def __init__(
        self, workers: int = 2, waiting: int = 6, first_wait: float = 1.0, max_wait: float = 30.0
    ) -> None:
        self.first_wait, self.max_wait = first_wait, max_wait
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="bcrypt")
        self._room = asyncio.Semaphore(workers + waiting)
        self._checking: set[str] = set()
        self._penalty: dict[str, tuple[float, float]] = {}  # client -> (until, last wait)

    async def check(self, client: str, password: bytes, hashed: bytes) -> bool | None:
        """The result of the check, or None when the work was refused (busy, or the
        client is waiting out a failure)."""
        now = time.monotonic()
        until, _ = self._penalty.get(client, (0.0, 0.0))
        if client in self._checking or now < until or self._room.locked():
            return None
        self._checking.add(client)
        try:
            async with self._room:
                loop = asyncio.get_running_loop()
                ok = await loop.run_in_executor(self._pool, _checkpw, password, hashed)
        finally:
            self._checking.discard(client)
        if ok:
            self._penalty.pop(client, None)
        else:
            _, last = self._penalty.get(client, (0.0, 0.0))
            wait = min(max(last * 2, self.first_wait), self.max_wait)
            if len(self._penalty) >= _PENALTY_CLIENTS:
                self._penalty.pop(next(iter(self._penalty)))
            self._penalty[client] = (time.monotonic() + wait, wait)
        return ok


# Bound on clients remembered as waiting out a failure (the oldest is forgotten).
_PENALTY_CLIENTS: Final = 4096


def basic_auth_middleware(
    config: WebConfig, *, exempt: frozenset[str] = frozenset(), checks: Checks | None = None
) -> Middleware:
    """aiohttp middleware enforcing ``config.users`` and adding ``config.headers``, those
    of ``config.latest()`` when the file is followed (then the remembered logins are
    forgotten whenever the users change).

    With no users configured every request passes. Otherwise a request whose path is not
    in ``exempt`` needs valid Basic credentials, else 401 with ``WWW-Authenticate``.
    Configured headers go on every response, 401s included, unless the handler set them.

    A bcrypt check costs tens of milliseconds by design: it runs in a worker thread,
    bounded by ``Checks`` (a request it turns away gets 429 with Retry-After), and a
    success is remembered so that a scraper presenting the same credentials every 15 s
    pays for it once.
    """
    applied = config
    users = tuple((name.encode("utf-8"), hashed) for name, hashed in config.users.items())
    headers = dict(config.headers)
    # Unknown users are checked against a real hash too, so the answer takes as long as
    # for a known user with a wrong password: no user enumeration by timing.
    decoy = users[0][1] if users else b""
    # Cache keys are keyed MACs, not the credentials: a memory dump does not hand out
    # passwords, nor hashes fast enough to brute-force offline.
    cache_key = os.urandom(32)
    cache: dict[bytes, None] = {}  # insertion-ordered: oldest first, evicted first
    checks = checks or Checks()

    def follow() -> None:
        """Apply the file's latest config, if it changed."""
        nonlocal applied, users, headers, decoy
        latest = config.latest()
        if latest is applied:
            return
        if latest.users != applied.users:
            users = tuple((name.encode("utf-8"), h) for name, h in latest.users.items())
            decoy = users[0][1] if users else b""
            cache.clear()  # a removed user or a changed password must not stay in
        applied = latest
        headers = dict(latest.headers)

    def add_headers(resp: web.StreamResponse) -> None:
        if resp.prepared:  # streamed responses have sent their headers already
            return
        for name, value in headers.items():
            resp.headers.setdefault(name, value)

    async def authorized(request: web.Request) -> bool | None:
        """True, False (401), or None: not checked now (429)."""
        creds = _basic_credentials(request.headers.get("Authorization", ""))
        if creds is None:
            return False
        user, password = creds
        hashed: bytes | None = None
        for name, candidate in users:
            # Visit every entry and compare in constant time: neither the position of a
            # user nor the length of a common prefix shows in the response time.
            if hmac.compare_digest(name, user):
                hashed = candidate
        mac = hmac.new(cache_key, _frame(user) + password, hashlib.sha256).digest()
        if hashed is not None and mac in cache:
            return True
        client = request.remote or ""
        checked_for = users
        ok = await checks.check(client, password, hashed if hashed is not None else decoy)
        if ok is None:
            return None
        if not (ok and hashed is not None):
            return False  # failures are not cached: each guess keeps its bcrypt cost
        if users is not checked_for:  # the users changed meanwhile: not remembered
            return True
        if len(cache) >= _CACHE_SIZE:
            del cache[next(iter(cache))]
        cache[mac] = None
        return True

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        follow()
        if users and request.path not in exempt:
            allowed = await authorized(request)
            if allowed is None:
                resp = web.Response(
                    status=429, text="Too many login attempts\n", headers={"Retry-After": "1"}
                )
            elif not allowed:
                resp = web.Response(
                    status=401,
                    text="Unauthorized\n",
                    headers={"WWW-Authenticate": _WWW_AUTHENTICATE},
                )
            if not allowed:
                add_headers(resp)
                return resp
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # 404/405 etc. are responses too
            add_headers(exc)
            raise
        add_headers(response)
        return response

    return middleware


def _frame(user: bytes) -> bytes:
    # Length prefix so ("ab", "c") and ("a", "bc") never share a cache key.
    return len(user).to_bytes(4, "big") + user


def _basic_credentials(header: str) -> tuple[bytes, bytes] | None:
    """(user, password) as raw bytes, like Go's ``Request.BasicAuth``; None if absent/bad."""
    scheme, _, payload = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(payload.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, sep, password = decoded.partition(b":")
    if not sep:
        return None
    return user, password


def _checkpw(password: bytes, hashed: bytes) -> bool:
    try:
        return bcrypt.checkpw(password[:_BCRYPT_MAX_PASSWORD], hashed)
    except ValueError:  # hashes are validated at load; never let a bad one turn into a 500
        return False
