"""The cost curve against nodes: swarm-sentinel's figures under churn at each size of a
run, as a table and as a plot (a PNG beside docs/benchmarks.md), each against a line
through the 1,000-node point growing in proportion to the nodes: where a figure rises
above its line, it grows worse than linearly."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from bench.results import ModeResult, Results

PLOT = "bench-scale.png"
"""The plot's file name, in the docs folder."""


@dataclass(frozen=True)
class Figure:
    key: str
    title: str
    unit: str


FIGURES = (
    Figure("scrape_p99", "scrape p99 (4 gzip scrapers)", "ms"),
    Figure("event_p99", "event → metric p99", "ms"),
    Figure("rss", "RSS", "MiB"),
    Figure("cpu", "CPU", "s/min"),
    Figure("api", "Engine API read", "MB/min"),
    Figure("callback", "longest callback (its own CPU)", "ms"),
)


def _churn(results: Results) -> list[ModeResult]:
    return [
        m
        for s in results.sizes
        for m in s.modes
        if m.exporter == "swarm-sentinel" and m.mode == "churn"
    ]


def points(results: Results) -> list[tuple[int, dict[str, float]]]:
    out = []
    for m in _churn(results):
        out.append(
            (
                m.nodes,
                {
                    "scrape_p99": m.scrape_p99_ms,
                    "event_p99": m.event_p99,
                    "rss": m.rss_mib,
                    "cpu": m.cpu_per_min,
                    "api": m.api_mb_per_min,
                    "callback": float(m.callbacks.get("max_cpu_ms", math.nan)),
                },
            )
        )
    return sorted(out, key=lambda p: p[0])


def _fmt(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:,.1f}"


def table(results: Results) -> str:
    pts = points(results)
    if not pts:
        return ""
    head = "| nodes | " + " | ".join(f"{f.title} {f.unit}" for f in FIGURES) + " |\n"
    head += "|---:|" + "---:|" * len(FIGURES) + "\n"
    rows = [f"| {n:,} | " + " | ".join(_fmt(v[f.key]) for f in FIGURES) + " |" for n, v in pts]
    ratios = []
    base = next((v for n, v in pts if n == 1000), None)
    if base is not None:
        for n, v in pts:
            if n == 1000:
                continue
            growth = ", ".join(
                f"{f.key.replace('_', ' ')} {v[f.key] / base[f.key]:.1f}x"
                for f in FIGURES
                if base[f.key] and not math.isnan(v[f.key])
            )
            ratios.append(f"- {n:,} nodes ({n / 1000:g}x the nodes of 1,000): {growth}")
    return head + "\n".join(rows) + "\n\n" + "\n".join(ratios) + "\n"


def plot(results: Results, path: Path) -> bool:
    """Write the plot to ``path``; False when matplotlib is missing (a dev dependency)."""
    pts = points(results)
    if not pts:
        return False
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    nodes = [n for n, _ in pts]
    fig, axes = plt.subplots(2, 3, figsize=(13, 7.5))
    for ax, f in zip(axes.flat, FIGURES, strict=True):
        ys = [v[f.key] for _, v in pts]
        ax.plot(nodes, ys, "o-", color="tab:blue", label="swarm-sentinel, churn")
        base = next((v[f.key] for n, v in pts if n == 1000), math.nan)
        if not math.isnan(base) and base > 0:
            ax.plot(
                nodes,
                [base * n / 1000 for n in nodes],
                "--",
                color="tab:gray",
                label="linear from 1,000 nodes",
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f.title)
        ax.set_xlabel("nodes")
        ax.set_ylabel(f.unit)
        ax.grid(True, which="both", alpha=0.3)
    axes.flat[0].legend(fontsize=8)
    commit = results.machine.get("commit", "")
    fig.suptitle(f"swarm-sentinel against nodes (5 services a node), make bench at {commit}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True
