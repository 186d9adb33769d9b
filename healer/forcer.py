"""The only write call of swarm-sentinel: ``docker service update --force``.

Done the way the CLI does it: inspect the service, bump
``TaskTemplate.ForceUpdate``, and post the whole spec back with the version
it was read at. The back-off state label goes into the same update, so when
two healers race, the engine accepts one and rejects the other ("update out
of sequence"). Blocking (docker-py); the runner calls it in a thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import docker
import docker.errors
import requests

from common.apiversion import ApiVersion, ApiVersionError, is_refusal, refusal_message
from common.dockerpy import docker_client
from healer.settings import LABEL_STATE
from healer.state import HealState, StateError


class Outcome(StrEnum):
    FORCED = "forced"
    RACED = "raced"  # another healer forced it first: its state is newer than ours
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class ForceResult:
    outcome: Outcome
    detail: str = ""
    force_update: int = 0


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
            spec: dict[str, Any] = svc["Spec"]
            version = int(svc["Version"]["Index"])
            labels: dict[str, str] = spec.get("Labels") or {}
            try:
                stored = HealState.decode(labels.get(LABEL_STATE))
            except StateError:
                stored = HealState()
            if stored.forces and (not seen.forces or max(stored.forces) > max(seen.forces)):
                return ForceResult(Outcome.RACED, "another healer forced it since we looked")
            template = spec.setdefault("TaskTemplate", {})
            template["ForceUpdate"] = int(template.get("ForceUpdate") or 0) + 1
            labels[LABEL_STATE] = new_state.encode()
            spec["Labels"] = labels
            resp = api._post_json(
                api._url("/services/{0}/update", service_id),
                data=spec,
                params={"version": version},
            )
            api._raise_for_status(resp)
            return ForceResult(Outcome.FORCED, force_update=template["ForceUpdate"])
        except docker.errors.APIError as exc:
            text = str(exc.explanation or exc)
            if "out of sequence" in text:
                return ForceResult(Outcome.RACED, "update out of sequence: another writer won")
            if is_refusal(text) and self._client is not None:
                used = ApiVersion.parse(self._client.api_version)
                self.close()  # negotiate again: the engine may have changed
                return ForceResult(
                    Outcome.ERROR, refusal_message(text, used, self._pinned is not None)
                )
            return ForceResult(Outcome.ERROR, _one_line(text))
        except ApiVersionError as exc:
            return ForceResult(Outcome.ERROR, str(exc))
        except (requests.RequestException, docker.errors.DockerException, OSError) as exc:
            # The engine may be another one when it answers again: negotiate then.
            self.close()
            return ForceResult(Outcome.ERROR, _one_line(f"{type(exc).__name__}: {exc}"))
        except (KeyError, TypeError, ValueError) as exc:
            return ForceResult(Outcome.ERROR, _one_line(f"unexpected service answer: {exc!r}"))

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]
