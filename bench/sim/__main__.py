"""A simulated Docker Engine (a swarm manager) on a unix socket.

What it simulates and how: ``bench.sim``. Standalone::

    python -m bench.sim --socket /tmp/sim.sock --nodes 1000 --services 5000 \\
        --tasks-per-service 10 --history 5 --task-churn 200 --service-churn 20
    DOCKER_HOST=unix:///tmp/sim.sock docker node ls
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Mapping
from typing import Any

from bench.sim.server import serve
from bench.sim.shapes import API_VERSIONS
from bench.sim.swarm import SimConfig


def format_stats(stats: Mapping[str, Any]) -> str:
    lines = [f"{'endpoint':34} {'requests':>10} {'bytes':>15}"]
    for name, v in stats["endpoints"].items():
        lines.append(f"{name:34} {v['requests']:>10} {v['bytes']:>15}")
    tot = stats["total"]
    lines.append(f"{'total':34} {tot['requests']:>10} {tot['bytes']:>15}")
    lines.append("counters: " + ", ".join(f"{k}={v}" for k, v in stats["counters"].items()))
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.sim", description=__doc__.split("\n")[0])
    p.add_argument("--socket", default="/tmp/simengine.sock", help="unix socket to serve on")
    p.add_argument("--nodes", type=int, default=100)
    p.add_argument("--managers", type=int, default=3)
    p.add_argument("--services", type=int, default=500)
    p.add_argument("--tasks-per-service", type=int, default=10)
    p.add_argument("--history", type=int, default=5, help="tasks kept per slot, current included")
    p.add_argument("--task-churn", type=float, default=0.0, help="task state changes per second")
    p.add_argument("--service-churn", type=float, default=0.0, help="service updates per second")
    p.add_argument("--node-flaps", type=float, default=0.0, help="node down/up flaps per second")
    p.add_argument("--flap-seconds", type=float, default=10.0)
    p.add_argument("--restart-delay", type=float, default=5.0)
    p.add_argument("--broken-fraction", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--max-seconds", type=float, default=3600.0, help="stop by itself after this")
    p.add_argument("--api-version", choices=API_VERSIONS, default="1.41", help="whose answers")
    p.add_argument(
        "--min-api-version", default="", help="refuse older clients (1.44: as Engine 29 does)"
    )
    p.add_argument("--quiet", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    cfg = SimConfig(
        nodes=a.nodes,
        managers=a.managers,
        services=a.services,
        tasks_per_service=a.tasks_per_service,
        history=max(1, a.history),
        seed=a.seed,
        task_churn=a.task_churn,
        service_churn=a.service_churn,
        node_flaps=a.node_flaps,
        flap_seconds=a.flap_seconds,
        restart_delay=a.restart_delay,
        broken_fraction=a.broken_fraction,
        api_version=a.api_version,
        min_api_version=a.min_api_version,
    )
    stats = asyncio.run(serve(cfg, a.socket, a.max_seconds, a.quiet))
    print(json.dumps(stats), flush=True)
    print(format_stats(stats), file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
