"""The model and its exposition text, fed with the real engine samples."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from dataclasses import replace

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from exporter.health import Health
from exporter.metrics import FAMILIES
from exporter.metrics.limits import SeriesLimit
from exporter.metrics.publish import Changes, Publisher
from exporter.metrics.text import TextStore
from exporter.model import SwarmModel
from exporter.parse import parse_list, parse_node, parse_service, parse_task
from exporter.types import Service
from tests.unit.samples import SampleSet


def build(sample: SampleSet) -> tuple[SwarmModel, TextStore, Publisher]:
    model = SwarmModel(clock=lambda: sample.now)
    store = TextStore(FAMILIES)
    health = Health(up=True, has_leader=True, synced=True, last_refresh=sample.now)
    model.replace_nodes(parse_list(sample.load("nodes.json"), parse_node, "n")[0])
    model.replace_services(parse_list(sample.load("services-status.json"), parse_service, "s")[0])
    model.replace_tasks(parse_list(sample.load("tasks.json"), parse_task, "t")[0], None, whole=True)
    publish = Publisher(model, health, store)
    publish(Changes.of(model.take_changes(), health=True))
    return model, store, publish


def samples(store: TextStore) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out = {}
    for fam in text_string_to_metric_families(store.render().decode()):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(store: TextStore, name: str, **labels: str) -> float | None:
    return samples(store).get((name, frozenset(labels.items())))


def test_cluster_quorum_figures(sample: SampleSet) -> None:
    _, store, _ = build(sample)
    assert value(store, "dockerswarm_managers") == 3
    assert value(store, "dockerswarm_managers_reachable") == 3
    assert value(store, "dockerswarm_manager_quorum") == 2
    assert value(store, "dockerswarm_manager_fault_tolerance") == 1
    assert value(store, "dockerswarm_cluster_has_leader") == 1
    assert value(store, "dockerswarm_up") == 1


def test_nodes(sample: SampleSet) -> None:
    model, store, _publish = build(sample)
    m2 = next(n for n in model.nodes.values() if n.hostname == "lab-m2")
    ident = {"node_id": m2.id, "hostname": "lab-m2"}
    assert value(store, "dockerswarm_node_availability", **ident, availability="drain") == 1
    assert value(store, "dockerswarm_node_availability", **ident, availability="active") == 0
    assert value(store, "dockerswarm_node_state", **ident, state="ready") == 1
    w1 = next(n for n in model.nodes.values() if n.hostname == "lab-w1")
    wid = {"node_id": w1.id, "hostname": "lab-w1"}
    assert value(store, "dockerswarm_node_labels", **wid, label_gpu="true") == 1
    # Workers have no reachability or leader series.
    assert not any(
        k[0] in ("dockerswarm_node_manager_reachability", "dockerswarm_node_leader")
        and ("node_id", w1.id) in k[1]
        for k in samples(store)
    )
    leaders = [k for k, v in samples(store).items() if k[0] == "dockerswarm_node_leader" and v]
    assert len(leaders) == 1


def test_services(sample: SampleSet) -> None:
    _, store, _ = build(sample)
    s = {"stack": ""}
    # agent is global with a gpu==true constraint: one eligible node.
    assert value(store, "dockerswarm_service_replicas_desired", service_name="agent", **s) == 1
    assert value(store, "dockerswarm_service_replicas_running", service_name="agent", **s) == 1
    assert value(store, "dockerswarm_service_replicas_desired", service_name="crashy", **s) == 2
    assert (
        value(
            store,
            "dockerswarm_service_task_failures_total",
            service_name="crashy",
            reason="nonzero_exit",
            **s,
        )
        or 0
    ) >= 1
    assert (
        value(
            store,
            "dockerswarm_service_task_failures_total",
            service_name="badimage",
            reason="image",
            **s,
        )
        or 0
    ) >= 1
    since = value(
        store,
        "dockerswarm_service_task_state_since_timestamp_seconds",
        service_name="pinned",
        state="pending",
        reason="no_suitable_node",
        **s,
    )
    assert since is not None and since > 1.7e9
    assert (
        value(
            store,
            "dockerswarm_service_task_state_since_timestamp_seconds",
            service_name="hungry",
            state="pending",
            reason="insufficient_resources",
            **s,
        )
        is not None
    )
    web = {"service_name": "web", "stack": "shop"}
    assert value(store, "dockerswarm_service_update_state", **web, state="updating") == 1
    assert value(store, "dockerswarm_service_replicas_desired", **web) == 3


def test_latest_task_per_slot_not_history(sample: SampleSet) -> None:
    model, _, _ = build(sample)
    crashy = next(v for v in model.views.values() if v.service.name == "crashy")
    # Two slots: the history of failed tasks must not be counted as current.
    assert sum(crashy.task_states.values()) == 2


def test_running_since_is_when_the_last_running_task_started(sample: SampleSet) -> None:
    model, _, _ = build(sample)
    tasks = parse_list(sample.load("tasks.json"), parse_task, "t")[0]
    for name in ("pinned", "hungry"):  # nothing runs
        assert next(v for v in model.views.values() if v.service.name == name).running_since == 0
    agent = next(v for v in model.views.values() if v.service.name == "agent")
    running = [t for t in tasks if t.service_id == agent.service.id and t.state == "running"]
    assert running and agent.running_since == max(t.timestamp for t in running) > 0


def test_failures_counted_once_per_task(sample: SampleSet) -> None:
    model, store, publish = build(sample)
    before = samples(store)
    tasks = parse_list(sample.load("tasks.json"), parse_task, "t")[0]
    model.replace_tasks(tasks, None, whole=True)
    publish(Changes.of(model.take_changes()))
    assert samples(store) == before


def test_removed_service_and_node_vanish(sample: SampleSet) -> None:
    model, store, publish = build(sample)
    sid = next(s.id for s in model.services.values() if s.name == "crashy")
    model.remove_service(sid)
    nid = next(n.id for n in model.nodes.values() if n.hostname == "lab-w1")
    model.remove_node(nid)
    publish(Changes.of(model.take_changes()))
    text = store.render().decode()
    assert 'service_name="crashy"' not in text
    assert nid not in text


def test_drain_changes_global_desired(sample: SampleSet) -> None:
    model, store, publish = build(sample)
    w1 = next(n for n in model.nodes.values() if n.hostname == "lab-w1")
    model.upsert_node(replace(w1, availability="drain"))
    publish(Changes.of(model.take_changes()))
    assert value(store, "dockerswarm_service_replicas_desired", service_name="agent", stack="") == 0


def test_openmetrics_headers(sample: SampleSet) -> None:
    _, store, _ = build(sample)
    om = store.render(openmetrics=True).decode()
    assert "# TYPE dockerswarm_service_task_failures counter" in om
    text = store.render().decode()
    assert "# TYPE dockerswarm_service_task_failures_total counter" in text


def test_promtool_check_metrics_is_clean(sample: SampleSet) -> None:
    assert shutil.which("promtool"), "promtool missing: make test installs package prometheus"
    _, store, _ = build(sample)
    proc = subprocess.run(
        ["promtool", "check", "metrics"], input=store.render(), capture_output=True, check=False
    )
    assert proc.returncode == 0 and not proc.stdout.strip() and not proc.stderr.strip(), (
        proc.stdout.decode() + proc.stderr.decode()
    )


def test_incremental_eligible_counts_match_a_recount(sample: SampleSet) -> None:
    import random

    model, _, _ = build(sample)
    rng = random.Random(7)
    nodes = list(model.nodes.values())
    constraint_sets = [(), ("node.labels.gpu==true",), ("node.role==manager",)]
    for c in constraint_sets:
        model.eligible_count(c)
    for _ in range(200):
        node = rng.choice(nodes)
        changed = replace(
            node,
            state=rng.choice(["ready", "down"]),
            availability=rng.choice(["active", "drain", "pause"]),
            labels=rng.choice([(), (("gpu", "true"),)]),
        )
        if rng.random() < 0.1:
            model.remove_node(node.id)
        else:
            model.upsert_node(changed)
        fresh = SwarmModel()
        fresh.nodes = dict(model.nodes)
        for c in constraint_sets:
            assert model.eligible_count(c) == fresh.eligible_count(c), c


def test_room_freed_under_the_cap_lets_the_waiting_in_at_once() -> None:
    """A cap of 5 series per family and 12 services: 5 shown. Once those 5 are removed,
    the next 5 of the others appear with that very publish (they used to stay out until
    they changed, or the 30-minute relist)."""
    model, store = SwarmModel(), TextStore(FAMILIES)
    limit = SeriesLimit(5, CollectorRegistry())
    publish = Publisher(model, Health(), store, limit=limit)
    for i in range(12):
        model.upsert_service(
            Service(
                id=f"s{i:02}", name=f"svc{i:02}", mode="replicated", image="x", labels=(),
                replicas=1, constraints=(), force_update=0, version=1,
            )
        )  # fmt: skip
    publish(Changes.of(model.take_changes()))

    def shown() -> set[str]:
        return {
            dict(labels)["service_name"]
            for (name, labels) in samples(store)
            if name == "dockerswarm_service_replicas_desired"
        }

    first = shown()
    assert len(first) == 5
    for sid in [f"s{i:02}" for i in range(12) if f"svc{i:02}" in first]:
        model.remove_service(sid)
    publish(Changes.of(model.take_changes()))
    second = shown()
    assert len(second) == 5 and not second & first


def test_node_changes_reach_the_services_a_recount_would(sample: SampleSet) -> None:
    """A node's change recomputes the services with a task there and the global services
    whose eligible nodes moved, found through indexes: the views stay those of a model
    fed the same objects from scratch."""
    import random

    model, _, _ = build(sample)
    tasks = parse_list(sample.load("tasks.json"), parse_task, "t")[0]
    rng = random.Random(11)
    nodes = list(model.nodes.values())
    for _ in range(60):
        node = rng.choice(nodes)
        model.upsert_node(
            replace(
                node,
                state=rng.choice(["ready", "down"]),
                availability=rng.choice(["active", "drain"]),
                labels=rng.choice([(), (("gpu", "true"),)]),
            )
        )
        fresh = SwarmModel(clock=lambda: sample.now)
        fresh.replace_nodes(model.nodes.values())
        fresh.replace_services(model.services.values())
        fresh.replace_tasks(tasks, None, whole=True)
        assert {s: replace(v, placement=None) for s, v in model.views.items()} == {
            s: replace(v, placement=None) for s, v in fresh.views.items()
        }


async def test_a_big_publish_is_rendered_a_slice_at_a_time(sample: SampleSet) -> None:
    """While a loop runs, a publish renders for at most ``slice_seconds`` (at least one
    object) and leaves the rest to later turns of the loop, each read from the model as
    it is then; what it ends with is what rendering everything at once gives."""
    model, _, _ = build(sample)
    store = TextStore(FAMILIES)
    health = Health(up=True, has_leader=True, synced=True, last_refresh=sample.now)
    publish = Publisher(model, health, store, slice_seconds=0.0)

    def everything() -> Changes:
        return Changes(
            nodes=frozenset(model.nodes),
            services=frozenset(model.services),
            cluster=True,
            health=True,
        )

    assert publish(everything()) == 3  # the cluster, the exporter's health, one object
    assert publish.left == len(model.nodes) + len(model.services) - 1
    # A service removed while it waits: gone, and never rendered.
    gone = next(reversed(model.services))
    model.remove_service(gone)
    publish(Changes.of(model.take_changes()))
    turns = 0
    while publish.left:
        await asyncio.sleep(0)
        turns += 1
    assert turns >= len(model.nodes) + len(model.services) - 3
    at_once = TextStore(FAMILIES)
    Publisher(model, health, at_once)(everything())
    assert store.render() == at_once.render()


def test_a_task_move_renders_the_nodes_load_not_the_node(sample: SampleSet) -> None:
    model, store, publish = build(sample)
    store.take()
    sid = next(s for s, v in model.views.items() if v.running_per_node)
    model.replace_tasks([], [sid])  # its tasks are gone: the nodes they ran on move
    changes = model.take_changes()
    assert changes.node_loads and not changes.nodes
    publish(Changes.of(changes))
    moved = {t.family.name for t in store.take() if t.changed}
    assert "dockerswarm_node_tasks" in moved
    assert not moved & {"dockerswarm_node_info", "dockerswarm_node_state"}
