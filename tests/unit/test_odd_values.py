"""Odd values from an engine (or whatever stands in front of it): read strictly at the
parsing edge, and exported safely whatever the string."""

from __future__ import annotations

import copy
import subprocess
from dataclasses import replace

from structlog.testing import capture_logs

from exporter.health import Health
from exporter.metrics import FAMILIES
from exporter.metrics.publish import Changes, Publisher
from exporter.metrics.text import LABEL_VALUE_MAX, LabelCuts, TextStore
from exporter.model import SwarmModel
from exporter.nodelog import note_nodes
from exporter.parse import parse_info, parse_list, parse_node, parse_service
from tests.unit.samples import SampleSet


def test_a_boolean_is_only_a_json_true(sample: SampleSet) -> None:
    raw = copy.deepcopy(sample.load("nodes.json"))
    for node in raw:
        if node.get("ManagerStatus"):
            node["ManagerStatus"]["Leader"] = "false"
    nodes, _ = parse_list(raw, parse_node, "node")
    assert not any(n.leader for n in nodes)
    info = copy.deepcopy(sample.load("info.json"))
    info["Swarm"]["ControlAvailable"] = "true"
    assert parse_info(info).control_available is False


def test_negative_counts_are_not_figures(sample: SampleSet) -> None:
    raw = copy.deepcopy(sample.load("services-status.json"))
    web = next(s for s in raw if s["Spec"]["Name"] == "web")
    web["Spec"]["Mode"]["Replicated"]["Replicas"] = -3
    web["ServiceStatus"]["RunningTasks"] = -1
    svc = parse_service(web)
    assert svc.replicas is None and svc.running_tasks is None


def _render(sample: SampleSet, services: list[dict[str, object]]) -> bytes:
    model, store = SwarmModel(), TextStore(FAMILIES)
    model.replace_nodes(parse_list(sample.load("nodes.json"), parse_node, "n")[0])
    model.replace_services(parse_list(services, parse_service, "s")[0])
    Publisher(model, Health(up=True), store)(Changes.of(model.take_changes()))
    return store.render()


def test_any_string_is_exported_safely(sample: SampleSet) -> None:
    raw = copy.deepcopy(sample.load("services-status.json"))
    raw[0]["Spec"]["Name"] = "bad\ud800name"
    raw[1]["Spec"]["Labels"]["com.docker.stack.namespace"] = 'x"\\\n' + "y" * 200_000
    before = LabelCuts.count
    body = _render(sample, raw)  # encodes: a lone surrogate must not fail it
    text = body.decode()
    assert 'service_name="bad?name"' in text
    assert f'stack="x\\"\\\\\\n{"y" * (LABEL_VALUE_MAX - 4)}"' in text
    assert LabelCuts.count > before
    lint = subprocess.run(
        ["promtool", "check", "metrics"], input=body, capture_output=True, check=False
    )
    assert lint.returncode == 0, lint.stdout.decode() + lint.stderr.decode()


def test_two_managers_claiming_leadership_log_one_change(sample: SampleSet) -> None:
    model = SwarmModel()
    nodes, _ = parse_list(sample.load("nodes.json"), parse_node, "n")
    model.replace_nodes(nodes)
    managers = sorted((n for n in nodes if n.is_manager), key=lambda n: not n.leader)
    # The leader, and a second manager that says it leads too.
    claim = [managers[0], replace(managers[1], leader=True)]
    with capture_logs() as logs:
        for _ in range(3):  # three polls
            note_nodes(True, [c for c in map(model.upsert_node, claim) if c is not None])
    # Said once, when the second one started claiming it; not again every poll.
    changes = [e for e in logs if e["event"] == "leader_changed"]
    assert [e["new"] for e in changes] == [managers[1].hostname]
