"""Node families: one node's state, availability, role facts, labels, tasks and
resources."""

from __future__ import annotations

from collections.abc import Mapping

from exporter.metrics.labels import Allowlist
from exporter.metrics.text import Family, Labels, Rendered, sample, state_set
from exporter.types import (
    NO_RESOURCES,
    NODE_AVAILABILITIES,
    NODE_STATES,
    REACHABILITIES,
    Node,
    Resources,
)

_N = ("node_id", "hostname")

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
)
ALL_LABELS = Allowlist(("*",))
"""Every node label: nodes are few, and their labels are the operator's own placement
vocabulary (``--metric.node-labels`` narrows it)."""


def render_node(
    node: Node,
    tasks: Mapping[str, int],
    reserved: Resources = NO_RESOURCES,
    labels: Allowlist = ALL_LABELS,
) -> Rendered:
    """``tasks``: the node's current tasks by observed state; ``reserved``: what they
    hold of its resources; ``labels``: which of its labels to export."""
    ident: Labels = (("node_id", node.id), ("hostname", node.hostname))
    facts = (
        ("role", node.role),
        ("engine_version", node.engine_version),
        ("address", node.address),
    )
    out = {
        INFO.name: sample(INFO, (*ident, *facts), 1),
        STATE.name: state_set(STATE, ident, "state", NODE_STATES, node.state),
        AVAILABILITY.name: state_set(
            AVAILABILITY, ident, "availability", NODE_AVAILABILITIES, node.availability
        ),
    }
    if node.is_manager:
        out[REACHABILITY.name] = state_set(
            REACHABILITY, ident, "reachability", REACHABILITIES, node.reachability
        )
        out[LEADER.name] = sample(LEADER, ident, 1 if node.leader else 0)
    exported = labels.select(node.labels)
    if exported:
        out[LABELS.name] = sample(LABELS, (*ident, *exported), 1)
    if node.cpus or node.memory_bytes:
        out[CPUS.name] = sample(CPUS, ident, node.cpus)
        out[MEMORY.name] = sample(MEMORY, ident, node.memory_bytes)
        out[RESERVED_CPUS.name] = sample(RESERVED_CPUS, ident, reserved.cpus)
        out[RESERVED_MEMORY.name] = sample(RESERVED_MEMORY, ident, reserved.memory_bytes)
    counts = dict(tasks)
    counts.setdefault("running", 0)
    out[TASKS.name] = "".join(
        sample(TASKS, (*ident, ("state", s)), c) for s, c in sorted(counts.items())
    )
    return out
