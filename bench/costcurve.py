"""Scrape cost and memory against series count, in-process on the real model and store.

One point: a swarm of parsed objects (``exporter.types``) big enough for about
``--series`` series, fed to ``SwarmModel``, published into the ``TextStore``
(what the watcher does after a full relist). Measured: the full publish, the
worst-case scrape body (``render_metrics`` right after a change, so the join
is not cached), and the process's RSS growth. ``bench.run`` runs each point in
a fresh process, then fits a line.

    python -m bench.costcurve --series 100000
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import time
from collections.abc import Sequence
from pathlib import Path

from prometheus_client import CollectorRegistry

from bench.measure import percentile
from exporter.health import Health
from exporter.metrics import FAMILIES
from exporter.metrics.cluster import CLUSTER, cluster_record
from exporter.metrics.publish import Changes, Publisher
from exporter.metrics.text import TextStore
from exporter.model import SwarmModel
from exporter.types import Node, Service, SwarmInfo, Task
from exporter.web.server import render_metrics

SERIES_PER_NODE_UNIT = 30  # a node (~10 series) and its 5 services (4 each)


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan


def swarm(n_nodes: int, tasks_per_service: int = 2) -> tuple[list[Node], list[Service], list[Task]]:
    now = time.time()
    nodes = [
        Node(
            id=f"n{i:024d}",
            hostname=f"node-{i:06d}",
            role="manager" if i < 3 else "worker",
            availability="active",
            state="ready",
            address=f"10.0.{i // 256 % 256}.{i % 256}",
            engine_version="20.10.24",
            os="linux",
            arch="x86_64",
            labels=(("pool", f"pool-{i // 10}"),),
            engine_labels=(),
            is_manager=i < 3,
            leader=i == 0,
            reachability="reachable" if i < 3 else "",
        )
        for i in range(n_nodes)
    ]
    services = []
    tasks = []
    for j in range(5 * n_nodes):
        sid = f"s{j:024d}"
        services.append(
            Service(
                id=sid,
                name=f"stack-{j // 10:05d}_svc-{j:06d}",
                mode="replicated",
                image=f"bench/app-{j % 50}:1",
                labels=(("com.docker.stack.namespace", f"stack-{j // 10:05d}"),),
                replicas=tasks_per_service,
                constraints=(),
                force_update=0,
                version=1,
                running_tasks=tasks_per_service,
                desired_tasks=tasks_per_service,
            )
        )
        for slot in range(1, tasks_per_service + 1):
            tasks.append(
                Task(
                    id=f"t{j:020d}{slot:04d}",
                    service_id=sid,
                    node_id=nodes[(j + slot) % n_nodes].id,
                    slot=slot,
                    state="running",
                    err="",
                    timestamp=now,
                    created_at=now,
                )
            )
    return nodes, services, tasks


def point(series: int) -> dict[str, float]:
    gc.collect()
    base = rss_mib()
    n_nodes = max(4, round(series / SERIES_PER_NODE_UNIT))
    nodes, services, tasks = swarm(n_nodes)
    model = SwarmModel()
    model.set_info(SwarmInfo("n" + "0" * 24, "active", True, "c", ""))
    t0 = time.perf_counter()
    model.replace_nodes(nodes)
    model.replace_services(services)
    model.replace_tasks(tasks, None, whole=True)
    health = Health(up=True, has_leader=True, synced=True)
    t_model = time.perf_counter() - t0
    store = TextStore(FAMILIES)
    t0 = time.perf_counter()
    Publisher(model, health, store)(Changes.of(model.take_changes()))
    t_publish = time.perf_counter() - t0
    del nodes, services, tasks
    gc.collect()
    registry = CollectorRegistry()
    renders: list[float] = []
    body = b""
    for _ in range(7):
        store.put(
            "cluster", CLUSTER.render(cluster_record(model, health))
        )  # a change: the join is redone
        t0 = time.perf_counter()
        body, _ = render_metrics([store], registry, False)
        renders.append(time.perf_counter() - t0)
    cached: list[float] = []
    for _ in range(7):
        t0 = time.perf_counter()
        render_metrics([store], registry, False)
        cached.append(time.perf_counter() - t0)
    return {
        "series": float(store.series),
        "nodes": float(n_nodes),
        "services": float(len(model.services)),
        "body_bytes": float(len(body)),
        "model_seconds": t_model,
        "publish_seconds": t_publish,
        "render_ms": percentile(renders, 50) * 1000,
        "render_cached_ms": percentile(cached, 50) * 1000,
        "rss_mib": rss_mib() - base,
    }


def fit(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float, float]:
    """Least squares y = a*x + b; returns (a, b, R²)."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    a = sxy / sxx if sxx else math.nan
    b = my - a * mx
    ss_tot = sum((y - my) ** 2 for y in ys)
    ss_res = sum((y - (a * x + b)) ** 2 for x, y in zip(xs, ys, strict=True))
    return a, b, 1 - ss_res / ss_tot if ss_tot else math.nan


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.costcurve", description=__doc__)
    p.add_argument("--series", type=int, required=True)
    a = p.parse_args(argv)
    print(json.dumps(point(a.series)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
