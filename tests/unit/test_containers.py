"""A node's own task-container events, counted: from the captured events of both engines."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from exporter.containers import NodeContainers
from exporter.parse import parse_container_event
from exporter.shapes import ParseError
from exporter.types import ContainerEvent
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
    assert set(crash.exits) == {"nonzero_exit"} and crash.last_exit_code == 3
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
    # A kill only says why the next death happened: it changes no count by itself.
    assert all(changed for changed, e in zip(first, seen, strict=True) if e.action != "kill")
    before = {k: (dict(v.exits), v.starts, v.unhealthy) for k, v in node.services.items()}
    # A reconnect from before the last events: the engine replays them.
    assert not any(node.apply(e) for e in seen[len(seen) // 2 :])
    assert {k: (dict(v.exits), v.starts, v.unhealthy) for k, v in node.services.items()} == before
    assert node.take_changes() == frozenset(before)
    assert node.take_changes() == frozenset()


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
