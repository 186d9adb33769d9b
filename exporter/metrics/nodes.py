"""Node families: one node's state, availability, role facts, labels and tasks."""

from __future__ import annotations

import re
from collections.abc import Mapping

from exporter.metrics.text import Family, Labels, Rendered, sample, state_set
from exporter.types import NODE_AVAILABILITIES, NODE_STATES, REACHABILITIES, Node

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
FAMILIES = (INFO, STATE, AVAILABILITY, REACHABILITY, LEADER, LABELS, TASKS)

_LABEL_KEY = re.compile(r"[^a-zA-Z0-9_]")


def label_name(key: str) -> str:
    """A node label key as a label name: ``com.example/gpu`` -> ``label_com_example_gpu``."""
    return "label_" + _LABEL_KEY.sub("_", key)


def render_node(node: Node, tasks: Mapping[str, int]) -> Rendered:
    """``tasks``: the node's current tasks by observed state."""
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
    if node.labels:
        seen: dict[str, str] = {}
        for k, v in node.labels:
            # Two keys that sanitise alike: the first (sorted) one wins.
            seen.setdefault(label_name(k), v)
        out[LABELS.name] = sample(LABELS, (*ident, *sorted(seen.items())), 1)
    counts = dict(tasks)
    counts.setdefault("running", 0)
    out[TASKS.name] = "".join(
        sample(TASKS, (*ident, ("state", s)), c) for s, c in sorted(counts.items())
    )
    return out
