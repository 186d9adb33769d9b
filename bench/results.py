"""What a bench run measured: the records the runner fills, ``--json`` saves and
``--from-json`` reads back for the report."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import healerbench
from bench.measure import percentile

TARGET_SIZE = 1000
"""The size the first targets are for (and the one the load test runs at)."""
SIZES = (100, 1000, 2500, 5000, 10_000)
"""What ``make bench`` runs: the cost curve from 100 to 10,000 nodes."""
BASELINE_SIZES = (100, 1000, 5000)
"""Where the baseline runs too: the sizes of the API targets (past 5,000 nodes one of
its scrapes takes minutes and tens of GiB)."""


@dataclass
class ModeResult:
    exporter: str
    nodes: int
    mode: str
    scrape_p50_ms: float = math.nan
    scrape_p99_ms: float = math.nan
    scrapes: int = 0
    scrape_errors: int = 0
    concurrency: int = 4
    body_bytes: int = 0
    series: int = 0
    rss_mib: float = math.nan  # max sampled in this mode
    hwm_mib: float = math.nan  # the process's peak so far (VmHWM)
    cpu_per_min: float = math.nan
    api_req_per_min: float = math.nan
    api_mb_per_min: float = math.nan
    event_ms: list[float] = field(default_factory=list)
    event_missed: int = 0
    task_s: list[float] = field(default_factory=list)
    task_missed: int = 0
    probe_resolution_ms: float = math.nan  # median scrape time of the probing scraper
    gzip_share: float = math.nan  # of the concurrent scrapes (all asking for gzip)
    callbacks: dict[str, Any] = field(default_factory=dict)
    """swarm-sentinel's main loop over the mode (``bench.callbacks``): count, over,
    cpu_over, max_ms, max_cpu_ms, top, collections, young_max_ms."""
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def event_p50(self) -> float:
        return percentile(self.event_ms, 50)

    @property
    def event_p99(self) -> float:
        return percentile(self.event_ms, 99)

    @property
    def task_p50(self) -> float:
        return percentile(self.task_s, 50)

    @property
    def task_p99(self) -> float:
        return percentile(self.task_s, 99)


@dataclass
class SizeResult:
    nodes: int
    services: int
    tasks: int
    current_tasks: int
    modes: list[ModeResult] = field(default_factory=list)
    sync: dict[str, dict[str, float]] = field(default_factory=dict)
    relist: dict[str, float] = field(default_factory=dict)
    healer: list[healerbench.HealerTiming] = field(default_factory=list)
    healer_model_seconds: float = math.nan
    burst: dict[str, float] = field(default_factory=dict)
    pages: dict[str, float] = field(default_factory=dict)
    """/metrics under 4 scrapers without and with 4 clients reloading the status page."""
    notes: list[str] = field(default_factory=list)


@dataclass
class Results:
    sizes: list[SizeResult] = field(default_factory=list)
    cost_curve: list[dict[str, float]] = field(default_factory=list)
    load: dict[str, float] = field(default_factory=dict)
    burst: dict[str, float] = field(default_factory=dict)
    machine: dict[str, str] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    seconds: float = 0.0
    quick: bool = False


def load_results(path: Path) -> Results:
    """Results saved with --json, to write the tables and the doc again."""
    raw = json.loads(path.read_text())
    sizes = []
    for s in raw.pop("sizes"):
        modes = [ModeResult(**m) for m in s.pop("modes")]
        healer = [healerbench.HealerTiming(**h) for h in s.pop("healer")]
        sizes.append(SizeResult(**s, modes=modes, healer=healer))
    return Results(sizes=sizes, **raw)
