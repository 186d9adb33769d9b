"""Which events of a node's own containers swarm-sentinel follows: the product's
stream asks the engine for these, and the lab's capture records the same."""

from __future__ import annotations

SWARM_TASK_LABEL = "com.docker.swarm.task.id"
"""On every container swarm runs for a task, and on no other."""

CONTAINER_EVENTS: dict[str, list[str]] = {
    "type": ["container"],
    "event": ["create", "start", "die", "kill", "oom", "health_status", "destroy"],
    "label": [SWARM_TASK_LABEL],
}
"""The filters of a node's task-container event stream."""
