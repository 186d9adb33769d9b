"""The usage jobs of compose/usage.prometheus.yml on the lab, scraped by a real Prometheus
(Debian's, on the host, as tests/lab/test_prometheus.py runs it), with the usage rules
(grafana/alerts/swarm-usage.rules.yml) and the shipped ones loaded.

What the lab has, and what this proves with it:

- The engines' own metrics. Every lab dockerd runs with daemon.json "metrics-addr"
  0.0.0.0:9323, as docs/deploy.md has operators set it, on its node's address. The shipped
  `engine` job (its Engine API the only change: a lab manager's socket instead of
  /var/run/docker.sock) finds the four nodes through dockerswarm_sd_configs, and each
  node's series carry the node_id and hostname that swarm-sentinel's dockerswarm_node_info
  gives the same node. After a service is created, the raft and dispatcher records have
  data on the leader.
- node-exporter. Debian's prometheus-node-exporter runs once per node in the node's
  network namespace on its address, :9100, where the override's service (on the host
  network) answers; the shipped `node-exporter` job finds them the same way, and the disk
  records (free share, the predict_linear prediction) return each node's filesystems with
  its node_id and hostname.
- The usage rules all evaluate, and so does every query of the usage dashboard.

Runs on Debian's 20.10 only (LAB_ENGINES says why), in about 15 s with the lab up.

What it does not: cAdvisor. Its image cannot be pulled here (no registry) and Debian does
not package it, so the `cadvisor` job is left out, and the join of a task container's CPU
and memory with its service_name, its limits and its node's hostname is proven only by
promtool, on cAdvisor-shaped series (grafana/alerts/swarm-usage.rules.test.yml). Nor does
it deploy compose/usage.yml itself (tests/lab/test_compose.py checks the file offline).
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from grafana.exprs import USAGE_RULES_FILE, dashboard_exprs, load_rules
from grafana.usage_rules import (
    DISK_FREE_SHARE,
    DISK_PREDICTED,
    RAFT_LATENCY,
    SCHEDULING_DELAY,
)
from lab import Lab
from lab.netns import netns_path
from tests.support.labs import ENGINE_METRICS_PORT
from tests.support.prometheus_proc import Prometheus, PrometheusError, running_prometheus
from tests.support.sentinel import Sentinel, wait_for
from tests.support.swarm_services import Services

pytestmark = pytest.mark.lab
# Debian's Prometheus (2.42) asks the Engine API for its discovery at version 1.41, which
# the modern lab engine refuses as Engine 29 does ("client version 1.41 is too old",
# seen on it): no target is found there. The stack's Prometheus (2.53) has a newer Docker
# client; that it is new enough for Engine 29 is not checked here.
LAB_ENGINES = ("debian",)

USAGE_SCRAPE_FILE = Path(__file__).resolve().parents[2] / "compose" / "usage.prometheus.yml"
NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"
NODE_EXPORTER_PORT = 9100
USAGE_DASHBOARD_UID = "swarm-sentinel-usage"


def usage_jobs(lab: Lab) -> list[dict[str, Any]]:
    """The shipped usage jobs, asking a lab manager's Engine API for the nodes; without
    cAdvisor (not on this machine). Scraped and refreshed every second."""
    jobs: list[dict[str, Any]] = yaml.safe_load(USAGE_SCRAPE_FILE.read_text())["scrape_configs"]
    kept = [job for job in jobs if job["job_name"] != "cadvisor"]
    for job in kept:
        for sd in job["dockerswarm_sd_configs"]:
            sd["host"] = lab.managers[0].url
            sd["refresh_interval"] = "1s"
    return kept


@contextmanager
def node_exporters(lab: Lab) -> Iterator[list[subprocess.Popen[bytes]]]:
    """One node-exporter per node, in its network namespace on its address; each ended by
    its own pid afterwards, whatever happens. Only the collectors the usage rules read."""
    if not Path(NODE_EXPORTER).exists():
        pytest.fail(f"{NODE_EXPORTER} missing: scripts/install-deps.sh installs it")
    started: list[subprocess.Popen[bytes]] = []
    try:
        for node in lab.nodes:
            started.append(
                subprocess.Popen(
                    [
                        "nsenter",
                        f"--net={netns_path(node.netns)}",
                        NODE_EXPORTER,
                        f"--web.listen-address={node.ip}:{NODE_EXPORTER_PORT}",
                        "--collector.disable-defaults",
                        "--collector.filesystem",
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
        yield started
    finally:
        for proc in started:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in started:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def series(prom: Prometheus, expr: str) -> set[tuple[str, str]]:
    """(node_id, hostname) of each series `expr` returns."""
    return {
        (s["metric"].get("node_id", ""), s["metric"].get("hostname", "")) for s in prom.query(expr)
    }


def test_usage_jobs_carry_the_swarms_node_labels(lab: Lab, made: Services) -> None:
    nodes = {(str(n.swarm_id), n.hostname) for n in lab.nodes}
    managers = {(str(n.swarm_id), n.hostname) for n in lab.managers}
    leader = lab.wait_leader()
    exporter = Sentinel(leader.url, ["--healer.dry-run"]).start()
    try:
        with (
            node_exporters(lab),
            running_prometheus(
                [f"127.0.0.1:{exporter.port}"],
                jobs=usage_jobs(lab),
                more_rules=[USAGE_RULES_FILE],
            ) as prom,
        ):
            check_usage(prom, lab, nodes, managers, made)
    finally:
        exporter.stop()


def check_usage(
    prom: Prometheus,
    lab: Lab,
    nodes: set[tuple[str, str]],
    managers: set[tuple[str, str]],
    made: Services,
) -> None:
    # Every node's engine and node-exporter discovered and up, each target labelled with
    # its node as the swarm names it.
    def on_every_node(expr: str) -> Callable[[], bool]:
        return lambda: series(prom, expr) == nodes

    for job in ("engine", "node-exporter"):
        up = f'up{{job="{job}"}} == 1'
        wait_for(on_every_node(up), 60, f"{job} scraping {sorted(h for _, h in nodes)}")
    ports = {
        t["labels"]["instance"].rsplit(":", 1)[1]
        for t in prom.targets()
        if t["labels"]["job"] == "engine"
    }
    assert ports == {str(ENGINE_METRICS_PORT)}
    # The same names as swarm-sentinel's own node series: a join on node_id and hostname
    # finds every node, with no mapping kept by hand.
    joined = (
        'up{job=~"engine|node-exporter"} * on (node_id, hostname) group_left '
        "max by (node_id, hostname) (dockerswarm_node_info)"
    )
    wait_for(lambda: series(prom, joined) == nodes, 30, "the engines joined with node_info")
    engine_series = 'count by (node_id, hostname) ({job="engine", __name__=~"engine_daemon_.*"})'
    assert series(prom, engine_series) == nodes, "the engines' own series lack node labels"

    # The managers' swarmkit histograms: the leader's see raft transactions and task
    # dispatches once the store changes.
    made.create("usage-web", replicas=2)
    for record in (RAFT_LATENCY, SCHEDULING_DELAY):

        def with_data(r: str = record) -> set[tuple[str, str]]:
            return series(prom, r)

        got = wait_for(with_data, 60, f"{record} with data")
        assert got <= managers, (record, got)

    # node-exporter's filesystems, their share free and the prediction, per node.
    for record in (DISK_FREE_SHARE, DISK_PREDICTED):
        wait_for(on_every_node(record), 30, f"{record} on every node")

    # Every usage rule evaluates, and every query of the usage dashboard.
    names = {str(r.get("record") or r.get("alert")) for r in load_rules(USAGE_RULES_FILE)}

    def evaluated() -> list[dict[str, Any]] | None:
        rules = [r for r in prom.rules() if r["name"] in names]
        return (
            rules
            if len(rules) == len(names) and all(r["health"] != "unknown" for r in rules)
            else None
        )

    rules = wait_for(evaluated, 30, "every usage rule evaluated")
    assert all(r["health"] == "ok" for r in rules), [(r["name"], r.get("lastError")) for r in rules]
    failures: list[str] = []
    for uid, expr in dashboard_exprs():
        if uid != USAGE_DASHBOARD_UID:
            continue
        try:
            prom.query(expr)
        except PrometheusError as err:
            failures.append(f"{expr}\n    -> {err}")
    assert not failures, "\n".join(failures)
    # The panels of what the lab has show it: the engines' latency and the disks (not the
    # list of disks full within the horizon, empty on a healthy host).
    wanted = [
        expr
        for uid, expr in dashboard_exprs()
        if uid == USAGE_DASHBOARD_UID
        and any(
            r in expr for r in (RAFT_LATENCY, SCHEDULING_DELAY, DISK_FREE_SHARE, DISK_PREDICTED)
        )
        and "< 0" not in expr
    ]
    assert len(wanted) == 4, wanted
    empty = [expr for expr in wanted if not prom.query(expr)]
    assert not empty, empty
