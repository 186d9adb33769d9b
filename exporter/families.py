"""Every metric family the model exports: the public contract.

Dashboards, alert rules and operators' queries rely on these names and
labels; docs/metrics.md lists them and a test keeps the two in step.
"""

from __future__ import annotations

from exporter.metrics_text import Family

_N = ("node_id", "hostname")
_S = ("service_name", "stack")

NODE_INFO = Family(
    "dockerswarm_node_info",
    "gauge",
    "Static facts of a swarm node; always 1.",
    (*_N, "role", "engine_version", "address"),
)
NODE_STATE = Family(
    "dockerswarm_node_state",
    "gauge",
    "Node status as a state set: 1 for the current state (unknown, down, ready, disconnected).",
    (*_N, "state"),
)
NODE_AVAILABILITY = Family(
    "dockerswarm_node_availability",
    "gauge",
    "Node availability as a state set: 1 for the current one (active, pause, drain).",
    (*_N, "availability"),
)
NODE_REACHABILITY = Family(
    "dockerswarm_node_manager_reachability",
    "gauge",
    "Raft reachability of a manager as a state set (reachable, unreachable, unknown).",
    (*_N, "reachability"),
)
NODE_LEADER = Family(
    "dockerswarm_node_leader",
    "gauge",
    "1 for the manager that is the raft leader, 0 for the other managers.",
    _N,
)
NODE_LABELS = Family(
    "dockerswarm_node_labels",
    "gauge",
    "Node labels (Spec.Labels) as label_<key> labels, keys sanitised; always 1.",
    (*_N, "label_<key>"),
)
NODE_TASKS = Family(
    "dockerswarm_node_tasks",
    "gauge",
    "Current tasks (latest per slot) placed on the node, by observed state.",
    (*_N, "state"),
)
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
CLUSTER_HAS_LEADER = Family(
    "dockerswarm_cluster_has_leader",
    "gauge",
    "1 when this manager confirms the swarm has a raft leader; 0 when quorum is lost "
    "or the engine cannot be asked (then dockerswarm_up is 0 too).",
)
SERVICE_INFO = Family(
    "dockerswarm_service_info",
    "gauge",
    "Static facts of a service; always 1.",
    ("service_id", *_S, "mode", "image"),
)
SERVICE_DESIRED = Family(
    "dockerswarm_service_replicas_desired",
    "gauge",
    "Tasks the service should run (global: eligible ready, active nodes).",
    _S,
)
SERVICE_RUNNING = Family(
    "dockerswarm_service_replicas_running",
    "gauge",
    "Tasks of the service observed running (latest task per slot, not on a down node).",
    _S,
)
SERVICE_TASKS = Family(
    "dockerswarm_service_tasks",
    "gauge",
    "Latest task per slot (per node for global services), by observed state.",
    (*_S, "state"),
)
SERVICE_UPDATE_STATE = Family(
    "dockerswarm_service_update_state",
    "gauge",
    "Service update state as a state set; absent for a service never updated.",
    (*_S, "state"),
)
SERVICE_TASK_FAILURES = Family(
    "dockerswarm_service_task_failures",
    "counter",
    "Tasks seen entering failed or rejected, by reason classified from the task error.",
    (*_S, "reason"),
)
SERVICE_TASK_STATE_SINCE = Family(
    "dockerswarm_service_task_state_since_timestamp_seconds",
    "gauge",
    "Since when the oldest current task has been in this pre-running state, with its reason.",
    (*_S, "state", "reason"),
)
UP = Family("dockerswarm_up", "gauge", "1 when the last refresh from the engine succeeded.")
LAST_REFRESH = Family(
    "dockerswarm_last_refresh_timestamp_seconds",
    "gauge",
    "When the model was last refreshed from the engine successfully.",
)
MODEL_SYNCED = Family(
    "dockerswarm_exporter_synced",
    "gauge",
    "1 once the model was fully listed from the engine at least once.",
)

MODEL_FAMILIES: tuple[Family, ...] = (
    NODE_INFO,
    NODE_STATE,
    NODE_AVAILABILITY,
    NODE_REACHABILITY,
    NODE_LEADER,
    NODE_LABELS,
    NODE_TASKS,
    MANAGERS,
    MANAGERS_REACHABLE,
    MANAGER_QUORUM,
    MANAGER_FAULT_TOLERANCE,
    CLUSTER_HAS_LEADER,
    SERVICE_INFO,
    SERVICE_DESIRED,
    SERVICE_RUNNING,
    SERVICE_TASKS,
    SERVICE_UPDATE_STATE,
    SERVICE_TASK_FAILURES,
    SERVICE_TASK_STATE_SINCE,
    UP,
    LAST_REFRESH,
    MODEL_SYNCED,
)
