"""Node capacity and what tasks reserve of it; label allowlists; the series cap."""

from __future__ import annotations

from dataclasses import replace

import pytest
from prometheus_client import CollectorRegistry

from exporter.metrics import service_kind
from exporter.metrics.labels import Allowlist
from exporter.metrics.limits import SeriesLimit
from exporter.metrics.nodes import NODE_LOAD, NODES, NodeRecord
from exporter.model import SwarmModel
from exporter.types import Node, Resources, Service, Task
from exporter.views import ServiceView

GIB = 1 << 30


def node(nid: str) -> Node:
    return Node(
        id=nid,
        hostname=f"host-{nid}",
        role="worker",
        availability="active",
        state="ready",
        address="10.0.0.1",
        engine_version="28.5.2",
        os="linux",
        arch="x86_64",
        labels=(("com.example/tier", "edge"), ("zone", "a")),
        engine_labels=(),
        cpus=2.0,
        memory_bytes=8 * GIB,
    )


def service(**kw: object) -> Service:
    base = Service(
        id="s1",
        name="api",
        mode="replicated",
        image="lab/busybox:1",
        labels=(("owner", "team-a"), ("secret.token", "x")),
        replicas=3,
        constraints=(),
        force_update=0,
        version=1,
        reservation=Resources(cpus=0.5, memory_bytes=GIB),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def task(tid: str, slot: int, node_id: str, state: str = "running") -> Task:
    return Task(
        id=tid,
        service_id="s1",
        node_id=node_id,
        slot=slot,
        state=state,
        err="",
        timestamp=1.0,
        created_at=1.0,
        desired_state="running",
    )


def test_reservations_follow_the_tasks_placed_on_each_node() -> None:
    model = SwarmModel(clock=lambda: 10.0)
    for nid in ("n1", "n2"):
        model.upsert_node(node(nid))
    model.upsert_service(service())
    model.replace_tasks(
        [task("a", 1, "n1"), task("b", 2, "n1"), task("c", 3, "n2", "preparing")], ["s1"]
    )
    assert model.node_reserved["n1"] == Resources(1.0, 2 * GIB)
    assert model.node_reserved["n2"] == Resources(0.5, GIB)  # preparing holds it too
    model.upsert_service(service(version=2, reservation=Resources(cpus=0.25)))
    assert model.node_reserved["n1"] == Resources(0.5, 0)
    # A task that ended holds nothing; the slot's new task on n2 does.
    model.replace_tasks(
        [task("a", 1, "n1"), task("b2", 2, "n2"), task("c", 3, "n2", "failed")], ["s1"]
    )
    assert model.node_reserved["n1"] == Resources(0.25, 0)
    assert model.node_reserved["n2"] == Resources(0.25, 0)
    model.remove_service("s1")
    assert model.node_reserved == {}
    record = NodeRecord(model.nodes["n1"], {}, model.node_reserved.get("n1", Resources()))
    text = {**NODES.render(record), **NODE_LOAD.render(record)}
    assert (
        'dockerswarm_node_cpus{node_id="n1",hostname="host-n1"} 2.0'
        in text["dockerswarm_node_cpus"]
    )
    assert "} 0.0" in text["dockerswarm_node_reserved_cpus"]


def test_allowlists_export_only_what_they_name() -> None:
    assert Allowlist.parse("").select((("a", "1"),)) == ()
    assert Allowlist.parse("owner, com.example/*").select(
        (("com.example/tier", "edge"), ("owner", "me"), ("zone", "a"))
    ) == (("label_com_example_tier", "edge"), ("label_owner", "me"))
    assert Allowlist.parse("*").select((("zone", "a"),)) == (("label_zone", "a"),)
    for bad in ("team a", "owner=me", 'x"y'):
        with pytest.raises(ValueError, match="is not a label key or pattern"):
            Allowlist.parse(bad)
    view = ServiceView(
        service=service(),
        desired=3,
        running=3,
        task_states={},
        stuck={},
        failures={},
        running_per_node={},
        last_error="",
        tasks_known=True,
    )
    assert "dockerswarm_service_labels" not in service_kind().render(view)  # none by default
    out = service_kind(Allowlist.parse("owner")).render(view)
    assert out["dockerswarm_service_labels"] == (
        'dockerswarm_service_labels{service_name="api",stack="",label_owner="team-a"} 1\n'
    )
    assert "secret" not in "".join(out.values())
    assert out["dockerswarm_service_reservation_cpus"].endswith(" 0.5\n")
    assert "dockerswarm_service_limit_cpus" not in out  # unset


def test_series_cap_drops_whole_objects_and_counts_them() -> None:
    registry = CollectorRegistry()
    limit = SeriesLimit(3, registry)
    two = {"f": "a 1\nb 1\n"}
    assert limit.admit("k1", two) == two
    assert limit.admit("k2", two) == {}  # 4 > 3: k2's series go together
    assert (
        registry.get_sample_value("dockerswarm_exporter_series_dropped_total", {"family": "f"}) == 2
    )
    assert limit.admit("k2", {"f": "c 1\n"}) == {"f": "c 1\n"}  # 3 fits
    limit.release("k1")
    assert limit.admit("k3", two) == two  # room again once k1 went
    # Rendered again without a family, an object gives back that family's room.
    assert limit.admit("k4", {"g": "x 1\ny 1\nz 1\n"}) == {"g": "x 1\ny 1\nz 1\n"}
    assert limit.admit("k5", {"g": "w 1\n"}) == {}
    limit.admit("k4", two)
    assert limit.admit("k5", {"g": "w 1\n"}) == {"g": "w 1\n"}
    assert SeriesLimit(0).admit("k", {"f": "x\n" * 10}) == {"f": "x\n" * 10}
