"""docs/metrics.md must list every metric the code can export."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import CollectorRegistry

from exporter.client import EngineMetrics
from exporter.metrics import FAMILIES
from exporter.metrics.health import LabelCutsCollector
from exporter.metrics.limits import SeriesLimit
from exporter.watch import WatcherMetrics
from healer.metrics import HEALER_FAMILIES

DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


def exported_names() -> set[str]:
    names = {f.sample_name for f in (*FAMILIES, *HEALER_FAMILIES)}
    registry = CollectorRegistry()
    EngineMetrics(registry)
    WatcherMetrics(registry)
    registry.register(LabelCutsCollector())
    SeriesLimit(0, registry)
    for family in registry.collect():
        names.add(family.name + "_total" if family.type == "counter" else family.name)
    return names


def test_every_exported_metric_is_documented() -> None:
    documented = set(re.findall(r"`(dockerswarm_[a-z_]+)`", DOC.read_text()))
    missing = exported_names() - documented
    assert not missing, f"docs/metrics.md lacks: {sorted(missing)}"
    stale = documented - exported_names()
    assert not stale, f"docs/metrics.md lists metrics the code does not export: {sorted(stale)}"


def documented_labels() -> dict[str, set[str]]:
    rows = re.findall(r"^\| `(dockerswarm_[a-z_]+)` \|([^|]*)\|", DOC.read_text(), re.M)
    return {
        name: {
            label.strip().replace("&lt;", "<").replace("&gt;", ">").rstrip("…")
            for label in cell.split(",")
            if label.strip()
        }
        for name, cell in rows
    }


def test_every_family_has_its_documented_labels() -> None:
    documented = documented_labels()
    for family in (*FAMILIES, *HEALER_FAMILIES):
        assert documented[family.sample_name] == set(family.labels), family.sample_name
