"""docs/metrics.md must list every metric the code can export."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import CollectorRegistry

from exporter.metrics import FAMILIES
from exporter.metrics.health import EngineMetrics, WatcherMetrics
from healer.metrics import HEALER_FAMILIES

DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


def exported_names() -> set[str]:
    names = {f.sample_name for f in (*FAMILIES, *HEALER_FAMILIES)}
    registry = CollectorRegistry()
    EngineMetrics(registry)
    WatcherMetrics(registry)
    for family in registry.collect():
        names.add(family.name + "_total" if family.type == "counter" else family.name)
    return names


def test_every_exported_metric_is_documented() -> None:
    documented = set(re.findall(r"`(dockerswarm_[a-z_]+)`", DOC.read_text()))
    missing = exported_names() - documented
    assert not missing, f"docs/metrics.md lacks: {sorted(missing)}"
    stale = documented - exported_names()
    assert not stale, f"docs/metrics.md lists metrics the code does not export: {sorted(stale)}"
