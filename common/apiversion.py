"""Which Engine API version to speak: the docker CLI's negotiation, in one place.

Every engine client of swarm-sentinel (the watcher's reads, the healer's write,
``status``, the demo script, the lab) asks the engine's unversioned ``GET /_ping``
for its ``API-Version`` header and speaks the lower of that and ``NEWEST``, as
the docker CLI does. ``DOCKER_API_VERSION`` (or ``--docker.api-version``) pins
a version instead, used as it is.

Why not a fixed version: Engine 29.0-29.2 refuse every version below 1.44, and
a service update sent at an older version than the engine's silently drops the
spec fields added since (seccomp and AppArmor at 1.44, OomScoreAdj at 1.46):
the healer would strip them from the services it forces. docs/engine-api.md
lists each change between ``OLDEST`` and ``NEWEST`` that touches what we read
or write.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_VERSION = re.compile(r"v?(\d{1,3})\.(\d{1,3})")
_REFUSAL = re.compile(r"client version \S+ is too (old|new)")


@dataclass(frozen=True, order=True, slots=True)
class ApiVersion:
    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> ApiVersion:
        """``1.44`` or ``v1.44``; ``ValueError`` with a one-line reason otherwise."""
        m = _VERSION.fullmatch(text.strip())
        if m is None:
            raise ValueError(f"{text!r} is not an Engine API version (e.g. 1.44)")
        return cls(int(m.group(1)), int(m.group(2)))

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


OLDEST = ApiVersion(1, 41)
"""Docker 20.10: ``ServiceStatus`` on ``/services?status=true`` and job modes."""
NEWEST = ApiVersion(1, 52)
"""Docker 29.0: the newest version whose changes docs/engine-api.md has checked."""


class ApiVersionError(Exception):
    """No version both sides speak; ``str()`` is one line naming both versions."""


def choose(engine: str | None, pinned: ApiVersion | None) -> ApiVersion:
    """The version to speak, given the engine's ``API-Version`` header (None when it
    sent none) and the operator's pin (None when not pinned)."""
    if pinned is not None:
        return pinned
    if engine is None:
        # Engines before 1.25 sent no header; so may a proxy that strips it. The
        # caller asks GET /version before it gets here; this is the last resort.
        raise ApiVersionError(
            "the engine did not say which Engine API versions it speaks (no API-Version "
            "header on /_ping, no ApiVersion in /version): set --docker.api-version"
        )
    try:
        theirs = ApiVersion.parse(engine)
    except ValueError as exc:
        raise ApiVersionError(f"the engine's API-Version is unreadable: {exc}") from None
    if theirs < OLDEST:
        raise ApiVersionError(
            f"the engine speaks Engine API {theirs} at most; swarm-sentinel needs "
            f"{OLDEST} or newer (Docker 20.10+)"
        )
    return min(theirs, NEWEST)


def parse_pin(text: str) -> ApiVersion | None:
    """The operator's pin (flag or ``DOCKER_API_VERSION``): empty means negotiate."""
    if not text.strip():
        return None
    pinned = ApiVersion.parse(text)
    if pinned < OLDEST:
        raise ValueError(f"{text!r}: swarm-sentinel needs Engine API {OLDEST} or newer")
    return pinned


def is_refusal(message: str) -> bool:
    """The engine's answer to a version it does not speak (HTTP 400), e.g. ``client
    version 1.41 is too old. Minimum supported API version is 1.44, ...``."""
    return _REFUSAL.search(message) is not None


def refusal_message(message: str, used: ApiVersion, pinned: bool) -> str:
    """One line for a refused version: what we spoke, why, and the engine's words."""
    why = (
        "pinned by --docker.api-version or DOCKER_API_VERSION"
        if pinned
        else f"swarm-sentinel speaks {OLDEST} to {NEWEST}"
    )
    return f"the engine refuses Engine API {used} ({why}): {' '.join(message.split())}"
