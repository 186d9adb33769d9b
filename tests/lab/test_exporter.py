"""The exporter against the real lab swarm: every expectation has a deadline."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from exporter.client import EngineMetrics
from exporter.engine import Engine
from lab import Lab
from lab.engines import ENGINES
from tests.support.sentinel import Sentinel, wait_for
from tests.support.swarm_services import Services

pytestmark = pytest.mark.lab
LAB_ENGINES = ENGINES  # every scenario here must hold on 20.10 and on Engine 29


@pytest.fixture
def sentinel(lab: Lab) -> Iterator[Sentinel]:
    proc = Sentinel(lab.node("m1").url, ["--no-healer.enabled"]).start()
    try:
        yield proc
    finally:
        proc.stop()


def node_ident(lab: Lab, name: str) -> dict[str, str]:
    return {"node_id": lab.swarm_id(name), "hostname": lab.node(name).hostname}


def test_healthy_swarm_figures(lab: Lab, sentinel: Sentinel) -> None:
    s = sentinel.samples()
    ready = [k for k, v in s.items() if k[0] == "dockerswarm_node_state" and v == 1]
    assert sorted(dict(k[1])["state"] for k in ready) == ["ready"] * 4
    assert s[("dockerswarm_managers", frozenset())] == 3
    assert s[("dockerswarm_managers_reachable", frozenset())] == 3
    assert s[("dockerswarm_manager_quorum", frozenset())] == 2
    assert s[("dockerswarm_manager_fault_tolerance", frozenset())] == 1
    assert s[("dockerswarm_cluster_has_leader", frozenset())] == 1
    assert sum(v for k, v in s.items() if k[0] == "dockerswarm_node_leader") == 1
    assert s[("dockerswarm_up", frozenset())] == 1
    status, om = sentinel.get("/metrics", accept="application/openmetrics-text; version=1.0.0")
    assert status == 200 and om.rstrip().endswith("# EOF")
    # The whole output, the process's own series included, is lint-clean.
    _, text = sentinel.get("/metrics")
    lint = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert lint.returncode == 0 and not (lint.stdout + lint.stderr).strip(), (
        lint.stdout + lint.stderr
    )


def test_drain_and_reactivate_node(lab: Lab, sentinel: Sentinel) -> None:
    ident = node_ident(lab, "w1")
    try:
        lab.drain("w1")
        sentinel.wait_value(
            "dockerswarm_node_availability", 1, {**ident, "availability": "drain"}, timeout=10
        )
    finally:
        lab.activate("w1")
    sentinel.wait_value(
        "dockerswarm_node_availability", 1, {**ident, "availability": "active"}, timeout=10
    )


def test_node_label(lab: Lab, sentinel: Sentinel) -> None:
    ident = node_ident(lab, "w1")
    try:
        lab.add_node_label("w1", "com.example.zone", "blue")
        sentinel.wait_value(
            "dockerswarm_node_labels", 1, {**ident, "label_com_example_zone": "blue"}, timeout=10
        )
    finally:
        lab.remove_node_label("w1", "com.example.zone")
    wait_for(
        lambda: not sentinel.series("dockerswarm_node_labels", **ident),
        10,
        "the label series to go away",
    )


def test_replicated_service_converges(sentinel: Sentinel, made: Services) -> None:
    made.create("conv", replicas=2)
    svc = {"service_name": "conv", "stack": ""}
    sentinel.wait_value("dockerswarm_service_replicas_desired", 2, svc)
    sentinel.wait_value("dockerswarm_service_replicas_running", 2, svc, timeout=40)
    sentinel.wait_value("dockerswarm_service_tasks", 2, {**svc, "state": "running"})


def test_global_service_counts_only_eligible_nodes(
    lab: Lab, sentinel: Sentinel, made: Services
) -> None:
    try:
        lab.add_node_label("m2", "tier", "edge")
        lab.add_node_label("w1", "tier", "edge")
        made.create("glob", mode="global", replicas=None, constraints=["node.labels.tier==edge"])
        svc = {"service_name": "glob", "stack": ""}
        sentinel.wait_value("dockerswarm_service_replicas_desired", 2, svc)
        sentinel.wait_value("dockerswarm_service_replicas_running", 2, svc, timeout=40)
    finally:
        lab.remove_node_label("m2", "tier")
        lab.remove_node_label("w1", "tier")


def test_crashing_service_counts_nonzero_exit(sentinel: Sentinel, made: Services) -> None:
    made.create("crashy", ["sh", "-c", "sleep 1; exit 3"], replicas=1)
    labels = {"service_name": "crashy", "stack": "", "reason": "nonzero_exit"}
    wait_for(
        lambda: (sentinel.value("dockerswarm_service_task_failures_total", **labels) or 0) >= 2,
        60,
        "two nonzero_exit failures of crashy",
    )


def test_unsatisfiable_constraint_shows_pending_no_suitable_node(
    sentinel: Sentinel, made: Services
) -> None:
    made.create("pinned", constraints=["node.labels.zone==nowhere"])
    labels = {"service_name": "pinned", "stack": "", "state": "pending"}
    since = wait_for(
        lambda: sentinel.value(
            "dockerswarm_service_task_state_since_timestamp_seconds",
            **labels,
            reason="no_suitable_node",
        ),
        30,
        "pinned pending with reason no_suitable_node",
    )
    assert since > 1.7e9
    assert (
        sentinel.value("dockerswarm_service_replicas_running", service_name="pinned", stack="") == 0
    )


def test_manager_loss_then_quorum_loss_then_recovery(lab: Lab, sentinel: Sentinel) -> None:
    # The exporter talks to m1; m2 and m3 go away one after the other.
    try:
        lab.kill_engine("m3")
        sentinel.wait_value("dockerswarm_managers_reachable", 2, timeout=40)
        # A call may time out while m3 dies; the leader is confirmed again at the next poll.
        sentinel.wait_value("dockerswarm_cluster_has_leader", 1, timeout=30)
        wait_for(
            lambda: sum(sentinel.series("dockerswarm_node_leader").values()) == 1,
            30,
            "exactly one leader",
        )
        lab.stop_engine("m2")
        sentinel.wait_value("dockerswarm_cluster_has_leader", 0, timeout=90)
        # Still serving, with the last known model, and saying it is stale.
        assert sentinel.value("dockerswarm_up") == 0
        assert sentinel.value("dockerswarm_managers") == 3
    finally:
        lab.restore()
    sentinel.wait_value("dockerswarm_cluster_has_leader", 1, timeout=90)
    sentinel.wait_value("dockerswarm_up", 1, timeout=30)
    sentinel.wait_value("dockerswarm_managers_reachable", 3, timeout=60)


def test_events_and_engine_restart_under_the_exporter(lab: Lab, made: Services) -> None:
    # Polling slowed right down: what shows up quickly here came through events.
    slow = ["--no-healer.enabled", "--watch.poll-interval", "5m", "--watch.resync-interval", "1h"]
    proc = Sentinel(lab.node("m1").url, slow).start()
    try:
        made.create("viaevents", replicas=1)
        proc.wait_value(
            "dockerswarm_service_replicas_desired",
            1,
            {"service_name": "viaevents", "stack": ""},
            timeout=5,
        )
        swarm = {"stream": "swarm"}
        before = proc.value("dockerswarm_exporter_stream_reconnects_total", **swarm) or 0
        try:
            lab.stop_engine("m1")
            wait_for(
                lambda: (
                    (proc.value("dockerswarm_exporter_stream_reconnects_total", **swarm) or 0)
                    > before
                ),
                30,
                "the exporter to notice its event stream broke",
            )
            made.create("afterrestart", replicas=1)
        finally:
            lab.restore()
        # Reconnected and relisted by itself: the service made while it was away is there.
        proc.wait_value(
            "dockerswarm_service_replicas_desired",
            1,
            {"service_name": "afterrestart", "stack": ""},
            timeout=60,
        )
        proc.wait_value("dockerswarm_up", 1, timeout=30)
        made.create("afterreconnect", replicas=1)
        proc.wait_value(
            "dockerswarm_service_replicas_desired",
            1,
            {"service_name": "afterreconnect", "stack": ""},
            timeout=10,
        )
    finally:
        proc.stop()


def test_pointed_at_a_worker_it_serves_its_node(lab: Lab) -> None:
    """A worker's instance is ready once its container stream is open, says it is a
    worker, and reports no cluster (a manager's instance does)."""
    proc = Sentinel(lab.node("w1").url, ["--no-healer.enabled"]).start(wait_ready=False)
    try:
        wait_for(lambda: proc.get("/ready")[0] == 200, 20, "/ready 200 on a worker")
        assert "a worker" in proc.get("/ready")[1]
        assert proc.value("dockerswarm_exporter_role", role="worker") == 1
        assert proc.value("dockerswarm_exporter_container_stream_up") == 1
        assert proc.value("dockerswarm_up") == 1
        assert proc.value("dockerswarm_managers") is None
        assert '"role": "worker"' in proc.logs() or '"role":"worker"' in proc.logs()
    finally:
        proc.stop()


async def test_status_split_by_id_prefix_gives_every_service_once(lab: Lab, made: Services) -> None:
    # Large swarms ask /services?status=true in parts, one ID-prefix group each
    # (exporter.engine.split_id_chars): the real engine must match prefixes.
    for i in range(6):
        made.create(f"split-{i}", replicas=0)

    async def ask(parts: int) -> list[tuple[str, int | None, int | None]]:
        engine = Engine(lab.node("m1").url, EngineMetrics(CollectorRegistry()))
        try:
            got = await engine.services(parts=parts)
        finally:
            await engine.close()
        return sorted((s.id, s.running_tasks, s.desired_tasks) for s in got)

    whole = await ask(1)
    assert len({sid for sid, _, _ in whole} & set(made.ids)) == 6
    for parts in (2, 7, 36):
        assert await ask(parts) == whole, f"{parts} parts"
