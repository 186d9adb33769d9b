"""Engine API JSON -> frozen objects of ``exporter.types``.

Every function here takes the decoded JSON of one answer and never raises on
odd content except ``ParseError`` for an object that cannot be used at all
(no ID, not a mapping). Missing optional fields get defaults; unknown enum
strings are kept. The caller logs and counts ``ParseError`` and goes on with
the other objects of the same answer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from exporter.types import STACK_LABEL, ContainerEvent, Event, Node, Service, SwarmInfo, Task

T = TypeVar("T")


class ParseError(ValueError):
    """One API object could not be understood."""


def _map(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ParseError(f"{what}: expected an object, got {type(value).__name__}")
    return value


def _sub(obj: Mapping[str, Any], *keys: str) -> Mapping[str, Any]:
    """Nested mapping at ``keys``; an empty one where any level is missing or null."""
    cur: Any = obj
    for k in keys:
        cur = cur.get(k) if isinstance(cur, Mapping) else None
    return cur if isinstance(cur, Mapping) else {}


def _str(obj: Mapping[str, Any], key: str, default: str = "") -> str:
    v = obj.get(key)
    return v if isinstance(v, str) else default


def _int(obj: Mapping[str, Any], key: str) -> int | None:
    v = obj.get(key)
    # bool is an int subclass; a JSON true here is garbage, not 1.
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    return None


def _count(obj: Mapping[str, Any], key: str) -> int | None:
    """A count (replicas, tasks, a version): a negative one is garbage, not a figure."""
    v = _int(obj, key)
    return v if v is not None and v >= 0 else None


def _bool(obj: Mapping[str, Any], key: str) -> bool:
    """Only a JSON true is true: the string "false" is not."""
    return obj.get(key) is True


def _labels(value: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, Mapping):
        return ()
    return tuple(sorted((str(k), str(v)) for k, v in value.items()))


def _id(obj: Mapping[str, Any], what: str) -> str:
    ident = obj.get("ID")
    if not isinstance(ident, str) or not ident:
        raise ParseError(f"{what}: missing ID")
    return ident


def parse_time(value: object) -> float:
    """RFC 3339 with nanoseconds (``2026-11-26T17:10:06.771732018Z``) -> epoch seconds.

    Returns 0.0 for anything unparsable, including Go's zero time.
    """
    if not isinstance(value, str) or not value:
        return 0.0
    s = value.strip()
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    # Python takes at most 6 fractional digits; Go writes up to 9.
    if "." in s:
        head, _, rest = s.partition(".")
        digits = ""
        i = 0
        while i < len(rest) and rest[i].isdigit():
            digits += rest[i]
            i += 1
        s = f"{head}.{digits[:6] or '0'}{rest[i:]}"
    try:
        ts = datetime.fromisoformat(s).timestamp()
    except ValueError:
        return 0.0
    return ts if ts > 0 else 0.0


def parse_node(raw: object) -> Node:
    obj = _map(raw, "node")
    node_id = _id(obj, "node")
    spec = _sub(obj, "Spec")
    desc = _sub(obj, "Description")
    status = _sub(obj, "Status")
    mgr = obj.get("ManagerStatus")
    mgr_map = mgr if isinstance(mgr, Mapping) else None
    role = _str(spec, "Role", "worker").lower() or "worker"
    return Node(
        id=node_id,
        hostname=_str(desc, "Hostname") or node_id[:12],
        role=role,
        availability=_str(spec, "Availability", "active").lower() or "active",
        state=_str(status, "State", "unknown").lower() or "unknown",
        address=_str(status, "Addr"),
        engine_version=_str(_sub(desc, "Engine"), "EngineVersion"),
        os=_str(_sub(desc, "Platform"), "OS"),
        arch=_str(_sub(desc, "Platform"), "Architecture"),
        labels=_labels(spec.get("Labels")),
        engine_labels=_labels(_sub(desc, "Engine").get("Labels")),
        message=_str(status, "Message"),
        is_manager=mgr_map is not None or role == "manager",
        leader=_bool(mgr_map, "Leader") if mgr_map is not None else False,
        reachability=(_str(mgr_map, "Reachability", "unknown").lower() or "unknown")
        if mgr_map is not None
        else ("unknown" if role == "manager" else ""),
        version=_count(_sub(obj, "Version"), "Index") or 0,
    )


_MODES = {
    "Replicated": "replicated",
    "Global": "global",
    "ReplicatedJob": "replicated-job",
    "GlobalJob": "global-job",
}


def parse_service(raw: object) -> Service:
    obj = _map(raw, "service")
    service_id = _id(obj, "service")
    spec = _sub(obj, "Spec")
    name = _str(spec, "Name")
    if not name:
        raise ParseError(f"service {service_id}: missing Spec.Name")
    mode_obj = _sub(spec, "Mode")
    mode = "replicated"
    replicas: int | None = None
    for key, value in _MODES.items():
        if key in mode_obj:
            mode = value
            break
    max_concurrent: int | None = None
    if mode == "replicated":
        replicas = _count(_sub(mode_obj, "Replicated"), "Replicas")
    elif mode == "replicated-job":
        job = _sub(mode_obj, "ReplicatedJob")
        replicas = _count(job, "TotalCompletions")
        max_concurrent = _count(job, "MaxConcurrent")
    template = _sub(spec, "TaskTemplate")
    container = _sub(template, "ContainerSpec")
    placement = _sub(template, "Placement")
    constraints_raw = placement.get("Constraints")
    constraints = (
        tuple(c for c in constraints_raw if isinstance(c, str))
        if isinstance(constraints_raw, list)
        else ()
    )
    update = _sub(obj, "UpdateStatus")
    status = _sub(obj, "ServiceStatus")
    return Service(
        id=service_id,
        name=name,
        mode=mode,
        # Stack deploys pin images by digest; the tag is what people read.
        image=_str(container, "Image").split("@", 1)[0],
        labels=_labels(spec.get("Labels")),
        replicas=replicas,
        constraints=constraints,
        force_update=_count(template, "ForceUpdate") or 0,
        version=_count(_sub(obj, "Version"), "Index") or 0,
        update_state=_str(update, "State").lower(),
        update_started_at=parse_time(update.get("StartedAt")),
        running_tasks=_count(status, "RunningTasks"),
        desired_tasks=_count(status, "DesiredTasks"),
        completed_tasks=_count(status, "CompletedTasks"),
        max_concurrent=max_concurrent,
        restart_condition=(
            _str(_sub(template, "RestartPolicy"), "Condition", "any").lower() or "any"
        ),
    )


def parse_task(raw: object) -> Task:
    obj = _map(raw, "task")
    task_id = _id(obj, "task")
    service_id = _str(obj, "ServiceID")
    if not service_id:
        raise ParseError(f"task {task_id}: missing ServiceID")
    status = _sub(obj, "Status")
    exit_code = _int(_sub(status, "ContainerStatus"), "ExitCode")
    return Task(
        id=task_id,
        service_id=service_id,
        node_id=_str(obj, "NodeID"),
        slot=_count(obj, "Slot") or 0,
        state=_str(status, "State", "unknown").lower() or "unknown",
        err=_str(status, "Err"),
        timestamp=parse_time(status.get("Timestamp")),
        created_at=parse_time(obj.get("CreatedAt")),
        exit_code=exit_code,
        version=_count(_sub(obj, "Version"), "Index") or 0,
        desired_state=_str(obj, "DesiredState").lower(),
    )


def parse_info(raw: object) -> SwarmInfo:
    obj = _map(raw, "info")
    swarm = _sub(obj, "Swarm")
    return SwarmInfo(
        node_id=_str(swarm, "NodeID"),
        local_node_state=_str(swarm, "LocalNodeState", "inactive").lower(),
        control_available=_bool(swarm, "ControlAvailable"),
        cluster_id=_str(_sub(swarm, "Cluster"), "ID"),
        error=_str(swarm, "Error"),
        hostname=_str(obj, "Name"),
    )


def parse_event(raw: object) -> Event:
    obj = _map(raw, "event")
    actor = _sub(obj, "Actor")
    return Event(
        type=_str(obj, "Type"),
        action=_str(obj, "Action"),
        actor_id=_str(actor, "ID"),
        time_nano=_count(obj, "timeNano") or 0,
    )


_SWARM = "com.docker.swarm."
SWARM_TASK_LABEL = _SWARM + "task.id"
"""On every container swarm runs for a task, and on no other."""


def parse_container_event(raw: object) -> ContainerEvent:
    """One event of a node's own task containers; ``ParseError`` for any other."""
    obj = _map(raw, "container event")
    actor = _sub(obj, "Actor")
    attrs = _sub(actor, "Attributes")
    action = _str(obj, "Action")
    health = ""
    if action.startswith("health_status"):
        # "health_status: unhealthy": the status is in the action's text.
        action, _, health = action.partition(":")
        health = health.strip()
    container_id, task_id = _str(actor, "ID"), _str(attrs, SWARM_TASK_LABEL)
    if _str(obj, "Type") != "container" or not container_id or not task_id:
        raise ParseError(f"not a task container's event: {_str(obj, 'Type')} {action}")
    exit_text = _str(attrs, "exitCode")
    return ContainerEvent(
        action=action,
        container_id=container_id,
        service_name=_str(attrs, _SWARM + "service.name"),
        stack=_str(attrs, STACK_LABEL),
        task_id=task_id,
        node_id=_str(attrs, _SWARM + "node.id"),
        time_nano=_count(obj, "timeNano") or 0,
        exit_code=int(exit_text) if exit_text.lstrip("-").isdigit() else None,
        health=health,
    )


def parse_list(
    raw: object, parse_one: Callable[[object], T], what: str
) -> tuple[list[T], list[str]]:
    """Parse a list answer; returns the good objects and one message per bad one."""
    if not isinstance(raw, list):
        raise ParseError(f"{what}: expected a list, got {type(raw).__name__}")
    good: list[T] = []
    problems: list[str] = []
    for item in raw:
        try:
            good.append(parse_one(item))
        except ParseError as exc:
            problems.append(str(exc))
    return good, problems
