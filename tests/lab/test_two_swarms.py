"""Two real swarms scraped by one real Prometheus stay apart.

Swarm ``a`` is the session lab (3 managers, 1 worker), swarm ``b`` a scratch lab of
one manager; both run a service named ``web``, healthy in ``a`` and down in ``b``.
Prometheus gives each swarm's targets its ``cluster`` label (docs/deploy.md says
why the label comes from the scrape, not from the exporter). A second Prometheus
scrapes swarm ``a`` alone. Then every dashboard expression, for ``$cluster`` = a,
gives on the shared Prometheus what it gives on ``a``'s own (series and, where
nothing moves, values), and the alerts name ``b``'s ``web`` and not ``a``'s.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from grafana.exprs import (
    dashboard_exprs,
    dashboard_files,
    load_dashboard,
    substitute_variables,
    variable_selectors,
)
from lab import Lab
from tests.support.labs import lab_config
from tests.support.prometheus_proc import running_prometheus
from tests.support.sentinel import Sentinel, wait_for
from tests.support.swarm_services import services

LAB_ENGINES = ("debian",)
# Values that move between two scrapes of the same exporter, or whose series depend on
# how long a Prometheus has scraped: checked for foreign series only.
MOVING = re.compile(
    r"rate\(|increase\(|irate\(|deriv\(|changes\(|time\(\)|_over_time\(|process_|"
    r"dockerswarm_exporter_|scrape_|dockerswarm_healer_|timestamp|_seconds|:increase"
)


@pytest.fixture(scope="module")
def second(lab: Lab) -> Iterator[Lab]:
    with Lab(lab_config(lab.config.engine, scratch="second", managers=1, workers=0)) as b:
        yield b


def target(proc: Sentinel) -> str:
    return proc.url.removeprefix("http://")


def test_two_swarms_in_one_prometheus_stay_apart(lab: Lab, second: Lab) -> None:
    with ExitStack() as stack:
        made_a = stack.enter_context(services(lab))
        made_b = stack.enter_context(services(second))
        made_a.create("web", replicas=2)
        made_b.create("web", ["sh", "-c", "exit 1"], replicas=1)
        procs = {}
        for name, swarm in (("a", lab), ("b", second)):
            proc = Sentinel(swarm.node("m1").url, ["--healer.dry-run"])
            stack.callback(proc.stop)
            procs[name] = proc.start()
        both = stack.enter_context(
            running_prometheus([], groups=[([target(p)], {"cluster": c}) for c, p in procs.items()])
        )
        alone = stack.enter_context(
            running_prometheus([], groups=[([target(procs["a"])], {"cluster": "a"})])
        )
        web = 'service_name="web"'
        running_a = f'max(dockerswarm_service_replicas_running{{{web},cluster="a"}})'
        for prom in (both, alone):
            # Called at once in this iteration: ``prom`` is the one of this pass.
            wait_for(lambda: prom.scalar(running_a) == 2, 60, "web running 2 in swarm a")  # noqa: B023
        wait_for(
            lambda: (
                both.scalar(f'max(dockerswarm_service_replicas_desired{{{web},cluster="b"}})') == 1
            ),
            60,
            "web wanted in swarm b",
        )
        # The alerts tell the swarms apart: b's web is down, a's is not.
        firing = wait_for(
            lambda: (
                [
                    a
                    for a in both.alerts()
                    if a.name == "SwarmServiceDown" and a.state in ("pending", "firing")
                ]
                or None
            ),
            60,
            "SwarmServiceDown for b's web",
        )
        assert {(a.labels.get("cluster"), a.labels["service_name"]) for a in firing} == {
            ("b", "web")
        }
        # The panels read recording rules: both have evaluated every rule, and a's own
        # records of its web service are there, before they are compared.
        for prom in (both, alone):
            wait_for(prom.evaluated, 75, "every rule evaluated once")
            record = (
                f'cluster_service:dockerswarm_service_replicas_running:max{{{web},cluster="a"}}'
            )
            wait_for(lambda: prom.values(record), 30, "a's records")  # noqa: B023
        # Every dashboard expression, for swarm a: what a's own Prometheus says.
        # All but the cluster variable's own query, which lists every swarm by design.
        pickers = {
            substitute_variables(variable_selectors(load_dashboard(f))["cluster"])
            for f in dashboard_files()
        }
        exprs = [(w, e) for w, e in dashboard_exprs(cluster="a") if e not in pickers]
        merged: list[str] = []
        for where, expr in exprs:
            shared, own = both.values(expr), alone.values(expr)
            foreign = [dict(k) for k in shared if dict(k).get("cluster", "a") != "a"]
            if foreign:
                merged.append(f"{where}: series of another swarm {foreign[:2]}")
            elif MOVING.search(expr):
                continue  # its series and values depend on each Prometheus's scrape history
            elif set(shared) != set(own):
                merged.append(
                    f"{where}: {sorted(map(sorted, shared))} != {sorted(map(sorted, own))}"
                )
            elif any(abs(shared[k] - own[k]) > 1e-9 * max(1.0, abs(own[k])) for k in own):
                merged.append(f"{where}: values {shared} != {own}")
        nodes = both.scalar('count(max by (node_id) (dockerswarm_node_info{cluster="a"}))')
        nodes_b = both.scalar('count(max by (node_id) (dockerswarm_node_info{cluster="b"}))')
    print(f"\n{len(exprs)} dashboard expressions compared; swarm a {nodes} nodes, b {nodes_b}")
    assert not merged, "\n".join(merged)
    assert (nodes, nodes_b) == (4, 1)
