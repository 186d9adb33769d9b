"""The only write call of swarm-sentinel: ``docker service update --force``.

Done the way the CLI does it: inspect the service, bump
``TaskTemplate.ForceUpdate``, and post the whole spec back with the version
it was read at. The back-off state label goes into the same update, so when
two healers race, the engine accepts one and rejects the other ("update out
of sequence"). Blocking (docker-py); the runner calls it in a thread.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import docker
import docker.errors
import requests

from common.apiversion import ApiVersion, ApiVersionError, is_refusal, refusal_message
from common.dockerpy import docker_client
from common.text import one_line
from healer.settings import LABEL_STATE
from healer.state import HealState, StateError


class Outcome(StrEnum):
    FORCED = "forced"
    RACED = "raced"  # another healer forced it first: its state is newer than ours
    CONFLICT = "conflict"  # "update out of sequence": someone wrote it since we read it
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class ForceResult:
    outcome: Outcome
    detail: str = ""
    force_update: int = 0


class Writer(Protocol):
    """What the healer loop needs of its one write call (``Forcer``, or a fake in tests)."""

    def force(self, service_id: str, new_state: HealState, seen: HealState) -> ForceResult: ...

    def close(self) -> None: ...


class Forcer:
    """Writes to the same engine the exporter reads (DOCKER_HOST/TLS alike).

    The update goes out at the negotiated version, the engine's own when we know
    it: posted at an older one, the engine drops the spec fields added since
    (seccomp and AppArmor at 1.44, OomScoreAdj at 1.46) from the service.
    """

    def __init__(
        self, base_url: str | None, timeout: float = 15.0, *, api_version: ApiVersion | None = None
    ) -> None:
        self._base_url = base_url
        self._timeout = timeout
        self._pinned = api_version
        self._client: Any = None

    def _api(self) -> Any:
        if self._client is None:
            self._client = docker_client(self._base_url, timeout=self._timeout, pinned=self._pinned)
        return self._client

    def force(self, service_id: str, new_state: HealState, seen: HealState) -> ForceResult:
        """Force ``service_id`` and store ``new_state``, unless its stored state moved past
        ``seen`` (what our decision was based on) since we looked."""
        try:
            api = self._api()
            svc = api.inspect_service(service_id)
            version = int(svc["Version"]["Index"])
            labels = svc["Spec"].get("Labels") or {}
            try:
                stored = HealState.decode(labels.get(LABEL_STATE))
            except StateError:
                stored = HealState()
            if stored.forces and (not seen.forces or max(stored.forces) > max(seen.forces)):
                return ForceResult(Outcome.RACED, "another healer forced it since we looked")
            spec, counter = forced_spec(svc["Spec"], new_state)
            # The whole spec, as read, at the client's (negotiated) version. APIClient is
            # a requests.Session: its update_service rebuilds the spec from the fields
            # docker-py knows, and would drop any it does not.
            resp = api.post(
                f"{api.base_url}/v{api.api_version}/services/{service_id}/update",
                json=spec,
                params={"version": version},
                timeout=self._timeout,
            )
            if resp.status_code >= 400:
                return self._failed(f"{resp.status_code} {_message(resp)}")
            return ForceResult(Outcome.FORCED, force_update=counter)
        except ApiVersionError as exc:
            return ForceResult(Outcome.ERROR, str(exc))
        except docker.errors.APIError as exc:
            return self._failed(str(exc.explanation or exc))
        except (requests.RequestException, docker.errors.DockerException, OSError) as exc:
            # The engine may be another one when it answers again: negotiate then.
            self.close()
            return ForceResult(Outcome.ERROR, one_line(f"{type(exc).__name__}: {exc}"))
        except (KeyError, TypeError, ValueError) as exc:
            return ForceResult(Outcome.ERROR, one_line(f"unexpected service answer: {exc!r}"))

    def _failed(self, text: str) -> ForceResult:
        """An error answer of the engine (its message), as an outcome."""
        if "out of sequence" in text:
            return ForceResult(Outcome.CONFLICT, "update out of sequence: another writer won")
        if is_refusal(text) and self._client is not None:
            spoke = ApiVersion.parse(self._client.api_version)
            self.close()  # negotiate again: the engine may have changed
            return ForceResult(
                Outcome.ERROR, refusal_message(text, spoke, self._pinned is not None)
            )
        return ForceResult(Outcome.ERROR, one_line(text))

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def forced_spec(spec: dict[str, Any], state: HealState) -> tuple[dict[str, Any], int]:
    """What ``docker service update --force`` posts: ``spec`` as read, with
    ``TaskTemplate.ForceUpdate`` one higher and the back-off state in its label; every
    other field exactly as the engine gave it (even deprecated ones, such as the
    top-level ``Networks`` of API 1.44: changing them would redeploy the service)."""
    out = copy.deepcopy(spec)
    template = out.setdefault("TaskTemplate", {})
    template["ForceUpdate"] = int(template.get("ForceUpdate") or 0) + 1
    out["Labels"] = {**(out.get("Labels") or {}), LABEL_STATE: state.encode()}
    return out, template["ForceUpdate"]


def _message(resp: requests.Response) -> str:
    """The engine's error text: the ``message`` of its JSON body."""
    try:
        body = resp.json()
    except ValueError:
        return resp.text
    return str(body["message"]) if isinstance(body, dict) and "message" in body else resp.text
