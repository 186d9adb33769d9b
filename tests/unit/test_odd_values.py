"""Odd values from an engine (or whatever stands in front of it): read strictly at the
parsing edge, and exported safely whatever the string."""

from __future__ import annotations

import copy
import json
import subprocess
from dataclasses import replace

from structlog.testing import capture_logs

from exporter.containers import NodeContainers
from exporter.health import Health
from exporter.metrics import FAMILIES
from exporter.metrics.publish import Changes, Publisher
from exporter.metrics.text import LABEL_VALUE_MAX, LabelCuts, TextStore
from exporter.model import SwarmModel
from exporter.nodelog import note_nodes
from exporter.parse import (
    parse_container_event,
    parse_info,
    parse_list,
    parse_node,
    parse_service,
)
from exporter.types import ContainerEvent
from swarm_sentinel.status.html import render_html
from swarm_sentinel.status.report import build_report
from tests.unit.samples import SampleSet
from tests.unit.test_status_page import LIVE


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
    svc_id = raw[0]["ID"]
    assert f'service_name="bad?name~{svc_id[:12]}"' in text
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


def test_names_that_collide_once_made_safe_stay_apart(sample: SampleSet) -> None:
    """Two services whose names differ only by a lone surrogate, two nodes whose
    hostnames share their first 1,024 characters: no duplicate series, and the page
    renders (a lone surrogate once made it answer 500)."""
    raw = copy.deepcopy(sample.load("services-status.json"))
    raw[0]["Spec"]["Name"] = "twin\ud800"
    raw[1]["Spec"]["Name"] = "twin\udc00"
    nodes = copy.deepcopy(sample.load("nodes.json"))
    nodes[0]["Description"]["Hostname"] = "h" * 1500 + "a"
    nodes[1]["Description"]["Hostname"] = "h" * 1500 + "b"
    model, store = SwarmModel(), TextStore(FAMILIES)
    model.replace_nodes(parse_list(nodes, parse_node, "n")[0])
    model.replace_services(parse_list(raw, parse_service, "s")[0])
    Publisher(model, Health(up=True), store)(Changes.of(model.take_changes()))
    lines = [ln for ln in store.render().decode().splitlines() if not ln.startswith("#")]
    series = [ln.rsplit(" ", 1)[0] for ln in lines]
    assert len(series) == len(set(series)), "duplicate series"
    names = {v.service.name for v in model.views.values()}
    assert {f"twin?~{raw[0]['ID'][:12]}", f"twin?~{raw[1]['ID'][:12]}"} <= names
    page = render_html(build_report(model, now=sample.now), LIVE)
    page.encode("utf-8")  # what the server writes: no lone surrogate left


def test_container_keys_and_exit_codes_of_any_shape(sample: SampleSet) -> None:
    line = sample.path("events-containers.jsonl").read_text().splitlines()[0]
    die = json.loads(line)
    die["Action"] = "die"

    def event(name: str, stack: str, code: str, n: int) -> ContainerEvent:
        raw = copy.deepcopy(die)
        attrs = raw["Actor"]["Attributes"]
        attrs["com.docker.swarm.service.name"] = name
        attrs["com.docker.stack.namespace"] = stack
        attrs["exitCode"] = code
        raw["timeNano"] = raw["timeNano"] + n
        return parse_container_event(raw)

    node = NodeContainers()
    for n, (name, stack, code) in enumerate(
        [("a/b", "", "--5"), ("a", "b/", "²"), ("a", "b/", "99999999999"), ("a", "b/", "-1")]
    ):
        assert node.apply(event(name, stack, code, n))
    store = TextStore(FAMILIES)
    publish = Publisher(SwarmModel(), Health(), store, node)
    changed, _ = node.take_changes()
    publish(Changes(containers=changed))
    text = store.render().decode()
    # Two services, two series each: no key of one replaced the other's.
    assert 'service_name="a/b",stack="",reason="nonzero_exit"} 1' in text
    assert 'service_name="a",stack="b/",reason="nonzero_exit"} 3' in text
    # The last death's code is the one that was a code.
    code = 'dockerswarm_container_last_exit_code{node_id="",hostname="",'
    assert code + 'service_name="a",stack="b/"} -1' in text
    assert code + 'service_name="a/b"' not in text
