"""Overlay address exhaustion on a real swarm: on an overlay with a /28 subnet (13
addresses for the allocator), a service scaled past them shows the network's use near
100 %, its tasks wait without an error, and the 85 % rule fires against a real
Prometheus; below that, it does not."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import closing, suppress

import docker
import docker.types
import pytest

from lab import Lab
from lab.engines import ENGINES
from tests.lab.test_prometheus import matching, target, wait_alerts, wait_firing
from tests.support.prometheus_proc import running_prometheus
from tests.support.sentinel import Sentinel, wait_for
from tests.support.swarm_services import Services

pytestmark = pytest.mark.lab
LAB_ENGINES = ENGINES

SUBNET = "10.200.0.0/28"
CAPACITY = 16 - 3  # network, broadcast and gateway addresses are not handed out


@pytest.fixture
def tiny(lab: Lab, made: Services) -> Iterator[str]:
    """An overlay network with a /28 subnet; removed after the services made on it."""
    with closing(lab.manager_client()) as client:
        ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=SUBNET)])
        net_id: str = client.create_network("tiny", driver="overlay", ipam=ipam)["Id"]
    try:
        yield net_id
    finally:
        made.remove_all()
        deadline = time.monotonic() + 60
        with closing(lab.manager_client()) as client:
            while True:
                try:
                    client.remove_network(net_id)
                    break
                except docker.errors.NotFound:
                    break
                except docker.errors.APIError:
                    # Its tasks are still going away: it has active endpoints.
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.5)


def use(proc: Sentinel, net_id: str) -> tuple[float, float]:
    """(addresses in use, addresses) of the network, as the exporter says."""
    used = proc.series("dockerswarm_network_addresses_used", network_id=net_id)
    total = proc.value("dockerswarm_network_addresses", network_id=net_id, network_name="tiny")
    return sum(used.values()), total or 0.0


def test_a_service_scaled_past_a_slash_28_fills_it_and_fires(
    lab: Lab, made: Services, tiny: str, sentinels: list[Sentinel]
) -> None:
    proc = Sentinel(lab.wait_leader().url, ["--healer.dry-run"])
    sentinels.append(proc)
    proc.start()
    proc.wait_value("dockerswarm_network_addresses", CAPACITY, {"network_id": tiny,
                    "network_name": "tiny"})  # fmt: skip
    sid = made.create("filler", replicas=4, networks=[tiny])
    with running_prometheus([target(proc)], for_override="1s") as prom:
        # 4 tasks, a VIP, a balancer address on each node with one: well under 85 %.
        proc.wait_value("dockerswarm_service_replicas_running", 4, {"service_name": "filler",
                        "stack": ""}, timeout=60)  # fmt: skip
        wait_for(lambda: use(proc, tiny)[0] >= 6, 30, "4 tasks and a VIP counted")
        low = use(proc, tiny)
        assert low[0] / low[1] < 0.85, low
        prom_use = 'sum by (network_name) (dockerswarm_network_addresses_used{network_name="tiny"})'
        wait_for(lambda: prom.scalar(prom_use) == low[0], 30, "Prometheus has the use")
        assert not matching(prom.alerts(), "SwarmNetworkAddressesExhausted", "pending")
        assert not matching(prom.alerts(), "SwarmNetworkAddressesExhausted")

        made.scale(sid, 16)
        wait_for(lambda: use(proc, tiny)[0] >= CAPACITY - 1, 60, "the /28 near full")
        full = use(proc, tiny)
        assert 12 / 13 <= full[0] / full[1] <= 1.0, full
        alert = wait_firing(prom, "SwarmNetworkAddressesExhausted", 60, network_name="tiny")
        assert float(alert.value) >= 0.85

        # The symptom: tasks wait in new, without an error, for an address.
        waiting = proc.series(
            "dockerswarm_service_task_state_since_timestamp_seconds", service_name="filler"
        )
        assert any(dict(k)["state"] in ("new", "allocated") for k in waiting), waiting
        page = json.loads(proc.get("/status.json")[1])
        assert any("tiny" in p and "addresses" in p for p in page["problems"]), page

        made.scale(sid, 1)
        wait_for(lambda: use(proc, tiny)[0] <= 4, 60, "addresses given back")
        with suppress(AssertionError):
            wait_alerts(prom, lambda a: not matching(a, "SwarmNetworkAddressesExhausted"),
                        30, "resolved")  # fmt: skip
