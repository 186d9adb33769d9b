"""A real Prometheus scraping real swarm-sentinel exporters that watch the lab swarm.

- Every dashboard and alert expression (grafana/exprs.py) evaluates through the HTTP
  API, and the node, quorum and service panels have data, with two exporters scraped
  (aggregation must not count the cluster twice).
- A fault walk-through fires the cluster and service alerts and resolves them again.
- An exporter whose engine is gone must not hide the quorum alerts (it drops
  has_leader to 0, and the at-risk rule counts only exporters with dockerswarm_up 1).

The walk-through loads a derived copy of grafana/alerts/swarm-sentinel.rules.yml with
every ``for:`` shortened to SHORT_FOR, or it would take many minutes; the expressions
are the real ones, and the promtool unit tests (tests/test_grafana_alerts.py) cover the
real durations.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import pytest

from grafana.exprs import alert_exprs, dashboard_exprs
from lab import Lab
from lab.engines import ENGINES
from tests.support.prometheus_proc import (
    JOB,
    Alert,
    Prometheus,
    PrometheusError,
    running_prometheus,
)
from tests.support.sentinel import Sentinel, wait_for
from tests.support.swarm_services import Services

pytestmark = pytest.mark.lab
LAB_ENGINES = ENGINES  # every scenario here must hold on 20.10 and on Engine 29

# The healer runs, so its series exist, but never touches a service.
EXPORTER_ARGS = ["--healer.dry-run"]
SHORT_FOR = "5s"
CRASH = ["sh", "-c", "sleep 1; exit 3"]

# Dashboard queries on these metrics must return series on the lab (with services).
MUST_HAVE_DATA = (
    "dockerswarm_node_state",
    "dockerswarm_managers",
    "dockerswarm_manager_quorum",
    "dockerswarm_service_replicas_desired",
)
CLUSTER_ALERTS = {
    "SwarmQuorumLost",
    "SwarmQuorumAtRisk",
    "SwarmManagerUnreachable",
    "SwarmNodeDown",
    "SwarmExporterDown",
    "SwarmExporterStale",
}


@contextmanager
def exporters(lab: Lab, names: Sequence[str]) -> Iterator[dict[str, Sentinel]]:
    """One started swarm-sentinel per named node, all stopped afterwards."""
    started: dict[str, Sentinel] = {}
    try:
        for name in names:
            started[name] = Sentinel(lab.node(name).url, EXPORTER_ARGS).start()
        yield started
    finally:
        for proc in started.values():
            proc.stop()


def target(proc: Sentinel) -> str:
    """The scrape target, which is also the ``instance`` label."""
    return f"127.0.0.1:{proc.port}"


def all_exprs() -> list[tuple[str, str]]:
    """(where it comes from, expression), each distinct expression once."""
    seen: dict[str, str] = {}
    for uid, expr in dashboard_exprs():
        seen.setdefault(expr, f"dashboard {uid}")
    for name, expr in alert_exprs():
        seen.setdefault(expr, f"alert {name}")
    return [(source, expr) for expr, source in seen.items()]


def evaluation_errors(prom: Prometheus) -> list[str]:
    failures = []
    for source, expr in all_exprs():
        try:
            prom.query(expr)
        except PrometheusError as err:
            failures.append(f"{source}: {expr}\n    -> {err}")
    return failures


def empty_panels(prom: Prometheus) -> list[str]:
    wanted = {e for _, e in dashboard_exprs() if any(m in e for m in MUST_HAVE_DATA)}
    assert wanted, "no dashboard query uses the node, quorum and service metrics"
    return sorted(e for e in wanted if not prom.query(e))


def wait_scraped(prom: Prometheus, count: int) -> None:
    expr = f'count(up{{job="{JOB}"}} == 1)'
    wait_for(lambda: prom.scalar(expr) == count, 30, f"{count} exporters scraped")


def describe(alerts: list[Alert]) -> str:
    return ", ".join(sorted(map(str, alerts))) or "none"


def wait_alerts(
    prom: Prometheus, check: Callable[[list[Alert]], bool], timeout: float, what: str
) -> list[Alert]:
    """Poll /api/v1/alerts until ``check`` accepts them; fail showing the active alerts."""
    seen: list[list[Alert]] = [[]]

    def probe() -> bool:
        seen[0] = prom.alerts()
        return check(seen[0])

    try:
        wait_for(probe, timeout, what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; active alerts: {describe(seen[0])}") from None
    return seen[0]


def matching(alerts: list[Alert], name: str, state: str = "firing", **labels: str) -> list[Alert]:
    return [
        a
        for a in alerts
        if a.name == name and a.state == state and labels.items() <= a.labels.items()
    ]


def wait_firing(prom: Prometheus, name: str, timeout: float, **labels: str) -> Alert:
    """Wait until exactly one alert ``name`` with ``labels`` fires (one per node or per
    cluster, however many exporters report it) and return it."""
    alerts = wait_alerts(
        prom, lambda a: bool(matching(a, name, **labels)), timeout, f"{name}{labels} firing"
    )
    found = matching(alerts, name, **labels)
    assert len(found) == 1, f"{name}{labels} fires {len(found)} times: {describe(found)}"
    return found[0]


def test_every_dashboard_and_alert_expression_evaluates(lab: Lab, made: Services) -> None:
    # A healthy service, and one that fails its three tasks and stays at 0 of 1: the
    # "degraded", "down" and failure panels get data too.
    made.create("dash-web", replicas=2)
    made.create("dash-crashy", CRASH, restart_condition="on-failure", restart_max_attempts=2)
    # The leader's exporter is one of the two: only it acts, and earlier tests may
    # have moved leadership to any manager.
    leader = lab.wait_leader().name
    other = next(m.name for m in lab.managers if m.name != leader)
    with (
        exporters(lab, [leader, other]) as procs,
        running_prometheus([target(p) for p in procs.values()]) as prom,
    ):
        wait_scraped(prom, 2)
        # Both exporters (count ... == 2) have seen what the panels are to show.
        for expr, what in [
            ('dockerswarm_service_replicas_running{service_name="dash-web"} == 2', "dash-web 2/2"),
            (
                'dockerswarm_service_task_failures_total{service_name="dash-crashy"} >= 1',
                "failures of dash-crashy",
            ),
        ]:

            def in_both(e: str = expr) -> bool:
                return prom.scalar(f"count({e})") == 2

            wait_for(in_both, 60, f"{what} in both")

        # Each exporter reports the whole cluster; max by (...) counts it once.
        assert prom.scalar("count(dockerswarm_node_info)") == 8
        assert prom.scalar("count(max by (node_id) (dockerswarm_node_info))") == 4
        states = prom.values("sum by (state) (max by (node_id, state) (dockerswarm_node_state))")
        assert {dict(k)["state"]: v for k, v in states.items() if v} == {"ready": 4}
        assert prom.scalar("max(dockerswarm_managers)") == 3
        assert prom.scalar("max(dockerswarm_manager_quorum)") == 2
        desired = 'dockerswarm_service_replicas_desired{service_name=~"dash-.*"}'
        assert prom.scalar(f"sum({desired})") == 6
        assert prom.scalar(f"sum(max by (service_name, stack) ({desired}))") == 3
        # Only the exporter on the leader's engine acts.
        acting = f'dockerswarm_healer_acting{{instance="{target(procs[leader])}"}}'
        wait_for(lambda: prom.scalar("sum(dockerswarm_healer_acting)") == 1, 30, "one healer")
        assert prom.scalar(acting) == 1, "the healer acting is not the leader's"

        failures = evaluation_errors(prom)
        assert not failures, "expressions Prometheus rejects:\n" + "\n".join(failures)

        empty: list[list[str]] = [[]]

        def all_have_data() -> bool:
            empty[0] = empty_panels(prom)
            return not empty[0]

        try:
            wait_for(all_have_data, 30, "node, quorum and service panels with data")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; empty:\n" + "\n".join(empty[0])) from None

        # The real rule file is loaded and every rule evaluates without error. The
        # recording rules' increments run once a minute (a pinned interval): their first
        # evaluation comes within a minute of Prometheus' start.
        rules = wait_for(prom.evaluated, 75, "every rule evaluated once")
        assert len([r for r in rules if r["type"] == "alerting"]) == len(alert_exprs())
        broken = [f"{r['name']}: {r.get('lastError')}" for r in rules if r["health"] != "ok"]
        assert not broken, broken


def test_fault_walkthrough_fires_and_resolves_alerts(lab: Lab, made: Services) -> None:
    # Exporters on the leader (never stopped: it is the one that sees the quorum loss)
    # and on `second`; `first` has none and is killed first.
    leader = lab.wait_leader().name
    second, first = [m.name for m in lab.managers if m.name != leader]
    first_host = lab.node(first).hostname
    # Created while the swarm is healthy: 2 failed tasks, then 0 of 1 running for good.
    made.create("walk-crashy", CRASH, restart_condition="on-failure", restart_max_attempts=1)
    with (
        exporters(lab, [leader, second]) as procs,
        running_prometheus([target(p) for p in procs.values()], for_override=SHORT_FOR) as prom,
    ):
        wait_scraped(prom, 2)
        wait_firing(prom, "SwarmServiceDown", 60, service_name="walk-crashy")
        alerts = prom.alerts()
        assert {a.name for a in alerts} == {"SwarmServiceDown"}, describe(alerts)
        try:
            # One manager crashes: 2 of 3 reachable, exactly the quorum.
            lab.kill_engine(first)
            wait_firing(prom, "SwarmQuorumAtRisk", 60)
            wait_firing(prom, "SwarmManagerUnreachable", 60, hostname=first_host)
            wait_firing(prom, "SwarmNodeDown", 60, hostname=first_host)
            failures = evaluation_errors(prom)
            assert not failures, "with a manager down:\n" + "\n".join(failures)

            # A second one stops; in a stack its exporter task stops with it.
            procs[second].stop()
            lab.stop_engine(second)
            wait_firing(prom, "SwarmQuorumLost", 90)
            wait_firing(prom, "SwarmExporterDown", 30, instance=target(procs[second]))
            wait_firing(prom, "SwarmExporterStale", 30, instance=target(procs[leader]))
            # No leader, so no longer "at risk"; the last known service state is kept.
            wait_alerts(
                prom,
                lambda a: not matching(a, "SwarmQuorumAtRisk", "firing"),
                30,
                "SwarmQuorumAtRisk to resolve once quorum is lost",
            )
            wait_firing(prom, "SwarmServiceDown", 5, service_name="walk-crashy")
            failures = evaluation_errors(prom)
            assert not failures, "without quorum:\n" + "\n".join(failures)
        finally:
            lab.restore()
        procs[second].start()  # same port: the same target again
        wait_alerts(
            prom,
            lambda a: not [x for x in a if x.name in CLUSTER_ALERTS],
            90,
            "the cluster alerts to resolve",
        )
        made.remove_all()
        wait_alerts(prom, lambda a: not a, 30, "no alert at all once walk-crashy is gone")


class AlertNeverFired(AssertionError):
    pass


def missed(prom: Prometheus, name: str, timeout: float) -> list[str]:
    """[] when alert ``name`` fires within ``timeout``, else the reason it did not."""
    try:
        wait_firing(prom, name, timeout)
    except AssertionError as exc:
        return [str(exc)]
    return []


def test_exporter_outliving_its_engine_does_not_hide_quorum_alerts(lab: Lab) -> None:
    # `victim`'s exporter keeps running while its engine is dead, as an exporter
    # container does when dockerd crashes or hangs under it (containerd keeps the
    # containers running). The exporter on the leader sees everything that happens.
    leader = lab.wait_leader().name
    victim, third = [m.name for m in lab.managers if m.name != leader]
    with (
        exporters(lab, [leader, victim]) as procs,
        running_prometheus([target(p) for p in procs.values()], for_override=SHORT_FOR) as prom,
    ):
        wait_scraped(prom, 2)
        hidden: list[str] = []
        try:
            lab.kill_engine(victim)
            stale = f'dockerswarm_up{{instance="{target(procs[victim])}"}}'
            wait_for(lambda: prom.scalar(stale) == 0, 30, f"{victim}'s exporter to go stale")
            wait_firing(prom, "SwarmManagerUnreachable", 30, hostname=lab.node(victim).hostname)
            hidden += missed(prom, "SwarmQuorumAtRisk", 10)

            lab.kill_engine(third)
            sees = f'dockerswarm_cluster_has_leader{{instance="{target(procs[leader])}"}}'
            wait_for(lambda: prom.scalar(sees) == 0, 90, "the leader's exporter to see no leader")
            hidden += missed(prom, "SwarmQuorumLost", 10)
        finally:
            lab.restore()
        if hidden:
            raise AlertNeverFired("\n".join(hidden))
