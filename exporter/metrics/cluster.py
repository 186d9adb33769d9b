"""Cluster families: the managers and the quorum, the swarm's settings and its CA, as
this exporter's engine (a manager's: /info) sees them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from exporter.health import Health
from exporter.metrics.kind import NO_IDENT, Generator, Kind, Sample, one
from exporter.metrics.text import Family
from exporter.model import SwarmModel
from exporter.quorum import Quorum, quorum_of
from exporter.types import ClusterCA, ClusterSettings

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

CA_EXPIRY = Family(
    "dockerswarm_cluster_ca_expiry_timestamp_seconds",
    "gauge",
    "When the swarm's CA root certificate expires (NotAfter of /info "
    "Swarm.Cluster.TLSInfo.TrustRoot; of the first to expire, if several).",
)
CA_ROTATION = Family(
    "dockerswarm_cluster_ca_rotation_in_progress",
    "gauge",
    "1 while a CA root rotation is in progress (docker swarm ca --rotate): it ends once "
    "every node has a certificate of the new root.",
)
NODE_CERT_LIFETIME = Family(
    "dockerswarm_cluster_node_certificate_lifetime_seconds",
    "gauge",
    "Lifetime of the node certificates the swarm issues (CAConfig.NodeCertExpiry): a node "
    "off for longer cannot rejoin.",
)
RETENTION = Family(
    "dockerswarm_cluster_task_history_retention_limit",
    "gauge",
    "Tasks kept per slot (Orchestration.TaskHistoryRetentionLimit; the default is 5): "
    "more inflate the raft store and its snapshots.",
)
SETTINGS = Family(
    "dockerswarm_cluster_settings_info",
    "gauge",
    "The swarm's settings (/info Swarm.Cluster.Spec); always 1. Durations in seconds; an "
    "empty value: not given.",
    (
        "autolock",
        "task_history_retention_limit",
        "raft_snapshot_interval",
        "raft_keep_old_snapshots",
        "raft_log_entries_for_slow_followers",
        "raft_election_tick",
        "raft_heartbeat_tick",
        "dispatcher_heartbeat_period_seconds",
        "node_certificate_lifetime_seconds",
    ),
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
    settings: ClusterSettings | None = None
    """A manager's /info's (a worker's and a locked engine's have none)."""
    ca: ClusterCA | None = None


def cluster_record(model: SwarmModel, health: Health) -> ClusterRecord:
    quorum = quorum_of(model.managers, health.has_leader) if health.synced else None
    info = model.info
    return ClusterRecord(
        health.role != "worker",
        health.has_leader,
        quorum,
        info.settings if info is not None else None,
        info.ca if info is not None else None,
    )


def _quorum(r: ClusterRecord) -> Quorum | None:
    return r.quorum if r.manager else None


def _text(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if value == int(value) else str(value)


def _settings(r: ClusterRecord) -> Iterable[Sample]:
    s = r.settings
    if s is None:
        return ()
    labels = (
        ("autolock", "true" if s.autolock else "false"),
        ("task_history_retention_limit", _text(s.task_history_retention_limit)),
        ("raft_snapshot_interval", _text(s.snapshot_interval)),
        ("raft_keep_old_snapshots", _text(s.keep_old_snapshots)),
        ("raft_log_entries_for_slow_followers", _text(s.log_entries_for_slow_followers)),
        ("raft_election_tick", _text(s.election_tick)),
        ("raft_heartbeat_tick", _text(s.heartbeat_tick)),
        ("dispatcher_heartbeat_period_seconds", _text(s.dispatcher_heartbeat_period)),
        ("node_certificate_lifetime_seconds", _text(s.node_cert_expiry)),
    )
    return ((labels, 1),)


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
        Generator(CA_EXPIRY, one(lambda r: r.ca.root_expiry if r.ca else None)),
        Generator(CA_ROTATION, one(lambda r: int(r.ca.rotation_in_progress) if r.ca else None)),
        Generator(
            NODE_CERT_LIFETIME, one(lambda r: r.settings.node_cert_expiry if r.settings else None)
        ),
        Generator(
            RETENTION,
            one(lambda r: r.settings.task_history_retention_limit if r.settings else None),
        ),
        Generator(SETTINGS, _settings),
    ),
)
FAMILIES = CLUSTER.families
