"""Why a task cannot be placed, node by node, as swarmkit's scheduler decides it."""

from __future__ import annotations

from dataclasses import replace

from exporter import planning
from exporter.constraints import first_failing, holds
from exporter.model import SwarmModel
from exporter.parse import parse_info, parse_list, parse_node, parse_service, parse_task
from exporter.placement import NodeUse, node_use, place
from exporter.types import Node, Resources, Service
from tests.support.scheduler_text import engine_counts, our_counts
from tests.unit.builders import NOW, task
from tests.unit.samples import SampleSet

GIB = 2**30


def node(name: str, **kw: object) -> Node:
    base = Node(
        id=f"id-{name}",
        hostname=name,
        role="worker",
        availability="active",
        state="ready",
        address="10.0.0.1",
        engine_version="28.5.2",
        os="linux",
        arch="x86_64",
        labels=(),
        engine_labels=(),
        cpus=2.0,
        memory_bytes=8 * GIB,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def service(**kw: object) -> Service:
    base = Service(
        id="web-id",
        name="web",
        mode="replicated",
        image="lab/busybox:1",
        labels=(),
        replicas=3,
        constraints=(),
        force_update=0,
        version=1,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def test_the_engines_own_words_agree_with_the_explanation(sample: SampleSet) -> None:
    """Every pending task of the captured swarms: the scheduler's counts per filter
    (its Status.Err) are ours, grouped as it groups them."""
    model = SwarmModel(clock=lambda: sample.now)
    model.set_info(parse_info(sample.load("info.json")))
    model.replace_nodes(parse_list(sample.load("nodes.json"), parse_node, "n")[0])
    model.replace_services(parse_list(sample.load("services-status.json"), parse_service, "s")[0])
    tasks = parse_list(sample.load("tasks.json"), parse_task, "t")[0]
    model.replace_tasks(tasks, None, whole=True)
    planning.explain_placements(model)
    checked = 0
    for t in tasks:
        if t.state == "pending" and t.err.startswith("no suitable node") and t.current:
            placement = model.views[t.service_id].placement
            assert placement is not None, t.service_id
            assert our_counts(placement) == engine_counts(t.err), (t.err, placement)
            assert placement.fit == ()
            checked += 1
    assert checked >= 2  # pinned and hungry


def test_each_node_counts_under_the_first_filter_that_excludes_it() -> None:
    nodes = [
        node("gone", state="down", labels=(("gpu", "true"),)),
        node("drained", availability="drain"),
        node("paused", availability="pause"),
        node("small", memory_bytes=2 * GIB),
        node("busy"),  # 5 GiB of its 8 reserved by others: 3 GiB left
        node("plain"),
        node("arm", arch="aarch64", labels=(("gpu", "true"),)),
        node("gpu", labels=(("GPU", "TRUE"),)),  # label names are exact
        node("full", labels=(("gpu", "True"),)),  # values are not
    ]
    svc = service(
        reservation=Resources(memory_bytes=4 * GIB),
        constraints=("node.labels.gpu==true",),
        platforms=(("linux", "amd64"),),
        max_replicas=1,
    )
    use = {
        "id-busy": NodeUse(reserved=Resources(memory_bytes=5 * GIB)),
        "id-full": NodeUse(tasks={"web-id": 1}),
    }
    p = place(svc, nodes, use)
    got = {(e.filter, e.constraint): e.nodes for e in p.exclusions}
    assert got == {
        ("not_ready", ""): ("gone",),
        ("drain", ""): ("drained",),
        ("pause", ""): ("paused",),
        ("memory", ""): ("busy", "small"),
        ("constraint", "node.labels.gpu==true"): ("gpu", "plain"),
        ("platform", ""): ("arm",),
        ("max_replicas", ""): ("full",),
    }
    assert p.fit == () and p.nodes == 9
    memory = next(e for e in p.exclusions if e.filter == "memory")
    assert memory.detail == "needs 4.0 GiB, 3.0 GiB free on busy"
    assert p.explain() == (
        "0 of 9 nodes can take a task: memory 2 (busy, small; needs 4.0 GiB, 3.0 GiB free "
        "on busy), node.labels.gpu==true excludes 2 (gpu, plain), not ready 1 (gone), "
        "drained 1 (drained), paused 1 (paused), platform 1 (arm), max replicas per node 1 "
        "(full)"
    )


def test_the_issue_example_reads_as_the_operator_expects() -> None:
    nodes = [node(f"lab-w{i}") for i in range(1, 10)]
    nodes += [node("lab-d1", availability="drain"), node("lab-d2", availability="drain")]
    nodes.append(node("lab-w10", labels=(("gpu", "true"),), memory_bytes=int(1.5 * GIB)))
    svc = service(
        constraints=("node.labels.gpu==true",), reservation=Resources(memory_bytes=4 * GIB)
    )
    text = place(svc, nodes, {}).explain()
    assert text.startswith("0 of 12 nodes can take a task: ")
    assert "memory 1 (needs 4.0 GiB, 1.5 GiB free on lab-w10)" in text
    assert "drained 2 (lab-d1, lab-d2)" in text
    # 9 excluded by the constraint: 5 named, the rest counted.
    assert (
        "node.labels.gpu==true excludes 9 (lab-w1, lab-w2, lab-w3, lab-w4, lab-w5 and 4 more)"
        in (text)
    )


def test_host_ports_and_generic_resources_held_by_placed_tasks() -> None:
    nodes = [node("a", generic=(("gpu", 2),)), node("b", generic=(("gpu", 1),)), node("c")]
    web = service(host_ports=(("tcp", 80),))
    ml = service(id="ml-id", name="ml", generic_reservation=(("gpu", 1),))
    services = {web.id: web, ml.id: ml}
    # web holds port 80 on a; ml holds one GPU on each of a and b.
    use = node_use(services, {"web-id": {"id-a": 1}, "ml-id": {"id-a": 1, "id-b": 1}}, {})
    assert use["id-a"].ports == {("tcp", 80)} and use["id-b"].generic == {"gpu": 1}
    p = place(ml, nodes, use)
    assert p.fit == ("a",)
    assert {(e.filter, e.nodes) for e in p.exclusions} == {("generic", ("b", "c"))}
    assert place(web, nodes, use).fit == ("b", "c")


def test_constraints_as_swarmkit_reads_them() -> None:
    n = node("lab-m1", labels=(("zone", "Eu-1"),), address="10.123.1.11", role="manager")
    assert holds(n, "node.labels.zone == eu-1")  # values ignore case
    assert not holds(n, "node.labels.ZONE==eu-1")  # the label's name does not
    assert holds(n, "node.labels.missing != x") and not holds(n, "node.labels.missing == x")
    assert holds(n, "node.ip == 10.123.1.0/24") and not holds(n, "node.ip==10.9.0.0/16")
    assert holds(n, "node.ip==10.123.1.11") and not holds(n, "node.ip==bad")
    assert holds(n, "NODE.ROLE==Manager") and holds(n, "node.platform.arch==X86_64")
    assert not holds(n, "node.nosuch==1") and not holds(n, "garbage")
    assert first_failing(n, ("node.role==manager", "node.labels.zone==eu-2")) == (
        "node.labels.zone==eu-2"
    )


def test_services_alike_share_a_placement_and_it_is_each_ones_own(sample: SampleSet) -> None:
    """``explain_placements`` works one placement out per set of services alike
    (``placement_key``), a part of the nodes at a time: what each service gets is what
    placing it alone among every node gives."""
    model = SwarmModel(clock=lambda: sample.now)
    model.replace_nodes(
        [node(f"n{i}", labels=(("pool", str(i % 3)),), cpus=float(i % 4)) for i in range(4500)]
    )
    kinds: list[dict[str, object]] = [
        {},
        {"constraints": ("node.labels.pool==1",)},
        {"reservation": Resources(cpus=2.0)},
        {"max_replicas": 1},
        {"constraints": ("node.labels.pool==9",)},
    ]
    services = [service(id=f"s{i}", name=f"s{i}", **kinds[i % len(kinds)]) for i in range(40)]
    model.replace_services(services)
    pending = [
        task(f"p{i}", 1, "pending", NOW, service_id=s.id, node_id="")
        for i, s in enumerate(services)
    ]
    placed = [
        task(f"r{i}", 2 + i, "running", NOW, service_id="s3", node_id=f"id-n{i}") for i in range(5)
    ]
    model.replace_tasks([*pending, *placed], None, whole=True)
    steps = sum(1 for _ in planning.placement_steps(model))
    # One pass over the services, then 3 parts of the nodes for each of the four kinds
    # alike and the eight services with a maximum per node (they read their own tasks),
    # where one placement per service would be 40.
    assert steps == 1 + (4 + 8) * 3
    use = node_use(model.services, model.placed(), model.node_reserved)
    for s in services:
        alone = place(s, model.nodes.values(), use)
        assert model.views[s.id].placement == alone, s.name
    assert model.views["s3"].placement is not None
    assert model.views["s3"].placement.nodes == 4500
