"""The only write calls of swarm-sentinel: ``docker service update --force``, and
``docker service rollback`` for an update paused on failure.

Done the way the CLI does them, through the engine client every read goes through
(``exporter.engine``): the same negotiated version, timeouts and error classes.

- A force reads the service's spec, bumps ``TaskTemplate.ForceUpdate``, and posts the
  whole spec back with the version it was read at. The back-off state label goes into
  the same update, so when two healers race, the engine accepts one and turns the
  other away (``Conflict``).
- A rollback reads the service and posts its current spec back with
  ``rollback=previous`` at the version read: the engine puts the previous spec back,
  on its own side. It keeps nothing of the spec posted, so no state label can ride
  along: what keeps a rollback from being done twice (a second one would put the
  failed spec back) is the service itself. It is posted only while the update read is
  still ``paused``; once taken, the service says ``rollback_started`` and then
  ``rollback_completed``, and a healer that read it before is turned away by its
  version (``Conflict``).

What is the forcer's own: the race checks and the forced spec.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from exporter.engine import Engine
from exporter.errors import Conflict, EngineError, VersionRefused
from healer.settings import LABEL_STATE
from healer.state import HealState, StateError


class Outcome(StrEnum):
    FORCED = "forced"
    ROLLED_BACK = "rolled_back"
    RACED = "raced"  # another healer (or a person) acted first: nothing to do
    CONFLICT = "conflict"  # the engine turned the update away: written since we read it
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class ForceResult:
    outcome: Outcome
    detail: str = ""
    force_update: int = 0


class Writer(Protocol):
    """What the healer loop needs of its write calls (``Forcer``, or a fake in tests)."""

    async def force(
        self, service_id: str, new_state: HealState, seen: HealState
    ) -> ForceResult: ...

    async def rollback(self, service_id: str) -> ForceResult: ...


class Forcer:
    """Writes to the engine the exporter reads, through its client."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def force(self, service_id: str, new_state: HealState, seen: HealState) -> ForceResult:
        """Force ``service_id`` and store ``new_state``, unless its stored state moved past
        ``seen`` (what our decision was based on) since we looked.

        A version the engine refuses (it was upgraded under us) is negotiated again
        and the force tried once more: the refusal is not the service's failure."""
        try:
            return await self._force(service_id, new_state, seen)
        except VersionRefused:
            try:
                return await self._force(service_id, new_state, seen)
            except EngineError as exc:
                return _failed(exc)
        except EngineError as exc:
            return _failed(exc)

    async def rollback(self, service_id: str) -> ForceResult:
        """Roll ``service_id`` back to its previous spec (the engine does it), if its
        update is still paused; a refused version is negotiated again, as for a force."""
        try:
            return await self._rollback(service_id)
        except VersionRefused:
            try:
                return await self._rollback(service_id)
            except EngineError as exc:
                return _failed(exc)
        except EngineError as exc:
            return _failed(exc)

    async def _rollback(self, service_id: str) -> ForceResult:
        service, spec = await self.engine.service_with_spec(service_id)
        if service.update_state != "paused":
            # Rolled back already (by another healer, a person, the engine), or updated
            # anew: a rollback now would put back what is not the previous good spec.
            now = service.update_state or "no update status"
            return ForceResult(Outcome.RACED, f"its update is no longer paused ({now})")
        await self.engine.update_service(service_id, service.version, spec, rollback=True)
        return ForceResult(Outcome.ROLLED_BACK)

    async def _force(self, service_id: str, new_state: HealState, seen: HealState) -> ForceResult:
        version, spec = await self.engine.service_spec(service_id)
        labels = spec.get("Labels")
        try:
            stored = HealState.decode(labels.get(LABEL_STATE) if isinstance(labels, dict) else None)
        except StateError:
            stored = HealState()
        if stored.forces and (not seen.forces or max(stored.forces) > max(seen.forces)):
            return ForceResult(Outcome.RACED, "another healer forced it since we looked")
        forced, counter = forced_spec(spec, new_state)
        await self.engine.update_service(service_id, version, forced)
        return ForceResult(Outcome.FORCED, force_update=counter)


def _failed(exc: EngineError) -> ForceResult:
    if isinstance(exc, Conflict):
        return ForceResult(Outcome.CONFLICT, f"the engine turned the update away: {exc.message}")
    return ForceResult(Outcome.ERROR, str(exc))


def forced_spec(spec: dict[str, Any], state: HealState) -> tuple[dict[str, Any], int]:
    """What ``docker service update --force`` posts: ``spec`` as read, with
    ``TaskTemplate.ForceUpdate`` one higher and the back-off state in its label; every
    other field exactly as the engine gave it (even deprecated ones, such as the
    top-level ``Networks`` of API 1.44: changing them would redeploy the service)."""
    out = copy.deepcopy(spec)
    template = out.setdefault("TaskTemplate", {})
    if not isinstance(template, dict):
        raise ValueError("TaskTemplate is not an object")
    counter = template.get("ForceUpdate")
    template["ForceUpdate"] = (counter if isinstance(counter, int) else 0) + 1
    labels = out.get("Labels")
    out["Labels"] = {**(labels if isinstance(labels, dict) else {}), LABEL_STATE: state.encode()}
    return out, template["ForceUpdate"]
