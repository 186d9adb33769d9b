"""Each kind of metric family against golden exposition text: an engine sample in,
the exact text out (as kube-state-metrics tests its stores).

After a deliberate change to a family, write the goldens again and read the diff:

    GOLDEN_UPDATE=1 .venv/bin/pytest tests/unit/test_golden.py
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from exporter import planning
from exporter.containers import NodeContainers
from exporter.health import Health
from exporter.metrics import (
    cluster,
    containers,
    health,
    inventory,
    local,
    networks,
    nodes,
    services,
    tasks,
)
from exporter.metrics.kind import Kind
from exporter.metrics.nodes import ALL_LABELS
from exporter.metrics.text import Family, Rendered, TextStore
from exporter.model import SwarmModel
from exporter.parse import (
    parse_container_event,
    parse_info,
    parse_list,
    parse_meta,
    parse_network,
    parse_node,
    parse_service,
    parse_task,
)
from exporter.types import NO_RESOURCES as NONE
from tests.unit.samples import SampleSet

GOLDEN = Path(__file__).parent / "golden"


def sampled(sample: SampleSet) -> tuple[SwarmModel, Health, NodeContainers]:
    model = SwarmModel(clock=lambda: sample.now)
    model.set_info(parse_info(sample.load("info.json")))
    model.replace_nodes(parse_list(sample.load("nodes.json"), parse_node, "n")[0])
    raw_services = sample.load("services-status.json") + sample.load("services-attached.json")
    model.replace_services(parse_list(raw_services, parse_service, "s")[0])
    raw_tasks = sample.load("tasks.json") + sample.load("tasks-attached.json")
    model.replace_tasks(parse_list(raw_tasks, parse_task, "t")[0], None, whole=True)
    model.replace_networks(parse_list(sample.load("networks.json"), parse_network, "w")[0])
    for kind in ("secret", "config"):
        raw = sample.load(f"{kind}s.json")
        model.replace_inventory(kind, parse_list(raw, parse_meta(kind), kind)[0])
    planning.explain_placements(model)
    health = Health(up=True, has_leader=True, synced=True, last_refresh=sample.now, role="manager")
    containers = NodeContainers()
    lines = sample.path("events-containers.jsonl").read_text().splitlines()
    for event in (parse_container_event(json.loads(line)) for line in lines if line):
        containers.node_id, containers.hostname = event.node_id, "lab-m1"
        containers.apply(event)
    return model, health, containers


Renderer = Callable[[SwarmModel, Health, NodeContainers], Iterable[tuple[str, Rendered]]]

SERVICES = Kind(services.view_ident, services.service_generators(ALL_LABELS))
"""Every service label, to show the family (the default exports none)."""
TASKS = Kind(services.view_ident, tasks.GENERATORS)

KINDS: dict[str, tuple[tuple[Family, ...], Renderer]] = {
    "nodes": (
        nodes.FAMILIES,
        lambda m, _, __: (
            (nid, {**nodes.NODES.render(r), **nodes.NODE_LOAD.render(r)})
            for nid, n in m.nodes.items()
            if (
                r := nodes.NodeRecord(
                    n,
                    m.node_tasks.get(nid, {}),
                    m.node_reserved.get(nid, NONE),
                    m.issuer_current(n),
                )
            )
        ),
    ),
    "cluster": (
        cluster.FAMILIES,
        lambda m, h, _: [("cluster", cluster.CLUSTER.render(cluster.cluster_record(m, h)))],
    ),
    "services": (
        SERVICES.families,
        lambda m, _, __: ((sid, SERVICES.render(v)) for sid, v in m.views.items()),
    ),
    "tasks": (
        TASKS.families,
        lambda m, _, __: ((sid, TASKS.render(v)) for sid, v in m.views.items()),
    ),
    "containers": (
        containers.FAMILIES,
        lambda _, __, c: (
            (
                f"{k[0]}/{k[1]}",
                containers.CONTAINERS.render(
                    containers.ContainerRecord(c.node_id, c.hostname, k, v)
                ),
            )
            for k, v in c.services.items()
        ),
    ),
    "health": (health.FAMILIES, lambda _, h, __: [("health", health.HEALTH.render(h))]),
    "local": (
        local.FAMILIES,
        lambda m, _, __: [("local", local.LOCAL.render(r))] if (r := local.local_record(m)) else [],
    ),
    "networks": (
        networks.FAMILIES,
        lambda m, _, __: (
            (
                nid,
                networks.NETWORKS.render(
                    networks.NetworkRecord(net, m.network_use.used(net, len(m.nodes)))
                ),
            )
            for nid, net in m.network_use.networks.items()
        ),
    ),
    "inventory": (
        inventory.FAMILIES,
        lambda m, _, __: (
            (
                f"{k[0]}/{k[1]}",
                inventory.INVENTORY.render(inventory.InventoryRecord(o, m.inventory.users[k])),
            )
            for k, o in m.inventory.objects.items()
        ),
    ),
}


def exposition(kind: str, sample: SampleSet) -> str:
    families, render = KINDS[kind]
    store = TextStore(families)
    model, hl, node = sampled(sample)
    # Sorted keys: the golden must not depend on the order objects were listed in.
    for key, chunks in sorted(render(model, hl, node)):
        store.put(key, chunks)
    return store.render().decode()


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_kind_renders_its_golden_text(kind: str, sample: SampleSet) -> None:
    text = exposition(kind, sample)
    golden = GOLDEN / sample.api / f"{kind}.prom"
    if os.environ.get("GOLDEN_UPDATE"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text)
    assert golden.exists(), f"{golden} missing: GOLDEN_UPDATE=1 writes it"
    assert text == golden.read_text()


def test_goldens_are_lint_clean(sample: SampleSet) -> None:
    text = "".join(exposition(kind, sample) for kind in sorted(KINDS))
    lint = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert lint.returncode == 0 and not (lint.stdout + lint.stderr).strip(), lint.stdout
