"""Object -> metric lines, and publishing what changed in the model.

One small generator per object kind (node, service, cluster); the identifying
labels are built once per object and prefixed to each of its lines.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from exporter import families as F
from exporter.metrics_text import Family, TextStore, sample
from exporter.model import ServiceView, SwarmModel
from exporter.types import NODE_AVAILABILITIES, NODE_STATES, REACHABILITIES, UPDATE_STATES, Node

Labels = tuple[tuple[str, str], ...]
_LABEL_KEY = re.compile(r"[^a-zA-Z0-9_]")


def label_name(key: str) -> str:
    """A node label key as a label name: ``com.example/gpu`` -> ``label_com_example_gpu``."""
    return "label_" + _LABEL_KEY.sub("_", key)


def _state_set(family: Family, ident: Labels, name: str, values: tuple[str, ...], cur: str) -> str:
    # An unknown value (a newer engine) is exported too, rather than lost.
    known = values if cur in values or not cur else (*values, cur)
    return "".join(sample(family, (*ident, (name, v)), 1 if v == cur else 0) for v in known)


def render_node(node: Node, tasks: Mapping[str, int]) -> dict[str, str]:
    ident: Labels = (("node_id", node.id), ("hostname", node.hostname))
    out = {
        F.NODE_INFO.name: sample(
            F.NODE_INFO,
            (
                *ident,
                ("role", node.role),
                ("engine_version", node.engine_version),
                ("address", node.address),
            ),
            1,
        ),
        F.NODE_STATE.name: _state_set(F.NODE_STATE, ident, "state", NODE_STATES, node.state),
        F.NODE_AVAILABILITY.name: _state_set(
            F.NODE_AVAILABILITY, ident, "availability", NODE_AVAILABILITIES, node.availability
        ),
    }
    if node.is_manager:
        out[F.NODE_REACHABILITY.name] = _state_set(
            F.NODE_REACHABILITY, ident, "reachability", REACHABILITIES, node.reachability
        )
        out[F.NODE_LEADER.name] = sample(F.NODE_LEADER, ident, 1 if node.leader else 0)
    if node.labels:
        seen: dict[str, str] = {}
        for k, v in node.labels:
            # Two keys that sanitise alike: the first (sorted) one wins.
            seen.setdefault(label_name(k), v)
        out[F.NODE_LABELS.name] = sample(F.NODE_LABELS, (*ident, *sorted(seen.items())), 1)
    counts = dict(tasks)
    counts.setdefault("running", 0)
    out[F.NODE_TASKS.name] = "".join(
        sample(F.NODE_TASKS, (*ident, ("state", s)), c) for s, c in sorted(counts.items())
    )
    return out


def render_service(view: ServiceView) -> dict[str, str]:
    svc = view.service
    ident: Labels = (("service_name", svc.name), ("stack", svc.stack))
    out = {
        F.SERVICE_INFO.name: sample(
            F.SERVICE_INFO,
            (
                ("service_id", svc.id),
                *ident,
                ("mode", svc.mode),
                ("image", svc.image),
            ),
            1,
        ),
        F.SERVICE_DESIRED.name: sample(F.SERVICE_DESIRED, ident, view.desired),
        F.SERVICE_RUNNING.name: sample(F.SERVICE_RUNNING, ident, view.running),
    }
    states = dict(view.task_states)
    states.setdefault("running", 0)
    out[F.SERVICE_TASKS.name] = "".join(
        sample(F.SERVICE_TASKS, (*ident, ("state", s)), c) for s, c in sorted(states.items())
    )
    if svc.update_state:
        out[F.SERVICE_UPDATE_STATE.name] = _state_set(
            F.SERVICE_UPDATE_STATE, ident, "state", UPDATE_STATES, svc.update_state
        )
    if view.failures:
        out[F.SERVICE_TASK_FAILURES.name] = "".join(
            sample(F.SERVICE_TASK_FAILURES, (*ident, ("reason", r)), c)
            for r, c in sorted(view.failures.items())
        )
    if view.stuck:
        out[F.SERVICE_TASK_STATE_SINCE.name] = "".join(
            sample(F.SERVICE_TASK_STATE_SINCE, (*ident, ("state", s), ("reason", r)), ts)
            for (s, r), ts in sorted(view.stuck.items())
        )
    return out


def render_cluster(model: SwarmModel) -> dict[str, str]:
    out = {
        F.UP.name: sample(F.UP, (), 1 if model.up else 0),
        F.CLUSTER_HAS_LEADER.name: sample(F.CLUSTER_HAS_LEADER, (), 1 if model.has_leader else 0),
        F.MODEL_SYNCED.name: sample(F.MODEL_SYNCED, (), 1 if model.synced else 0),
    }
    if model.last_refresh:
        out[F.LAST_REFRESH.name] = sample(F.LAST_REFRESH, (), round(model.last_refresh, 3))
    if model.synced:
        managers = model.managers
        n = len(managers)
        reachable = sum(1 for m in managers if m.reachability == "reachable")
        out[F.MANAGERS.name] = sample(F.MANAGERS, (), n)
        out[F.MANAGERS_REACHABLE.name] = sample(F.MANAGERS_REACHABLE, (), reachable)
        out[F.MANAGER_QUORUM.name] = sample(F.MANAGER_QUORUM, (), n // 2 + 1 if n else 0)
        out[F.MANAGER_FAULT_TOLERANCE.name] = sample(
            F.MANAGER_FAULT_TOLERANCE, (), (n - 1) // 2 if n else 0
        )
    return out


def publish(model: SwarmModel, store: TextStore) -> int:
    """Render what changed in ``model`` into ``store``; returns how many objects."""
    count = 0
    for node_id in model.removed_nodes:
        store.delete("node/" + node_id)
    for sid in model.removed_services:
        store.delete("service/" + sid)
    for node_id in model.dirty_nodes:
        node = model.nodes.get(node_id)
        if node is not None:
            store.put("node/" + node_id, render_node(node, model.node_tasks.get(node_id, {})))
            count += 1
    for sid in model.dirty_services:
        view = model.views.get(sid)
        if view is not None:
            store.put("service/" + sid, render_service(view))
            count += 1
    if model.cluster_dirty:
        store.put("cluster", render_cluster(model))
        count += 1
    model.removed_nodes.clear()
    model.removed_services.clear()
    model.dirty_nodes.clear()
    model.dirty_services.clear()
    model.cluster_dirty = False
    return count
