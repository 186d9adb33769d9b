"""The baseline: what most existing Docker Swarm exporters do, done honestly.

On every scrape it lists nodes, services and tasks from the engine (aiohttp
over the unix socket, three calls), and a custom prometheus-client collector
builds fresh gauge families from that snapshot: node state, service replicas
desired and running, tasks by state. No caching, no events, no background
work; concurrent scrapes each list on their own, as such exporters do.

    python -m bench.baseline --docker.host unix:///tmp/sim.sock --web.listen-address 127.0.0.1:9676
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections import Counter
from collections.abc import Iterator
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from common.apiversion import choose

BASE = "http://docker"


async def api_prefix(session: aiohttp.ClientSession) -> str:
    """``http://docker/v1.NN``: the version negotiated as the docker CLI does (one
    GET /_ping), so that an engine refusing old clients, as Engine 29 does, is asked
    at one it speaks."""
    async with session.get(f"{BASE}/_ping") as resp:
        return f"{BASE}/v{choose(resp.headers.get('API-Version'), None)}"


def escape(value: str) -> str:
    """Label value escaping of the text format (what prometheus-client writes)."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def line(name: str, labels: dict[str, str], value: float) -> bytes:
    """The exact exposition line this exporter writes for a sample (probes search for it)."""
    inner = ",".join(f'{k}="{escape(v)}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}} {float(value)!r}\n".encode()


class SnapshotCollector(Collector):
    """Builds every family from one snapshot of the engine's lists."""

    def __init__(self, nodes: list[Any], services: list[Any], tasks: list[Any]) -> None:
        self.nodes = nodes
        self.services = services
        self.tasks = tasks

    def collect(self) -> Iterator[Metric]:
        node_state = GaugeMetricFamily(
            "swarm_node_state",
            "Node status: 1 for the node's current state.",
            labels=["node_id", "hostname", "state"],
        )
        node_avail = GaugeMetricFamily(
            "swarm_node_availability",
            "Node availability: 1 for the current one.",
            labels=["node_id", "hostname", "availability"],
        )
        up_nodes: set[str] = set()
        active_ready = 0
        for n in self.nodes:
            ident = [n["ID"], n["Description"]["Hostname"]]
            state = n["Status"]["State"]
            node_state.add_metric([*ident, state], 1)
            node_avail.add_metric([*ident, n["Spec"]["Availability"]], 1)
            if state != "down":
                up_nodes.add(n["ID"])
            if state == "ready" and n["Spec"]["Availability"] == "active":
                active_ready += 1
        yield node_state
        yield node_avail

        by_service: dict[str, Counter[str]] = {}
        running: Counter[str] = Counter()
        for t in self.tasks:
            sid = t["ServiceID"]
            state = t["Status"]["State"]
            by_service.setdefault(sid, Counter())[state] += 1
            if (
                state == "running"
                and t["DesiredState"] == "running"
                and t.get("NodeID") in up_nodes
            ):
                running[sid] += 1

        desired_f = GaugeMetricFamily(
            "swarm_service_replicas_desired",
            "Replicas the service asks for (global: ready, active nodes).",
            labels=["service_id", "service_name", "stack"],
        )
        running_f = GaugeMetricFamily(
            "swarm_service_replicas_running",
            "Tasks of the service running (desired and observed running).",
            labels=["service_id", "service_name", "stack"],
        )
        tasks_f = GaugeMetricFamily(
            "swarm_service_tasks",
            "Tasks of the service by observed state (all tasks the engine lists).",
            labels=["service_id", "service_name", "stack", "state"],
        )
        for s in self.services:
            spec = s["Spec"]
            ident = [
                s["ID"],
                spec["Name"],
                (spec.get("Labels") or {}).get("com.docker.stack.namespace", ""),
            ]
            mode = spec.get("Mode") or {}
            if "Replicated" in mode:
                desired = mode["Replicated"].get("Replicas", 0)
            else:
                desired = active_ready
            desired_f.add_metric(ident, desired)
            running_f.add_metric(ident, running.get(s["ID"], 0))
            for state, count in sorted(by_service.get(s["ID"], Counter()).items()):
                tasks_f.add_metric([*ident, state], count)
        yield desired_f
        yield running_f
        yield tasks_f


class Baseline:
    def __init__(self, docker_host: str, timeout: float) -> None:
        if not docker_host.startswith("unix://"):
            raise SystemExit("baseline: --docker.host must be unix:///path")
        self.socket = docker_host.removeprefix("unix://")
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._api: str | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.UnixConnector(path=self.socket, limit=0),
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            )
        return self._session

    async def get(self, path: str) -> list[Any]:
        if self._api is None:
            self._api = await api_prefix(self.session())
        async with self.session().get(f"{self._api}/{path}") as resp:
            resp.raise_for_status()
            data = await resp.json(content_type=None)
        if not isinstance(data, list):
            raise ValueError(f"{path}: expected a list")
        return data

    async def metrics(self, _: web.Request) -> web.Response:
        try:
            nodes, services, tasks = await asyncio.gather(
                self.get("nodes"), self.get("services"), self.get("tasks")
            )
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            return web.Response(status=500, text=f"engine: {exc}\n")
        registry = CollectorRegistry(auto_describe=False)
        registry.register(SnapshotCollector(nodes, services, tasks))
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


async def serve(docker_host: str, listen: str, engine_timeout: float, max_seconds: float) -> None:
    baseline = Baseline(docker_host, engine_timeout)
    app = web.Application()
    app.router.add_get("/metrics", baseline.metrics)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    host, _, port = listen.rpartition(":")
    site = web.TCPSite(runner, host or "127.0.0.1", int(port))
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max_seconds)
    finally:
        await runner.cleanup()
        await baseline.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.baseline", description=__doc__.split("\n")[0])
    p.add_argument("--docker.host", dest="docker_host", default="unix:///var/run/docker.sock")
    p.add_argument("--web.listen-address", dest="listen", default="127.0.0.1:9676")
    p.add_argument("--docker.timeout", dest="timeout", type=float, default=300.0)
    p.add_argument("--max-seconds", type=float, default=3600.0, help="stop by itself after this")
    a = p.parse_args(sys.argv[1:] if argv is None else argv)
    asyncio.run(serve(a.docker_host, a.listen, a.timeout, a.max_seconds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
