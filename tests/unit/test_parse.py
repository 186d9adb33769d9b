from __future__ import annotations

import json

import pytest

from exporter.decode import NODES, SERVICES, split
from exporter.parse import (
    parse_event,
    parse_info,
    parse_list,
    parse_node,
    parse_service,
    parse_task,
    parse_time,
)
from exporter.reasons import classify
from exporter.shapes import ParseError
from exporter.types import UpdateConfig
from tests.unit.samples import SampleSet


def test_nodes_sample_parses_workers_without_manager_status(sample: SampleSet) -> None:
    nodes, problems = parse_list(sample.load("nodes.json"), parse_node, "node")
    assert problems == []
    by_host = {n.hostname: n for n in nodes}
    assert sorted(by_host) == ["lab-m1", "lab-m2", "lab-m3", "lab-w1"]
    assert by_host["lab-m1"].leader and by_host["lab-m1"].reachability == "reachable"
    assert by_host["lab-m2"].availability == "drain"
    w = by_host["lab-w1"]
    assert (w.role, w.is_manager, w.leader, w.reachability) == ("worker", False, False, "")
    assert w.label("gpu") == "true"


def test_one_manager_down_sample(sample: SampleSet) -> None:
    nodes, _ = parse_list(sample.load("nodes-one-manager-down.json"), parse_node, "node")
    down = [n for n in nodes if n.state == "down"]
    assert len(down) == 1
    assert down[0].reachability == "unreachable"
    assert down[0].message == "heartbeat failure"


def test_services_sample_modes_status_and_stack(sample: SampleSet) -> None:
    services, problems = parse_list(sample.load("services-status.json"), parse_service, "s")
    assert problems == []
    by_name = {s.name: s for s in services}
    assert by_name["agent"].mode == "global"
    assert by_name["agent"].constraints == ("node.labels.gpu==true",)
    assert by_name["oneshot"].mode == "replicated-job"
    assert by_name["web"].stack == "shop"
    assert by_name["web"].update_state == "updating"
    crashy = by_name["crashy"]
    assert crashy.desired_tasks == 2 and (crashy.running_tasks or 0) < 2
    assert crashy.stack == ""
    assert by_name["oneshot"].replicas == 1  # TotalCompletions
    assert by_name["hungry"].running_tasks == 0 and by_name["hungry"].desired_tasks == 1


def test_tasks_sample_error_reasons(sample: SampleSet) -> None:
    tasks, problems = parse_list(sample.load("tasks.json"), parse_task, "task")
    assert problems == []
    reasons = {classify(t.err, t.exit_code) for t in tasks if t.err}
    assert reasons == {"nonzero_exit", "image", "no_suitable_node", "insufficient_resources"}
    assert all(t.timestamp > 1.7e9 for t in tasks)
    failed = [t for t in tasks if t.state == "failed"]
    assert failed and all(t.exit_code == 3 for t in failed)


def test_updates_sample_how_each_update_ended(sample: SampleSet) -> None:
    # engine-samples/*/services-updates.json (lab.capture --updates): updated, rolled back
    # by the engine, paused, rolled back by hand, and one made through the API without an
    # UpdateConfig and never updated; both engines alike, the docker CLI writing the same
    # UpdateConfig and RollbackConfig into what it creates.
    services, problems = parse_list(sample.load("services-updates.json"), parse_service, "s")
    assert problems == []
    by_name = {s.name: s for s in services}
    ended = {n: (s.update_state, s.update_message) for n, s in by_name.items()}
    assert ended == {
        "updated": ("completed", "update completed"),
        "rolledback": ("rollback_completed", "rollback completed"),
        "paused": ("paused", ended["paused"][1]),
        "byhand": ("rollback_completed", "rollback completed"),
        "bare": ("", ""),
    }
    assert ended["paused"][1].startswith(
        "update paused due to failure or early termination of task "
    )
    for name in ("updated", "rolledback", "byhand"):
        svc = by_name[name]
        assert 0 < svc.update_started_at < svc.update_completed_at < svc.update_started_at + 60
    assert by_name["paused"].update_completed_at == 0.0 and by_name["bare"].update_started_at == 0.0
    assert by_name["rolledback"].update_config == UpdateConfig("rollback", 2.0, 0.0, "stop-first")
    assert by_name["paused"].update_config == UpdateConfig("pause", 2.0, 0.0, "stop-first")
    assert by_name["paused"].rollback_config == UpdateConfig("pause", 2.0, 0.0, "stop-first")
    # No UpdateConfig at all: what the engine does then.
    assert by_name["bare"].update_config == by_name["bare"].rollback_config == UpdateConfig()


def test_info_quorum_lost(sample: SampleSet) -> None:
    info = parse_info(sample.load("info-quorum-lost.json"))
    assert (info.local_node_state, info.control_available) == ("active", True)
    assert info.has_leader_error and info.hostname == "lab-m1"
    healthy = parse_info(sample.load("info.json"))
    assert healthy.control_available and not healthy.has_leader_error and healthy.error == ""
    assert healthy.system_time == parse_time(sample.load("info.json")["SystemTime"]) > 1.7e9


def test_events_sample(sample: SampleSet) -> None:
    lines = sample.path("events-swarm.jsonl").read_text().splitlines()
    raw = [json.loads(line) for line in lines if line.strip()]
    events = [parse_event(r) for r in raw]
    assert {e.type for e in events} >= {"node", "service"}
    assert all(e.actor_id for e in events)
    m2 = next(
        n["ID"] for n in sample.load("nodes.json") if n["Description"]["Hostname"] == "lab-m2"
    )
    assert any((e.type, e.action, e.actor_id) == ("node", "update", m2) for e in events)
    # API 1.52 drops the deprecated status/id/from (swarm events never had them): only
    # Type, Action and Actor are read, so an answer without them parses the same.
    legacy = {"status", "id", "from"}
    assert not any(legacy & set(r) for r in raw)
    with_legacy = [{**r, "status": "x", "id": "y", "from": "z"} for r in raw]
    assert [parse_event(r) for r in with_legacy] == events


@pytest.mark.parametrize(
    "raw",
    [None, [], "x", {"ID": ""}, {"Spec": {}}],
)
def test_unusable_objects_raise_parse_error(raw: object) -> None:
    with pytest.raises(ParseError):
        parse_node(raw)


def test_garbled_fields_get_defaults_not_crashes() -> None:
    node = parse_node(
        {
            "ID": "n1",
            "Spec": {"Role": 7, "Labels": "nope", "Availability": None},
            "Status": {"State": "Exploding"},
            "ManagerStatus": None,
            "Description": [],
        }
    )
    assert node.state == "exploding"  # kept, lower-cased: exported, not dropped
    assert node.role == "worker" and node.labels == () and node.availability == "active"
    svc = parse_service({"ID": "s1", "Spec": {"Name": "x", "Mode": {"Weird": {}}}})
    assert svc.mode == "replicated" and svc.replicas is None
    task = parse_task({"ID": "t1", "ServiceID": "s1", "Status": {"State": "Hibernating"}})
    assert task.state == "hibernating" and task.timestamp == 0.0
    with pytest.raises(ParseError):
        parse_service({"ID": "s1", "Spec": {}})
    with pytest.raises(ParseError):
        parse_task({"ID": "t1"})


def test_parse_list_keeps_good_objects() -> None:
    good, problems = parse_list([{"ID": "a"}, 5, {"nope": 1}], parse_node, "node")
    assert [n.id for n in good] == ["a"]
    assert len(problems) == 2
    with pytest.raises(ParseError):
        parse_list({"message": "x"}, parse_node, "node")


def test_parse_time() -> None:
    want = pytest.approx(1795713006.771732, abs=1e-6)
    assert parse_time("2026-11-26T17:10:06.771732018Z") == want
    assert parse_time("0001-01-01T00:00:00Z") == 0.0
    assert parse_time("garbage") == 0.0
    assert parse_time(None) == 0.0
    assert parse_time("2026-11-26T17:10:06Z") == 1795713006.0
    assert parse_time("2026-11-26T17:10:06.5Z") == 1795713006.5


def test_classify() -> None:
    assert classify("") == "none"
    assert classify("", exit_code=3) == "nonzero_exit"
    assert classify("task: non-zero exit (137): OOMKilled") == "oom"
    assert classify("task: unhealthy container") == "healthcheck"
    assert classify("No such image: nosuch/image:1") == "image"
    assert classify("something new") == "other"
    assert classify('invalid mount config: bind source "/srv/room/x"') == "mount"


# What each engine wrote for each way a task failed (engine-samples/*/task-errors.json,
# the "case" of each), and the reason it must read as.
ENGINE_CASES = {
    "mount": {"mount", "no_suitable_node"},  # an unknown volume plugin: "missing plugin"
    "network": {"network"},
    "secret_config": {"secret_config"},
    "no_space": {"no_space", "nonzero_exit"},  # an app's own full tmpfs: just its exit
    "max_replicas": {"max_replicas"},
    "constraint": {"no_suitable_node"},
    "resources": {"insufficient_resources"},
    "image": {"image"},
    "exit": {"nonzero_exit"},
    "health": {"healthcheck"},
    "oom": {"nonzero_exit"},  # the managers say only exit 137: the nodes say oom
    "platform": {"no_suitable_node"},
    "start": {"other"},
}


def test_every_engine_text_has_its_reason(sample: SampleSet) -> None:
    seen: dict[str, set[str]] = {}
    for case in sample.load("task-errors.json"):
        text = case.get("Err") or ""
        if not text:
            # A task stuck in new or preparing says nothing (yet); a refusal (Refused)
            # came before any task existed.
            continue
        seen.setdefault(case["case"], set()).add(classify(text, case.get("ExitCode")))
    assert set(seen) == set(ENGINE_CASES)
    for case, reasons in seen.items():
        assert reasons <= ENGINE_CASES[case], (case, reasons)
    # Each new reason is met on each engine.
    found = set().union(*seen.values())
    assert {"mount", "network", "secret_config", "no_space", "max_replicas"} <= found


def test_what_placement_reads_both_ways() -> None:
    """Generic resources, max replicas, platforms and host-mode ports, as the engine
    writes them (api/types/swarm), the same by msgspec and by the lenient reading."""
    node = {
        "ID": "n1",
        "Description": {
            "Resources": {
                "NanoCPUs": 2_000_000_000,
                "GenericResources": [
                    {"NamedResourceSpec": {"Kind": "gpu", "Value": "UUID-1"}},
                    {"NamedResourceSpec": {"Kind": "gpu", "Value": "UUID-2"}},
                    {"DiscreteResourceSpec": {"Kind": "ssd", "Value": 3}},
                    "garbage",
                ],
            }
        },
    }
    service = {
        "ID": "s1",
        "Spec": {
            "Name": "web",
            "TaskTemplate": {
                "Placement": {
                    "MaxReplicas": 2,
                    "Platforms": [{"Architecture": "amd64", "OS": "linux"}, {}],
                },
                "Resources": {
                    "Reservations": {
                        "GenericResources": [{"DiscreteResourceSpec": {"Kind": "gpu", "Value": 1}}]
                    }
                },
            },
            "EndpointSpec": {
                "Ports": [
                    {
                        "Protocol": "tcp",
                        "TargetPort": 80,
                        "PublishedPort": 8080,
                        "PublishMode": "host",
                    },
                    {"Protocol": "udp", "PublishedPort": 53, "PublishMode": "ingress"},
                    {"PublishedPort": 9000, "PublishMode": "host"},
                    {"TargetPort": 81, "PublishMode": "host"},
                ]
            },
        },
    }
    n = parse_node(node)
    s = parse_service(service)
    assert n.generic == (("gpu", 2), ("ssd", 3))
    assert s.max_replicas == 2 and s.platforms == (("linux", "amd64"),)
    assert s.generic_reservation == (("gpu", 1),)
    assert s.host_ports == (("tcp", 8080), ("tcp", 9000))
    # msgspec refuses the garbage element: that node is read leniently, the same way.
    for reader, raw, want in ((NODES, node, n), (SERVICES, service, s)):
        items = split(json.dumps([raw]).encode())
        assert items is not None
        assert reader.read(items) == ([want], [])
    del node["Description"]["Resources"]["GenericResources"][3]  # type: ignore[index]
    items = split(json.dumps([node]).encode())
    assert items is not None and NODES.decoder.decode(items[0]) is not None
