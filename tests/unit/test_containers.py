"""A node's own task-container events, counted: from the captured events of both engines."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from exporter.containers import NodeContainers
from exporter.parse import parse_container_event, parse_list, parse_task_container
from exporter.shapes import ParseError
from exporter.types import STACK_LABEL, ContainerEvent, TaskContainer
from tests.unit.samples import SampleSet


def events(sample: SampleSet) -> list[ContainerEvent]:
    lines = sample.path("events-containers.jsonl").read_text().splitlines()
    return [parse_container_event(json.loads(line)) for line in lines if line]


def test_each_way_of_ending_has_its_reason(sample: SampleSet) -> None:
    node = NodeContainers()
    for e in events(sample):
        node.apply(e)
    by = {key[0]: counts for key, counts in node.services.items()}
    assert by["oom"].exits == {"oom": 1} and by["oom"].last_exit_code == 137
    assert by["sick"].exits == {"healthcheck": 1} and by["sick"].unhealthy >= 1
    assert by["once"].exits == {"completed": 1} and by["once"].last_exit_code == 0
    crash = by["crash"]
    # Each crash exit 3; the one container up when the service was removed (the modern
    # capture's: the old one's was in its restart delay) stopped, not failed.
    assert set(crash.exits) <= {"nonzero_exit", "stopped"} and crash.exits["stopped"] <= 1
    assert crash.starts >= crash.exits["nonzero_exit"] >= 5
    # Forced, then scaled to 0: each container the engine stopped (a kill before its
    # die, exit 137 once SIGKILL came) is stopped, none a failure.
    assert by["deployed"].exits == {"stopped": 3} and by["deployed"].last_exit_code == 137


def test_a_kill_that_does_not_mean_stop_leaves_the_death_its_own(sample: SampleSet) -> None:
    crash = next(e for e in events(sample) if e.action == "die" and e.exit_code == 3)
    node = NodeContainers()
    # A reload signal (docker kill -s HUP) before a crash: still a crash.
    hup = replace(crash, action="kill", signal="1", exit_code=None, time_nano=crash.time_nano - 1)
    assert not node.apply(hup)  # nothing to show by itself
    assert node.apply(crash)
    assert node.services[(crash.service_name, crash.stack)].exits == {"nonzero_exit": 1}
    # SIGTERM from the engine (a stop) before the next death: stopped.
    term = replace(hup, signal="15", time_nano=crash.time_nano + 1)
    node.apply(term)
    node.apply(replace(crash, time_nano=crash.time_nano + 2))
    assert node.services[(crash.service_name, crash.stack)].exits == {
        "nonzero_exit": 1,
        "stopped": 1,
    }


def test_a_replay_counts_nothing_twice(sample: SampleSet) -> None:
    node = NodeContainers()
    seen = events(sample)
    first = [node.apply(e) for e in seen]
    # A kill or an OOM only says why the next death happened: no count moves by itself.
    counted = [e.action in ("start", "die") or e.health == "unhealthy" for e in seen]
    assert first == counted
    before = {k: (dict(v.exits), v.starts, v.unhealthy) for k, v in node.services.items()}
    # A reconnect from before the last events: the engine replays them.
    assert not any(node.apply(e) for e in seen[len(seen) // 2 :])
    assert {k: (dict(v.exits), v.starts, v.unhealthy) for k, v in node.services.items()} == before
    assert node.take_changes() == (frozenset(before), frozenset())
    assert node.take_changes() == (frozenset(), frozenset())


def test_only_task_containers_events_are_read(sample: SampleSet) -> None:
    raw = json.loads(sample.path("events-containers.jsonl").read_text().splitlines()[0])
    del raw["Actor"]["Attributes"]["com.docker.swarm.task.id"]
    with pytest.raises(ParseError, match="not a task container"):
        parse_container_event(raw)
    raw["Type"] = "network"
    with pytest.raises(ParseError):
        parse_container_event(raw)
    e = events(sample)[0]
    assert e.service_name and e.task_id and e.node_id and e.time_nano > 1.7e18


def test_a_removed_services_counts_go_a_while_after_its_last_container(
    sample: SampleSet,
) -> None:
    """The capture ends with crash and sick removed: every crash container destroyed,
    one of sick's still stopping. Only crash is forgotten, and only after the while."""
    seen = events(sample)
    node = NodeContainers(forget_after=60)
    for e in seen:
        node.apply(e)
    node.take_changes()
    gone = max(e.time_nano for e in seen if e.service_name == "crash") / 1e9
    assert node.forget_idle(gone + 59) == 0
    assert node.forget_idle(gone + 60) == 1
    assert node.take_changes() == (frozenset(), frozenset({("crash", "")}))
    assert {k[0] for k in node.services} == {"oom", "sick", "once", "deployed"}


def test_the_engines_list_says_what_a_lost_stream_did_not(sample: SampleSet) -> None:
    """Containers listed at a stream's opening: those created before this instance hold
    their service; a service whose containers went while the stream was lost is idle
    from the listing on."""
    listed, _ = parse_list(sample.load("containers.json"), parse_task_container, "c")
    assert {c.service[0] for c in listed} == {"crash", "sick", "deployed", "oom", "once"}
    seen = [e for e in events(sample) if e.action != "destroy"]  # the destroys: missed
    node = NodeContainers(forget_after=60)
    for e in seen:
        node.apply(e)
    node.reconcile([c for c in listed if c.service[0] != "crash"], now=1000.0)
    assert node.forget_idle(1059.0) == 0 and node.forget_idle(1060.0) == 1
    assert ("crash", "") not in node.services
    # A service holding a container again is idle no more.
    node.reconcile(listed, now=2000.0)
    assert node.forget_idle(1e12) == 0


def test_past_the_bound_a_new_service_is_dropped_unless_an_idle_one_makes_room(
    sample: SampleSet,
) -> None:
    die = next(e for e in events(sample) if e.action == "die")
    node = NodeContainers(max_services=3)

    def died(name: str, n: int) -> ContainerEvent:
        return replace(die, service_name=name, container_id=name, time_nano=die.time_nano + n)

    for n, name in enumerate("abc"):
        node.apply(replace(died(name, n), action="create"))
        assert node.apply(died(name, n))
    assert not node.apply(died("d", 10)) and node.dropped == 1
    node.apply(replace(died("b", 11), action="destroy"))  # b: no container here now
    assert node.apply(died("d", 12)) and node.dropped == 1
    assert {k[0] for k in node.services} == {"a", "c", "d"}
    assert node.take_changes()[1] == {("b", "")}


def test_a_listed_task_container_is_read_or_refused() -> None:
    labels = {"com.docker.swarm.task.id": "t1", "com.docker.swarm.service.name": "web"}
    c = parse_task_container({"Id": "c1", "Labels": {**labels, STACK_LABEL: "shop"}})
    assert c == TaskContainer("c1", ("web", "shop"))
    bad: object
    for bad in ({"Id": "c1", "Labels": {}}, {"Labels": labels}, [], "x"):
        with pytest.raises(ParseError):
            parse_task_container(bad)
