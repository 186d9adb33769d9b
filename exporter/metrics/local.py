"""This instance's own node, as its own engine tells it: its place in the swarm
(/info ``Swarm.LocalNodeState``: only a locked manager's own engine can say it is
locked) and, opt-in, when its own certificate expires. Per-node series: each instance
reports its own node (aggregate with ``max by (node_id, hostname)``)."""

from __future__ import annotations

from dataclasses import dataclass

from exporter.metrics.kind import Generator, Kind, one, state_set
from exporter.metrics.text import Family
from exporter.model import SwarmModel
from exporter.types import LOCAL_NODE_STATES

_N = ("node_id", "hostname")

LOCAL_STATE = Family(
    "dockerswarm_node_local_state",
    "gauge",
    "This instance's node as its own engine sees its place in the swarm, as a state set: "
    "inactive, pending, active, error, locked (a manager with autolock restarted, until "
    "docker swarm unlock).",
    (*_N, "state"),
)
CERT_EXPIRY = Family(
    "dockerswarm_node_certificate_expiry_timestamp_seconds",
    "gauge",
    "When this instance's node's own certificate expires (NotAfter of the file given by "
    "--node.certificate-file); absent without it.",
    _N,
)


@dataclass(frozen=True, slots=True)
class LocalRecord:
    node_id: str
    """As /info last gave it (a locked engine's gives none)."""
    hostname: str
    state: str
    certificate_expiry: float | None


def local_record(model: SwarmModel) -> LocalRecord | None:
    """None until the engine answered /info."""
    info = model.info
    if info is None:
        return None
    return LocalRecord(model.node_id, info.hostname, info.local_node_state, model.node_certificate)


LOCAL: Kind[LocalRecord] = Kind(
    lambda r: (("node_id", r.node_id), ("hostname", r.hostname)),
    (
        Generator(LOCAL_STATE, lambda r: state_set("state", LOCAL_NODE_STATES, r.state)),
        Generator(CERT_EXPIRY, one(lambda r: r.certificate_expiry)),
    ),
)
FAMILIES = LOCAL.families
