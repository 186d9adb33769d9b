"""Engine API failures, classified once, where they happen: in the engine client.

Callers catch the class they can act on and never look into the text, which is
one line fit for a log event (``endpoint: what happened``).
"""

from __future__ import annotations

# What a manager says when its swarm has lost quorum: on /info (Swarm.Error), and
# in the HTTP 500 of every cluster call. While the leader steps down, calls time
# out inside the engine with DeadlineExceeded instead.
_NO_LEADER = ("does not have a leader", "DeadlineExceeded", "context deadline exceeded")
_NOT_MANAGER = ("not a swarm manager", "is not a manager")
# An update posted at a version the object has moved past: 409 on newer engines, a
# 500 with this text on 20.10 (swarmkit's ErrSequenceConflict).
_OUT_OF_SEQUENCE = "update out of sequence"


def says_no_leader(text: str) -> bool:
    """Whether an engine's message means the swarm has no leader (quorum lost)."""
    return any(phrase in text for phrase in _NO_LEADER)


class EngineError(Exception):
    """An Engine API call failed; ``str()`` is one line fit for a log event."""

    def __init__(self, endpoint: str, message: str, status: int = 0) -> None:
        super().__init__(f"{endpoint}: {message}")
        self.endpoint = endpoint
        self.status = status
        self.message = message

    @classmethod
    def from_answer(cls, endpoint: str, message: str, status: int) -> EngineError:
        """The class of an error answer the engine gave (HTTP ``status``, its ``message``)."""
        if status == 404:
            return NotFound(endpoint, message, status)
        if status in (401, 403):
            return Refused(endpoint, message, status)
        if status == 409 or _OUT_OF_SEQUENCE in message:
            return Conflict(endpoint, message, status)
        if says_no_leader(message):
            return NoLeader(endpoint, message, status)
        if any(phrase in message for phrase in _NOT_MANAGER):
            return NotManager(endpoint, message, status)
        return cls(endpoint, message, status)


class Unreachable(EngineError):
    """No connection to the engine: no socket, refused, reset, the stream cut."""


class Timeout(EngineError):
    """The engine gave no answer within --docker.timeout (a manager can stall so
    while its swarm loses quorum)."""


class NotFound(EngineError):
    """The object is gone (HTTP 404)."""


class Refused(EngineError):
    """Not allowed (HTTP 401, 403): something in front of the engine (a socket proxy that
    allows some endpoints only, an authorization plugin) turned the call away."""


class Conflict(EngineError):
    """A write turned away: the object was written since it was read."""


class NoLeader(EngineError):
    """A manager answered that the swarm has no leader: quorum is lost."""


class NotManager(EngineError):
    """The engine is not an active swarm manager: a worker, or in no swarm at all."""


class VersionRefused(EngineError):
    """No Engine API version both sides speak, or the engine refused ours."""


class BadAnswer(EngineError):
    """An answer that is not what the API promises: not JSON, not the expected shape."""
