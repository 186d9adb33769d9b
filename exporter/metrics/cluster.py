"""Cluster families: the managers and the quorum, as this exporter's engine sees them."""

from __future__ import annotations

from exporter.health import Health
from exporter.metrics.text import Family, Rendered, sample
from exporter.model import SwarmModel
from exporter.quorum import quorum_of

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
FAMILIES = (MANAGERS, MANAGERS_REACHABLE, MANAGER_QUORUM, MANAGER_FAULT_TOLERANCE, HAS_LEADER)


def render_cluster(model: SwarmModel, health: Health) -> Rendered:
    if health.role == "worker":
        # A worker's instance has no cluster view: a has_leader 0 from it would read as
        # a quorum loss wherever only workers' instances are scraped.
        return {}
    out = {HAS_LEADER.name: sample(HAS_LEADER, (), 1 if health.has_leader else 0)}
    if health.synced:
        q = quorum_of(model.managers, health.has_leader)
        out[MANAGERS.name] = sample(MANAGERS, (), q.managers)
        out[MANAGERS_REACHABLE.name] = sample(MANAGERS_REACHABLE, (), q.reachable)
        out[MANAGER_QUORUM.name] = sample(MANAGER_QUORUM, (), q.needed)
        out[MANAGER_FAULT_TOLERANCE.name] = sample(MANAGER_FAULT_TOLERANCE, (), q.tolerates)
    return out
