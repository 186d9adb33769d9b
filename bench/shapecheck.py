"""Checks that the simulated engine's JSON has the real engine's shapes.

Every object the simulator renders is compared, key by key and in order, with
an object of the same kind and state in ``engine-samples/<API version>/`` (real
answers of dockerd 20.10 and Engine 28.5), for each engine the simulator can be,
and parsed with swarm-sentinel's own parser. Run by ``bench.run`` before
measuring; standalone: ``python -m bench.shapecheck``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from bench.sim.shapes import API_VERSIONS, SAMPLES, Shapes
from bench.sim.swarm import SimConfig, Swarm
from exporter.parse import parse_event, parse_info, parse_node, parse_service, parse_task

# Maps whose keys are data, not schema: compared as "a map of strings".
_DATA_MAPS = frozenset({"Labels", "Attributes", "Reservations", "Limits"})


def shape(obj: Any, key: str = "") -> Any:
    """Keys in order, recursively; lists by their first element; scalars by JSON type."""
    if isinstance(obj, dict):
        if key in _DATA_MAPS:
            return "map"
        return [(k, shape(v, k)) for k, v in obj.items()]
    if isinstance(obj, list):
        return ["list", shape(obj[0], key)] if obj else ["list"]
    if isinstance(obj, bool):
        return "bool"
    if isinstance(obj, int | float):
        return "number"
    if obj is None:
        return "null"
    return "string"


def _sample(name: str, api: str) -> Any:
    path = SAMPLES / api / name
    if name.endswith(".jsonl"):
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return json.loads(path.read_text())


def _pick(items: list[dict[str, Any]], pred: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    for item in items:
        if pred(item):
            return item
    raise LookupError("no such sample")


def _task_kind(t: dict[str, Any]) -> tuple[str, bool, bool]:
    return (t["Status"]["State"], "Slot" in t, "NodeID" in t)


def _templates(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """The task templates in a service or task object."""
    out = []
    for spec in (obj.get("Spec"), obj.get("PreviousSpec")):
        if isinstance(spec, dict):
            out.append(spec.get("TaskTemplate", spec))
    return [t for t in out if isinstance(t, dict)]


def _align(ours: Any, real: Any) -> Any:
    """Drop the parts of a task template that depend on data, not on the API: a
    RestartPolicy or placement constraints the sample's service did not set
    (other samples show both shapes)."""
    if not isinstance(ours, dict) or not isinstance(real, dict):
        return ours
    for mine, theirs in zip(_templates(ours), _templates(real), strict=False):
        if "RestartPolicy" not in theirs:
            mine.pop("RestartPolicy", None)
        if theirs.get("Placement") == {} and "Placement" in mine:
            mine["Placement"] = {}
    return ours


def _align_real(ours: Any, real: Any) -> Any:
    """The docker CLI of the 1.51 capture writes an UpdateConfig into every spec it
    creates, older ones wrote none: a client's choice, not the engine's shape."""
    if not isinstance(ours, dict) or not isinstance(real, dict):
        return real
    for key in ("Spec", "PreviousSpec"):
        mine, theirs = ours.get(key), real.get(key)
        if isinstance(mine, dict) and isinstance(theirs, dict) and "UpdateConfig" not in mine:
            theirs.pop("UpdateConfig", None)
    return real


def check(api: str) -> list[str]:
    """Returns the differences found (empty: all shapes match) for the engine of ``api``."""
    problems: list[str] = []
    js = Shapes(api)
    sw = Swarm(
        SimConfig(
            nodes=40,
            managers=3,
            services=60,
            tasks_per_service=3,
            broken_fraction=0.2,
            api_version=api,
        )
    )
    nodes = [json.loads(js.node_json(n)) for n in sw.nodes.values()]
    svc_objs = list(sw.services.values())
    # Drive some state changes the samples show: a failure, a forced update, a node down.
    replicated = next(s for s in svc_objs if s.mode == "replicated" and not s.probe)
    sw.restart(replicated, 1)
    sw.update_service(replicated, force_update=replicated.force_update + 1)
    worker = next(n for n in sw.nodes.values() if n.role == "worker")
    manager = next(n for n in sw.nodes.values() if n.role == "manager" and not n.leader)
    sw.set_node_state(manager, "down")
    services = [json.loads(js.service_json_status(s, sw.nodes)) for s in svc_objs]
    tasks = [json.loads(js.task_json(t)) for t in sw.tasks.values()]
    down = json.loads(js.node_json(manager))
    real_nodes = _sample("nodes.json", api)
    real_down = _sample("nodes-one-manager-down.json", api)
    real_services = _sample("services-status.json", api)
    real_tasks = _sample("tasks.json", api)
    real_events = _sample("events-swarm.jsonl", api)

    def compare(what: str, ours: Any, real: Any) -> None:
        ours = _align(json.loads(json.dumps(ours)), real)
        real = _align_real(ours, json.loads(json.dumps(real)))
        if shape(ours) != shape(real):
            problems.append(
                f"{api} {what}: shape differs\n  ours: {json.dumps(shape(ours))[:600]}\n"
                f"  real: {json.dumps(shape(real))[:600]}"
            )

    leader = next(n for n in nodes if n["ID"] == sw.leader.id)
    compare(
        "leader node", leader, _pick(real_nodes, lambda n: "Leader" in n.get("ManagerStatus", {}))
    )
    compare(
        "worker node",
        json.loads(js.node_json(worker)),
        _pick(real_nodes, lambda n: "ManagerStatus" not in n),
    )
    compare("manager down", down, _pick(real_down, lambda n: n["Status"]["State"] == "down"))
    compare(
        "replicated service",
        next(s for s in services if "Replicated" in s["Spec"]["Mode"] and "UpdateStatus" not in s),
        _pick(real_services, lambda s: s["Spec"]["Name"] == "crashy"),
    )
    compare(
        "global service",
        next(s for s in services if "Global" in s["Spec"]["Mode"]),
        _pick(real_services, lambda s: s["Spec"]["Name"] == "agent"),
    )
    ours_updating = json.loads(js.service_json_status(replicated, sw.nodes))
    real_updating = _pick(real_services, lambda s: s["Spec"]["Name"] == "web")
    # The sample's service has no RestartPolicy; ours do (crashy's shape, checked above).
    for spec in (ours_updating["Spec"], ours_updating["PreviousSpec"]):
        spec["TaskTemplate"].pop("RestartPolicy", None)
        spec["Labels"] = {}
    compare("service mid update", ours_updating, real_updating)
    wanted = {
        ("running", True, True): lambda t: _task_kind(t) == ("running", True, True),
        ("failed", True, True): lambda t: _task_kind(t) == ("failed", True, True),
        # The one without placement constraints (hungry): ours set none either.
        ("pending", True, False): lambda t: (
            _task_kind(t) == ("pending", True, False) and not t["Spec"].get("Placement")
        ),
        ("ready", True, True): lambda t: _task_kind(t) == ("ready", True, True),
        ("running", False, True): lambda t: _task_kind(t) == ("running", False, True),
    }
    for kind, pred in wanted.items():
        ours = next((t for t in tasks if _task_kind(t) == kind), None)
        if ours is None:
            problems.append(f"task {kind}: the simulator made none")
            continue
        real = _pick(real_tasks, pred)
        if "RestartPolicy" not in real["Spec"]:
            ours["Spec"].pop("RestartPolicy", None)
        compare(f"task {kind}", ours, real)
    events = [json.loads(line) for _, _, line in sw.events]
    compare(
        "node event",
        next(e for e in events if e["Type"] == "node"),
        _pick(real_events, lambda e: e["Type"] == "node"),
    )
    compare(
        "service event",
        next(e for e in events if e["Type"] == "service"),
        _pick(real_events, lambda e: e["Type"] == "service"),
    )
    info = json.loads(js.info_json(sw.nodes, sw.leader))
    compare("info", info, _sample("info.json", api))
    # swarm-sentinel's parser must take all of it.
    try:
        parse_info(info)
        for n in nodes:
            parse_node(n)
        for s in services:
            parse_service(s)
        for t in tasks:
            parse_task(t)
        for e in events:
            parse_event(e)
    except ValueError as exc:
        problems.append(f"exporter.parse rejected an object: {exc}")
    return problems


def main() -> int:
    problems = [p for api in API_VERSIONS for p in check(api)]
    for p in problems:
        print(p, file=sys.stderr)
    print("shapecheck: " + ("ok" if not problems else f"{len(problems)} differences"))
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
