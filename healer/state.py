"""Back-off state of one service, kept in the swarm itself.

It lives in the service label ``swarm-sentinel.heal.state`` and is written in
the same versioned update as the force, so the engine's version check turns
a second writer (another healer instance) away, and a restarted or failed-
over healer continues the back-off where it stood. Written compactly:
``v1;forces=T1,T2;next=T3`` (epoch seconds).
"""

from __future__ import annotations

from dataclasses import dataclass


class StateError(ValueError):
    """The state label is not ours or is damaged; the healer starts from zero."""


@dataclass(frozen=True, slots=True)
class HealState:
    forces: tuple[float, ...] = ()
    """When this service was forced, oldest first, within the attempts window."""
    next_allowed: float = 0.0
    """No force before this time (cooldown)."""

    def encode(self) -> str:
        forces = ",".join(str(round(t)) for t in self.forces)
        return f"v1;forces={forces};next={round(self.next_allowed)}"

    @staticmethod
    def decode(text: str | None) -> HealState:
        if not text:
            return HealState()
        parts = text.strip().split(";")
        if parts[0] != "v1":
            raise StateError(f"unknown state format {text[:40]!r}")
        fields: dict[str, str] = {}
        for part in parts[1:]:
            key, sep, value = part.partition("=")
            if not sep:
                raise StateError(f"bad state field {part[:40]!r}")
            fields[key] = value
        try:
            forces = tuple(float(x) for x in fields.get("forces", "").split(",") if x)
            next_allowed = float(fields.get("next", "0") or 0)
        except ValueError as exc:
            raise StateError(f"bad number in state {text[:60]!r}") from exc
        return HealState(forces=tuple(sorted(forces)), next_allowed=next_allowed)

    def recent(self, now: float, window: float) -> tuple[float, ...]:
        return tuple(t for t in self.forces if now - t < window)
