"""The exporter's own health: what it knows of its engine, kept apart from the swarm."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Health:
    up: bool = False
    """The last refresh from the engine succeeded."""
    has_leader: bool = False
    """This exporter confirms a leader: its engine answered and named one. An exporter
    whose engine is gone must not keep saying "leader" and mask a quorum loss seen by
    the others (alerts take the max over all exporters)."""
    synced: bool = False
    """The whole swarm was listed at least once."""
    last_refresh: float = 0.0
    last_error: str = ""
    role: str = ""
    """What the engine is: "manager" (the cluster view is ours to give) or "worker"
    (its own containers only); "" until it said."""
    containers_up: bool = False
    """The engine's stream of its own task containers' events is open."""

    def succeeded(self, now: float, *, has_leader: bool) -> None:
        self.up, self.has_leader, self.last_refresh, self.last_error = True, has_leader, now, ""

    def failed(self, error: str) -> bool:
        """Returns whether anything changed (a repeated failure changes nothing)."""
        changed = (self.up, self.has_leader, self.last_error) != (False, False, error)
        self.up, self.has_leader, self.last_error = False, False, error
        return changed
