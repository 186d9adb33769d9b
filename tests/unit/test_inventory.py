"""Secrets and configs: names and times, and how many services use each."""

from __future__ import annotations

import dataclasses

from exporter.model import SwarmModel
from exporter.parse import parse_list, parse_meta, parse_service
from exporter.types import ObjectMeta
from tests.unit.builders import model_with, service
from tests.unit.samples import SampleSet


def test_users_follow_the_services(sample: SampleSet) -> None:
    model = SwarmModel()
    for kind in ("secret", "config"):
        raw = sample.load(f"{kind}s.json")
        model.replace_inventory(kind, parse_list(raw, parse_meta(kind), kind)[0])
    model.replace_services(parse_list(sample.load("services-attached.json"), parse_service, "s")[0])
    inv = model.inventory
    unused = sorted(o.name for k, o in inv.objects.items() if not inv.users.get(k))
    assert unused == ["old-conf", "old-secret"]
    assert all(o.created_at > 0 and o.updated_at >= o.created_at for o in inv.objects.values())
    model.remove_service(next(iter(model.services)))
    assert not inv.users
    changes = model.take_changes()
    assert {k[0] for k in changes.inventory} == {"secret", "config"}


def test_a_config_answer_s_data_is_never_kept(sample: SampleSet) -> None:
    raw = sample.load("configs.json")
    assert all(c["Spec"].get("Data") for c in raw), "the engine sends a config's data"
    configs = parse_list(raw, parse_meta("config"), "config")[0]
    kept = {f.name for f in dataclasses.fields(ObjectMeta)}
    assert kept == {"kind", "id", "name", "created_at", "updated_at"}
    assert len(configs) == len(raw)


def test_a_service_dropping_a_secret_frees_it() -> None:
    model = model_with(service(secrets=("x",)))
    model.replace_inventory("secret", [ObjectMeta("secret", "x", "db", 1.0, 1.0)])
    assert model.inventory.users[("secret", "x")] == 1
    model.upsert_service(service(secrets=(), version=2))
    assert model.inventory.users.get(("secret", "x"), 0) == 0
    model.replace_inventory("secret", [])
    assert model.take_changes().removed_inventory == {("secret", "x")}
