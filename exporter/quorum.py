"""Raft quorum arithmetic: one home for it, read by the metrics and by ``status``.

N managers need floor(N/2)+1 of them reachable to keep a leader, so by design
they tolerate floor((N-1)/2) losses; what they can still lose from where they
stand now is the reachable ones beyond that need.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from exporter.types import Node


@dataclass(frozen=True, slots=True)
class Quorum:
    managers: int
    reachable: int
    has_leader: bool
    leader: str  # the leader's hostname, "" when none is named

    @property
    def needed(self) -> int:
        """Reachable managers the swarm needs to keep a leader."""
        return self.managers // 2 + 1 if self.managers else 0

    @property
    def tolerates(self) -> int:
        """Manager losses the swarm tolerates by design."""
        return (self.managers - 1) // 2 if self.managers else 0

    @property
    def can_lose(self) -> int:
        """Managers it can still lose now: with one of three down this is 0."""
        return max(self.reachable - self.needed, 0)

    @property
    def state(self) -> str:
        """``ok``; ``at_risk`` (one more loss stops it); ``lost`` (no leader)."""
        if not self.has_leader or self.reachable < self.needed:
            return "lost"
        if self.can_lose == 0 and self.managers > 1:
            return "at_risk"
        return "ok"


def quorum_of(managers: Sequence[Node], has_leader: bool) -> Quorum:
    return Quorum(
        managers=len(managers),
        reachable=sum(1 for m in managers if m.reachability == "reachable"),
        has_leader=has_leader,
        leader=next((m.hostname for m in managers if m.leader), ""),
    )
