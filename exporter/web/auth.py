"""Basic auth in front of every route: bcrypt hashes from ``basic_auth_users``."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import os
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


def basic_auth_middleware(config: WebConfig, *, exempt: frozenset[str] = frozenset()) -> Middleware:
    """aiohttp middleware enforcing ``config.users`` and adding ``config.headers``.

    With no users configured every request passes. Otherwise a request whose path is not
    in ``exempt`` needs valid Basic credentials, else 401 with ``WWW-Authenticate``.
    Configured headers go on every response, 401s included, unless the handler set them.

    A bcrypt check costs tens of milliseconds by design; it runs in a worker thread (so
    the event loop keeps serving), one at a time (so a flood of bad passwords costs at
    most one core, as in Go), and a success is remembered so that a scraper presenting
    the same credentials every 15 s pays for it once.
    """
    users = tuple((name.encode("utf-8"), hashed) for name, hashed in config.users.items())
    headers = dict(config.headers)
    # Unknown users are checked against a real hash too, so the answer takes as long as
    # for a known user with a wrong password: no user enumeration by timing.
    decoy = users[0][1] if users else b""
    # Cache keys are keyed MACs, not the credentials: a memory dump does not hand out
    # passwords, nor hashes fast enough to brute-force offline.
    cache_key = os.urandom(32)
    cache: dict[bytes, None] = {}  # insertion-ordered: oldest first, evicted first
    bcrypt_lock = asyncio.Lock()

    def add_headers(resp: web.StreamResponse) -> None:
        if resp.prepared:  # streamed responses have sent their headers already
            return
        for name, value in headers.items():
            resp.headers.setdefault(name, value)

    async def authorized(request: web.Request) -> bool:
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
        async with bcrypt_lock:
            # Another request may have checked the same credentials while we waited.
            if hashed is not None and mac in cache:
                return True
            ok = await asyncio.get_running_loop().run_in_executor(
                None, _checkpw, password, hashed if hashed is not None else decoy
            )
        if not (ok and hashed is not None):
            return False  # failures are not cached: each guess keeps its bcrypt cost
        if len(cache) >= _CACHE_SIZE:
            del cache[next(iter(cache))]
        cache[mac] = None
        return True

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if users and request.path not in exempt and not await authorized(request):
            resp = web.Response(
                status=401, text="Unauthorized\n", headers={"WWW-Authenticate": _WWW_AUTHENTICATE}
            )
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
