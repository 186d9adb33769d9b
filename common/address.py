"""Where the engine is: the operator's address, else DOCKER_HOST, else the local socket,
as the docker CLI finds it; and which addresses make sense at all."""

from __future__ import annotations

import os

DEFAULT_HOST = "unix:///var/run/docker.sock"
_SCHEMES = ("unix://", "tcp://", "http://", "https://")


def check_host(text: str) -> str:
    """``text`` if it is an Engine API address swarm-sentinel can use ("" means the
    default); ``ValueError`` with a one-line reason otherwise."""
    host = text.strip()
    if not host:
        return ""
    if not host.startswith(_SCHEMES):
        raise ValueError(f"{text!r} is not an engine address: use unix:///path or tcp://host:port")
    if host.startswith("unix://") and not host.removeprefix("unix://").startswith("/"):
        raise ValueError(f"{text!r}: a unix socket address needs an absolute path (unix:///...)")
    if not host.startswith("unix://") and not host.split("://", 1)[1].strip("/"):
        raise ValueError(f"{text!r}: no host in the address")
    return host


def engine_host(given: str | None) -> str:
    """The address to use: ``given``, else DOCKER_HOST, else the local socket. Resolved
    here, not by the client library: aiodocker fails an assert when it finds no socket."""
    return given or os.environ.get("DOCKER_HOST") or DEFAULT_HOST
