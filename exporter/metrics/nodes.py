"""Node families: one node's state, availability, role facts, labels, tasks and
resources, as generators of two kinds (``exporter.metrics.kind``): the node's own
facts, and what its tasks hold (``NODE_LOAD``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from exporter.metrics.kind import Generator, Kind, Sample, one, state_set
from exporter.metrics.labels import Allowlist
from exporter.metrics.text import Family
from exporter.types import (
    NO_RESOURCES,
    NODE_AVAILABILITIES,
    NODE_STATES,
    REACHABILITIES,
    Labels,
    Node,
    Resources,
)

_N = ("node_id", "hostname")


@dataclass(frozen=True, slots=True)
class NodeRecord:
    """A node and what the model knows of it beyond the node object itself."""

    node: Node
    tasks: Mapping[str, int]
    """Its current tasks by observed state."""
    reserved: Resources = NO_RESOURCES
    """What they hold of its resources."""
    issuer_current: bool | None = None
    """Whether its certificate's issuer is the cluster's (None: not known)."""


def node_ident(node: Node) -> Labels:
    """The labels that name a node in every node family and container family."""
    return (("node_id", node.id), ("hostname", node.hostname))


INFO = Family(
    "dockerswarm_node_info",
    "gauge",
    "Static facts of a swarm node; always 1.",
    (*_N, "role", "engine_version", "address"),
)
STATE = Family(
    "dockerswarm_node_state",
    "gauge",
    "Node status as a state set: 1 for the current state (unknown, down, ready, disconnected).",
    (*_N, "state"),
)
AVAILABILITY = Family(
    "dockerswarm_node_availability",
    "gauge",
    "Node availability as a state set: 1 for the current one (active, pause, drain).",
    (*_N, "availability"),
)
REACHABILITY = Family(
    "dockerswarm_node_manager_reachability",
    "gauge",
    "Raft reachability of a manager as a state set (reachable, unreachable, unknown).",
    (*_N, "reachability"),
)
LEADER = Family(
    "dockerswarm_node_leader",
    "gauge",
    "1 for the manager that is the raft leader, 0 for the other managers.",
    _N,
)
LABELS = Family(
    "dockerswarm_node_labels",
    "gauge",
    "Node labels (Spec.Labels) as label_<key> labels, keys sanitised; always 1.",
    (*_N, "label_<key>"),
)
TASKS = Family(
    "dockerswarm_node_tasks",
    "gauge",
    "Current tasks (latest per slot) placed on the node, by observed state.",
    (*_N, "state"),
)
CPUS = Family(
    "dockerswarm_node_cpus",
    "gauge",
    "CPUs the node offers to the scheduler (Description.Resources.NanoCPUs, in cores).",
    _N,
)
MEMORY = Family(
    "dockerswarm_node_memory_bytes",
    "gauge",
    "Memory the node offers to the scheduler (Description.Resources.MemoryBytes).",
    _N,
)
RESERVED_CPUS = Family(
    "dockerswarm_node_reserved_cpus",
    "gauge",
    "CPUs reserved on the node by the tasks placed there and not ended (assigned to "
    "running), as the scheduler counts them: what it has left is cpus - reserved.",
    _N,
)
RESERVED_MEMORY = Family(
    "dockerswarm_node_reserved_memory_bytes",
    "gauge",
    "Memory reserved on the node by the tasks placed there and not ended.",
    _N,
)
ISSUER_CURRENT = Family(
    "dockerswarm_node_certificate_issuer_current",
    "gauge",
    "1 when the node's certificate was issued by the swarm's current CA (its "
    "Description.TLSInfo issuer is the cluster's), 0 when not yet: during a CA root "
    "rotation, a node still to get its new certificate.",
    _N,
)
ALL_LABELS = Allowlist(("*",))
"""Every node label: nodes are few, and their labels are the operator's own placement
vocabulary (``--metric.node-labels`` narrows it)."""


def _facts(r: NodeRecord) -> Iterable[Sample]:
    n = r.node
    return (((("role", n.role), ("engine_version", n.engine_version), ("address", n.address)), 1),)


def _tasks(r: NodeRecord) -> Iterable[Sample]:
    counts = dict(r.tasks)
    counts.setdefault("running", 0)
    return ((((("state", s),), c)) for s, c in sorted(counts.items()))


def _offered(r: NodeRecord) -> bool:
    return bool(r.node.cpus or r.node.memory_bytes)


def node_kind(labels: Allowlist = ALL_LABELS) -> Kind[NodeRecord]:
    """A node's own facts (``NODE_LOAD`` is what its tasks hold); ``labels``: which of a
    node's labels to export."""

    def exported(r: NodeRecord) -> Iterable[Sample]:
        chosen = labels.select(r.node.labels)
        return ((chosen, 1),) if chosen else ()

    return Kind(
        _ident,
        (
            Generator(INFO, _facts),
            Generator(STATE, lambda r: state_set("state", NODE_STATES, r.node.state)),
            Generator(
                AVAILABILITY,
                lambda r: state_set("availability", NODE_AVAILABILITIES, r.node.availability),
            ),
            Generator(
                REACHABILITY,
                lambda r: (
                    state_set("reachability", REACHABILITIES, r.node.reachability)
                    if r.node.is_manager
                    else ()
                ),
            ),
            Generator(LEADER, one(lambda r: int(r.node.leader) if r.node.is_manager else None)),
            Generator(LABELS, exported),
            Generator(CPUS, one(lambda r: r.node.cpus if _offered(r) else None)),
            Generator(MEMORY, one(lambda r: r.node.memory_bytes if _offered(r) else None)),
            Generator(
                ISSUER_CURRENT,
                one(lambda r: None if r.issuer_current is None else int(r.issuer_current)),
            ),
        ),
    )


def _ident(r: NodeRecord) -> Labels:
    return node_ident(r.node)


NODE_LOAD: Kind[NodeRecord] = Kind(
    _ident,
    (
        Generator(TASKS, _tasks),
        Generator(RESERVED_CPUS, one(lambda r: r.reserved.cpus if _offered(r) else None)),
        Generator(RESERVED_MEMORY, one(lambda r: r.reserved.memory_bytes if _offered(r) else None)),
    ),
)
"""What a node's current tasks hold: rendered apart from the node's own facts, since
every task batch of a poll moves it on the nodes its tasks are on (a short line each),
while the node itself seldom changes."""

NODES = node_kind()
FAMILIES = (
    INFO,
    STATE,
    AVAILABILITY,
    REACHABILITY,
    LEADER,
    LABELS,
    TASKS,
    CPUS,
    MEMORY,
    RESERVED_CPUS,
    RESERVED_MEMORY,
    ISSUER_CURRENT,
)
"""In exposition order."""
