"""Every rule of ``exporter.parse`` about odd values, written down with its figure.

Each case is one object of a list answer, decoded as the engine client does it
(``exporter.decode``: msgspec, or for an object it refuses, ``json.loads`` and the
lenient reading), and given to ``parse_*`` as decoded JSON: both must give the
figures below. ``falls_back`` says which way the list path took (msgspec
refuses a field of an unexpected type; a null or a missing field it takes).
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest

from exporter.decode import NODES, SERVICES, TASKS, Reader, split
from exporter.parse import parse_time
from exporter.shapes import ParseError
from exporter.types import NO_RESOURCES, Resources, UpdateConfig

DROP = object()
"""As a value in ``Case.changes``: the key is removed."""

NODE: dict[str, Any] = {
    "ID": "n1abcdefghijklmnopqrstuvw",
    "Version": {"Index": 7},
    "Spec": {"Role": "worker", "Availability": "active", "Labels": {}},
    "Description": {"Hostname": "h1", "Platform": {"OS": "linux"}},
    "Status": {"State": "ready", "Addr": "10.0.0.1"},
}
SERVICE: dict[str, Any] = {
    "ID": "s1",
    "Spec": {
        "Name": "web",
        "Mode": {"Replicated": {"Replicas": 2}},
        "TaskTemplate": {"ContainerSpec": {"Image": "nginx:1"}},
    },
}
TASK: dict[str, Any] = {
    "ID": "t1",
    "ServiceID": "s1",
    "Slot": 1,
    "Status": {"State": "running", "Timestamp": "2026-11-26T17:10:06Z"},
    "DesiredState": "running",
}
BASES: dict[str, tuple[dict[str, Any], Reader[Any, Any]]] = {
    "node": (NODE, NODES),
    "service": (SERVICE, SERVICES),
    "task": (TASK, TASKS),
}
T0 = 1795713006.0  # 2026-11-26T17:10:06Z


@dataclass(frozen=True)
class Case:
    rule: str
    kind: str
    changes: dict[str, object]
    """Dotted path -> value (``DROP``: removed; the path "" replaces the object)."""
    want: dict[str, object] | str
    """Fields of the parsed object, or the ParseError's text (the object skipped)."""
    falls_back: bool = False


# One case a line, as a table.
# fmt: off
CASES = [
    # -- null, missing, wrong type: a default
    Case("null field is missing", "node", {"Spec.Role": None}, {"role": "worker"}),
    Case("wrong type is missing", "node", {"Spec.Role": 7}, {"role": "worker"}, True),
    Case("empty enum: its default", "node", {"Spec.Availability": ""}, {"availability": "active"}),
    Case("missing sub-object", "node", {"Status": DROP}, {"state": "unknown", "address": ""}),
    Case("null sub-object", "node", {"Status": None}, {"state": "unknown", "address": ""}),
    Case("sub-object of a wrong type", "node", {"Description": []},
         {"hostname": "n1abcdefghij", "os": "", "engine_version": ""}, True),
    Case("hostname falls back to the ID", "node", {"Description.Hostname": ""},
         {"hostname": "n1abcdefghij"}),
    # -- enums: lower-cased, unknown ones kept
    Case("enum lower-cased", "node", {"Spec.Availability": "Drain"}, {"availability": "drain"}),
    Case("unknown enum kept", "node", {"Status.State": "Exploding"}, {"state": "exploding"}),
    # -- labels: sorted pairs; values as text; not a map: none
    Case("labels sorted", "node", {"Spec.Labels": {"b": "2", "a": "1"}},
         {"labels": (("a", "1"), ("b", "2"))}),
    Case("labels not a map", "node", {"Spec.Labels": "nope"}, {"labels": ()}, True),
    Case("label values as text", "node", {"Spec.Labels": {"n": 5, "t": True, "z": None}},
         {"labels": (("n", "5"), ("t", "True"), ("z", "None"))}, True),
    Case("engine labels", "node", {"Description.Engine": {"Labels": {"k": "v"}}},
         {"engine_labels": (("k", "v"),)}),
    # -- booleans: only a JSON true
    Case("leader true", "node", {"ManagerStatus": {"Leader": True}}, {"leader": True}),
    Case("leader as a string", "node", {"ManagerStatus": {"Leader": "true"}},
         {"leader": False, "is_manager": True}, True),
    Case("leader as a number", "node", {"ManagerStatus": {"Leader": 1}}, {"leader": False}, True),
    # -- managers and workers
    Case("worker: no ManagerStatus", "node", {},
         {"is_manager": False, "leader": False, "reachability": ""}),
    Case("ManagerStatus null", "node", {"ManagerStatus": None},
         {"is_manager": False, "reachability": ""}),
    Case("manager role, no ManagerStatus", "node", {"Spec.Role": "Manager"},
         {"role": "manager", "is_manager": True, "reachability": "unknown"}),
    Case("empty ManagerStatus", "node", {"ManagerStatus": {}},
         {"is_manager": True, "leader": False, "reachability": "unknown"}),
    Case("ManagerStatus not a map", "node", {"ManagerStatus": []}, {"is_manager": False}, True),
    Case("reachability lower-cased", "node", {"ManagerStatus": {"Reachability": "Unreachable"}},
         {"reachability": "unreachable"}),
    # -- counts: a negative one, a float, a bool, a string are not figures
    Case("negative version", "node", {"Version.Index": -3}, {"version": 0}),
    Case("float version", "node", {"Version.Index": 3.0}, {"version": 0}, True),
    Case("string version", "node", {"Version.Index": "5"}, {"version": 0}, True),
    Case("huge version kept", "node", {"Version.Index": 10**30}, {"version": 10**30}),
    # -- resources: in cores and bytes
    Case("node resources", "node",
         {"Description.Resources": {"NanoCPUs": 2_500_000_000, "MemoryBytes": 1024}},
         {"cpus": 2.5, "memory_bytes": 1024}),
    Case("negative resources", "node",
         {"Description.Resources": {"NanoCPUs": -1, "MemoryBytes": -5}},
         {"cpus": 0.0, "memory_bytes": 0}),
    # -- strings of any length and content kept as they came (cut when rendered); a
    # name (a node's hostname) cut at the edge and made unique with its ID instead
    Case("huge name cut and made unique", "node", {"Description.Hostname": "h" * 200_000},
         {"hostname": "h" * 1000 + "~n1abcdefghij"}),
    Case("huge message kept", "node", {"Status.Message": "m" * 200_000},
         {"message": "m" * 200_000}),
    Case("any text kept", "node", {"Status.Message": 'a"\\\n\u00e9\u0000'},
         {"message": 'a"\\\n\u00e9\u0000'}),
    # -- unusable objects: skipped, with the reason
    Case("no ID", "node", {"ID": DROP}, "node: missing ID"),
    Case("empty ID", "node", {"ID": ""}, "node: missing ID"),
    Case("ID not a string", "node", {"ID": 5}, "node: missing ID", True),
    Case("a number", "node", {"": 5}, "node: expected an object, got int", True),
    Case("a string", "node", {"": "bad"}, "node: expected an object, got str", True),
    Case("null", "node", {"": None}, "node: expected an object, got NoneType", True),
    Case("a list", "task", {"": []}, "task: expected an object, got list", True),
    # -- services
    Case("no name", "service", {"Spec.Name": DROP}, "service s1: missing Spec.Name"),
    Case("empty name", "service", {"Spec.Name": ""}, "service s1: missing Spec.Name"),
    Case("no spec", "service", {"Spec": None}, "service s1: missing Spec.Name"),
    Case("name not a string", "service", {"Spec.Name": 5}, "service s1: missing Spec.Name", True),
    Case("replicated", "service", {}, {"mode": "replicated", "replicas": 2}),
    Case("mode by its key, even null", "service", {"Spec.Mode": {"Global": None}},
         {"mode": "global", "replicas": None}),
    Case("mode by its key, in a fixed order", "service",
         {"Spec.Mode": {"Global": {}, "Replicated": {"Replicas": 3}}},
         {"mode": "replicated", "replicas": 3}),
    Case("unknown mode: replicated", "service", {"Spec.Mode": {"Weird": {}}},
         {"mode": "replicated", "replicas": None}),
    Case("no mode: replicated", "service", {"Spec.Mode": DROP},
         {"mode": "replicated", "replicas": None}),
    Case("mode value not a map", "service", {"Spec.Mode": {"Replicated": 5}},
         {"mode": "replicated", "replicas": None}, True),
    Case("replicated job", "service",
         {"Spec.Mode": {"ReplicatedJob": {"TotalCompletions": 4, "MaxConcurrent": 2}}},
         {"mode": "replicated-job", "replicas": 4, "max_concurrent": 2}),
    Case("global job", "service", {"Spec.Mode": {"GlobalJob": {}}},
         {"mode": "global-job", "replicas": None, "max_concurrent": None}),
    Case("negative replicas", "service", {"Spec.Mode.Replicated.Replicas": -3}, {"replicas": None}),
    Case("replicas true", "service", {"Spec.Mode.Replicated.Replicas": True},
         {"replicas": None}, True),
    Case("task counts", "service",
         {"ServiceStatus": {"RunningTasks": -1, "DesiredTasks": 2, "CompletedTasks": -4}},
         {"running_tasks": None, "desired_tasks": 2, "completed_tasks": None}),
    Case("no status: no counts", "service", {},
         {"running_tasks": None, "desired_tasks": None, "completed_tasks": None}),
    Case("count as a string", "service", {"ServiceStatus": {"RunningTasks": "3"}},
         {"running_tasks": None}, True),
    Case("image digest cut", "service",
         {"Spec.TaskTemplate.ContainerSpec.Image": "nginx:1@sha256:abc"}, {"image": "nginx:1"}),
    Case("no image", "service", {"Spec.TaskTemplate": None}, {"image": "", "constraints": ()}),
    # The task template is kept whole (its digest says which tasks run on it) and read
    # on its own: a field of a wrong type in it sends the template alone the lenient
    # way, not the service.
    Case("constraints keep strings", "service",
         {"Spec.TaskTemplate.Placement": {"Constraints": ["a", 1, None, "b"]}},
         {"constraints": ("a", "b")}),
    Case("constraints not a list", "service",
         {"Spec.TaskTemplate.Placement": {"Constraints": "a"}}, {"constraints": ()}),
    Case("template not an object", "service", {"Spec.TaskTemplate": "x"},
         {"image": "", "template_digest": ""}),
    Case("negative force update", "service", {"Spec.TaskTemplate.ForceUpdate": -1},
         {"force_update": 0}),
    Case("update state", "service",
         {"UpdateStatus": {"State": "Rollback_Started",
                           "StartedAt": "2026-11-26T17:10:06.771732018Z"}},
         {"update_state": "rollback_started", "update_started_at": T0 + 0.771732}),
    Case("never updated", "service", {}, {"update_state": "", "update_started_at": 0.0}),
    Case("unparsable time", "service", {"UpdateStatus": {"StartedAt": "garbage"}},
         {"update_started_at": 0.0}),
    Case("time not a string", "service", {"UpdateStatus": {"StartedAt": 5}},
         {"update_started_at": 0.0}, True),
    Case("restart condition", "service",
         {"Spec.TaskTemplate.RestartPolicy": {"Condition": "On-Failure"}},
         {"restart_condition": "on-failure"}),
    Case("empty restart condition", "service",
         {"Spec.TaskTemplate.RestartPolicy": {"Condition": ""}}, {"restart_condition": "any"}),
    Case("no restart policy", "service", {}, {"restart_condition": "any"}),
    Case("reservation and limit", "service",
         {"Spec.TaskTemplate.Resources": {
             "Reservations": {"NanoCPUs": 500_000_000, "MemoryBytes": 1 << 20}, "Limits": None}},
         {"reservation": Resources(0.5, 1 << 20), "limit": NO_RESOURCES}),
    Case("limit of a wrong type", "service",
         {"Spec.TaskTemplate.Resources": {"Limits": {"MemoryBytes": "1G"}}},
         {"limit": NO_RESOURCES}),
    Case("update finished", "service",
         {"UpdateStatus": {"State": "rollback_completed", "Message": "rollback completed",
                           "CompletedAt": "2026-11-26T17:10:06Z"}},
         {"update_message": "rollback completed", "update_completed_at": T0}),
    Case("message not a string", "service", {"UpdateStatus": {"Message": ["x"]}},
         {"update_message": ""}, True),
    Case("no update config: the engine's defaults", "service", {},
         {"update_config": UpdateConfig("pause", 5.0, 0.0, "stop-first"),
          "rollback_config": UpdateConfig()}),
    Case("update config", "service",
         {"Spec.UpdateConfig": {"FailureAction": "Rollback", "Monitor": 3_000_000_000,
                                "Delay": 10_000_000_000, "Order": "start-first"}},
         {"update_config": UpdateConfig("rollback", 3.0, 10.0, "start-first")}),
    Case("monitor 0 or negative: the engine's 5s", "service",
         {"Spec.UpdateConfig": {"Monitor": 0, "Delay": -1, "FailureAction": ""},
          "Spec.RollbackConfig": {"Monitor": -5}},
         {"update_config": UpdateConfig(), "rollback_config": UpdateConfig()}),
    Case("monitor of a wrong type", "service", {"Spec.RollbackConfig": {"Monitor": "5s"}},
         {"rollback_config": UpdateConfig()}, True),
    # -- tasks
    Case("no service", "task", {"ServiceID": DROP}, "task t1: missing ServiceID"),
    Case("service not a string", "task", {"ServiceID": 5}, "task t1: missing ServiceID", True),
    Case("no ID before no service", "task", {"ID": None, "ServiceID": None}, "task: missing ID"),
    Case("null slot", "task", {"Slot": None}, {"slot": 0}),
    Case("negative slot", "task", {"Slot": -1}, {"slot": 0}),
    Case("float slot", "task", {"Slot": 2.0}, {"slot": 0}, True),
    Case("string slot", "task", {"Slot": "2"}, {"slot": 0}, True),
    Case("unknown state kept", "task", {"Status.State": "Hibernating"}, {"state": "hibernating"}),
    Case("no status", "task", {"Status": DROP},
         {"state": "unknown", "err": "", "timestamp": 0.0, "exit_code": None}),
    Case("negative exit code kept", "task", {"Status.ContainerStatus": {"ExitCode": -1}},
         {"exit_code": -1}),
    Case("exit code as a string", "task", {"Status.ContainerStatus": {"ExitCode": "3"}},
         {"exit_code": None}, True),
    Case("exit code true", "task", {"Status.ContainerStatus": {"ExitCode": True}},
         {"exit_code": None}, True),
    Case("no spec: no digest", "task", {}, {"spec_digest": ""}),
    Case("spec not an object: no digest", "task", {"Spec": [1]}, {"spec_digest": ""}),
    Case("nanoseconds cut", "task", {"Status.Timestamp": "2026-11-26T17:10:06.771732999Z"},
         {"timestamp": T0 + 0.771732}),
    Case("Go's zero time", "task", {"CreatedAt": "0001-01-01T00:00:00Z"}, {"created_at": 0.0}),
    Case("spaces around a time", "task", {"Status.Timestamp": " 2026-11-26T17:10:06.5Z "},
         {"timestamp": T0 + 0.5}),
    Case("time with an offset", "task", {"Status.Timestamp": "2026-11-26T18:10:06+01:00"},
         {"timestamp": T0}),
    Case("impossible date", "task", {"Status.Timestamp": "2026-02-30T00:00:00Z"},
         {"timestamp": 0.0}),
    Case("desired state lower-cased", "task", {"DesiredState": "Running"},
         {"desired_state": "running"}),
    Case("no desired state", "task", {"DesiredState": DROP}, {"desired_state": ""}),
    Case("unassigned", "task", {"NodeID": None}, {"node_id": ""}),
    Case("huge version kept", "task", {"Version": {"Index": 2**70}}, {"version": 2**70}),
]
# fmt: on


def build(base: dict[str, Any], changes: dict[str, object]) -> object:
    obj: Any = json.loads(json.dumps(base))
    for path, value in changes.items():
        if not path:
            return value
        *parents, last = path.split(".")
        cur = obj
        for key in parents:
            if not isinstance(cur.get(key), dict):
                cur[key] = {}
            cur = cur[key]
        if value is DROP:
            cur.pop(last, None)
        else:
            cur[last] = value
    return obj


def outcome(reader: Reader[Any, Any], raw: object) -> tuple[object, bool]:
    """What the list path makes of ``raw`` (the object or the ParseError's text), and
    whether msgspec refused it."""
    items = split(json.dumps([raw]).encode())
    assert items is not None
    try:
        reader.decoder.decode(items[0])
        refused = False
    except msgspec.ValidationError:
        refused = True
    good, skipped = reader.read(items)
    return (good[0] if good else skipped[0]), refused


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.kind}: {c.rule}")
def test_rule(case: Case) -> None:
    base, reader = BASES[case.kind]
    raw = build(base, case.changes)
    got, refused = outcome(reader, raw)
    assert refused == case.falls_back
    if isinstance(case.want, str):
        assert got == case.want
        with pytest.raises(ParseError) as err:
            reader.parse(raw)
        assert str(err.value) == case.want
        return
    assert {k: getattr(got, k) for k in case.want} == case.want
    assert got == reader.parse(raw)


def test_a_key_given_twice_counts_once_the_last() -> None:
    body = b'[{"ID": "t1", "ServiceID": "s1", "Slot": 1, "Slot": 2, "Labels": {}}]'
    items = split(body)
    assert items is not None
    assert TASKS.read(items)[0][0].slot == 2
    assert TASKS.parse(json.loads(body)[0]).slot == 2


def test_a_time_as_the_engine_writes_it_reads_as_any_other() -> None:
    # Times in Go's RFC3339Nano (UTC) take a shorter way through parse_time than any
    # other text; a leading space sends the same time the long way.
    rng = random.Random(3)
    times = [
        f"{y}-{m}-{d}T{t}{frac}Z"
        for y in ("0001", "1969", "1970", "2024", "2026", "9999")
        for m in ("00", "01", "02", "12", "13")
        for d in ("00", "01", "29", "30", "31", "32")
        for t in ("00:00:00", "23:59:59", "24:00:00", "12:60:00", "12:00:60")
        for frac in ("", ".0", ".5", ".123456", ".1234567", ".999999999", ".0000000001")
    ]
    times += [
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(rng.uniform(0, 4e9)))
        + f".{rng.randrange(10**9):09d}"[: rng.randrange(0, 11)].rstrip(".")
        + "Z"
        for _ in range(5000)
    ]
    for text in times:
        assert parse_time(text) == parse_time(" " + text), text
    assert parse_time("1970-01-01T00:00:00Z") == 0.0
    assert parse_time("1970-01-01T00:00:00.000001Z") == 1e-6
