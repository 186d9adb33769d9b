"""docker-py clients that speak the negotiated Engine API version.

docker-py's own ``version="auto"`` takes the engine's version as it is, even one
newer than docker-py or we know; this asks ``/_ping`` and applies
``apiversion.choose``, as the exporter's aiodocker client does.
"""

from __future__ import annotations

from typing import Any

import docker

from common.address import DEFAULT_HOST
from common.apiversion import OLDEST, ApiVersion, choose


def engine_kwargs(base_url: str | None) -> dict[str, Any]:
    """Where the engine is, as the docker CLI finds it: ``base_url``, else DOCKER_HOST
    (TLS from DOCKER_TLS_VERIFY/DOCKER_CERT_PATH), else the local socket."""
    kwargs: dict[str, Any] = docker.utils.kwargs_from_env()
    if base_url:
        kwargs["base_url"] = base_url
    kwargs.setdefault("base_url", DEFAULT_HOST)
    return kwargs


def negotiate(kwargs: dict[str, Any], timeout: float) -> ApiVersion:
    """The version to speak with the engine of ``kwargs`` (one ``GET /_ping``).

    Raises docker-py's and requests' errors when the engine does not answer, and
    ``ApiVersionError`` when there is no version both speak.
    """
    # Built at the oldest version: a client with an explicit version makes no call.
    probe = docker.APIClient(version=str(OLDEST), timeout=timeout, **kwargs)
    try:
        # APIClient is a requests.Session; /_ping is unversioned and has no body.
        header = probe.get(f"{probe.base_url}/_ping", timeout=timeout).headers.get("API-Version")
        if header is None:
            header = probe.version(api_version=False).get("ApiVersion")
    finally:
        probe.close()
    return choose(header, None)


def docker_client(
    base_url: str | None, *, timeout: float, pinned: ApiVersion | None = None
) -> docker.APIClient:
    """A low-level docker-py client for ``base_url`` at the negotiated version (or
    ``pinned``, used as it is, as the CLI uses DOCKER_API_VERSION). Close it when done."""
    kwargs = engine_kwargs(base_url)
    version = pinned if pinned is not None else negotiate(kwargs, timeout)
    return docker.APIClient(version=str(version), timeout=timeout, **kwargs)
