"""Cluster families: the managers and the quorum, as this exporter's engine sees them."""

from __future__ import annotations

from dataclasses import dataclass

from exporter.health import Health
from exporter.metrics.kind import NO_IDENT, Generator, Kind, one
from exporter.metrics.text import Family
from exporter.model import SwarmModel
from exporter.quorum import Quorum, quorum_of

MANAGERS = Family("dockerswarm_managers", "gauge", "Manager nodes in the swarm.")
MANAGERS_REACHABLE = Family(
    "dockerswarm_managers_reachable", "gauge", "Manager nodes whose raft reachability is reachable."
)
MANAGER_QUORUM = Family(
    "dockerswarm_manager_quorum",
    "gauge",
    "Reachable managers the swarm needs to keep a leader: floor(managers/2)+1.",
)
MANAGER_FAULT_TOLERANCE = Family(
    "dockerswarm_manager_fault_tolerance",
    "gauge",
    "Manager losses the swarm tolerates by design: floor((managers-1)/2).",
)
HAS_LEADER = Family(
    "dockerswarm_cluster_has_leader",
    "gauge",
    "1 when this manager confirms the swarm has a raft leader; 0 when quorum is lost "
    "or the engine cannot be asked (then dockerswarm_up is 0 too). Absent on a worker.",
)


@dataclass(frozen=True, slots=True)
class ClusterRecord:
    """The cluster as this exporter sees it."""

    manager: bool
    """A manager's instance: a worker's has no cluster view (a has_leader 0 from it
    would read as a quorum loss wherever only workers' instances are scraped)."""
    has_leader: bool
    quorum: Quorum | None
    """Once synced."""


def cluster_record(model: SwarmModel, health: Health) -> ClusterRecord:
    quorum = quorum_of(model.managers, health.has_leader) if health.synced else None
    return ClusterRecord(health.role != "worker", health.has_leader, quorum)


def _quorum(r: ClusterRecord) -> Quorum | None:
    return r.quorum if r.manager else None


CLUSTER: Kind[ClusterRecord] = Kind(
    NO_IDENT,
    (
        Generator(MANAGERS, one(lambda r: q.managers if (q := _quorum(r)) else None)),
        Generator(MANAGERS_REACHABLE, one(lambda r: q.reachable if (q := _quorum(r)) else None)),
        Generator(MANAGER_QUORUM, one(lambda r: q.needed if (q := _quorum(r)) else None)),
        Generator(
            MANAGER_FAULT_TOLERANCE, one(lambda r: q.tolerates if (q := _quorum(r)) else None)
        ),
        Generator(HAS_LEADER, one(lambda r: int(r.has_leader) if r.manager else None)),
    ),
)
FAMILIES = CLUSTER.families
