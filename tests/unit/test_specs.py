"""Which spec a task runs (``exporter.specs``): its digest against its service's, on
both engines' real answers and on the rules the digest leaves out."""

from __future__ import annotations

import json

import msgspec

from exporter.parse import parse_list, parse_service, parse_task
from exporter.specs import digest
from tests.unit.samples import SampleSet


def _d(obj: object) -> str:
    return digest(json.dumps(obj).encode())


def test_a_task_made_from_the_current_template_has_its_digest(sample: SampleSet) -> None:
    # The capture forced "web" once and caught its update under way: one task replaced
    # (on the new spec, ForceUpdate 1), two not yet. Every other service's tasks were
    # made from its only spec, although the engine writes "Runtime" into a service's
    # template and not into a task's copy of it.
    listed = parse_list(sample.load("services-status.json"), parse_service, "s")[0]
    services = {s.id: s for s in listed}
    tasks = parse_list(sample.load("tasks.json"), parse_task, "t")[0]
    raw = {t["ID"]: t for t in sample.load("tasks.json")}
    on_current: dict[str, set[bool]] = {}
    for t in tasks:
        svc = services[t.service_id]
        assert t.spec_digest and svc.template_digest
        forced = raw[t.id]["Spec"].get("ForceUpdate", 0) == svc.force_update
        assert (t.spec_digest == svc.template_digest) == forced, (svc.name, t.id)
        on_current.setdefault(svc.name, set()).add(t.spec_digest == svc.template_digest)
    assert on_current.pop("web") == {True, False}
    assert all(seen == {True} for seen in on_current.values())


def test_runtime_and_placement_are_left_out_and_keys_order_does_not_matter() -> None:
    template = {
        "ContainerSpec": {"Image": "lab/busybox:1", "Args": ["sleep", "1"]},
        "Placement": {"Constraints": ["node.role==worker"]},
        "ForceUpdate": 1,
        "Runtime": "container",
    }
    task_copy = {
        "ForceUpdate": 1,
        "ContainerSpec": {"Args": ["sleep", "1"], "Image": "lab/busybox:1"},
    }
    assert _d(template) == _d(task_copy)
    assert _d(template) != _d({**task_copy, "ForceUpdate": 2})
    assert _d(template) != _d({**task_copy, "ContainerSpec": {"Image": "lab/busybox:2"}})


def test_escaped_as_go_writes_it_or_not_digests_alike() -> None:
    # Go escapes <, > and & in strings; JSON read and written again does not.
    go = b'{"ContainerSpec":{"Args":["sh","-c","a \\u0026\\u0026 b \\u003e c"]}}'
    again = msgspec.json.encode({"ContainerSpec": {"Args": ["sh", "-c", "a && b > c"]}})
    assert digest(go) == digest(again) != ""


def test_anything_but_an_object_has_no_digest() -> None:
    for raw in (b"", b"null", b"5", b'"x"', b"[1]", b"{", b'{"a": 1e999999}'):
        assert digest(raw) == "", raw
