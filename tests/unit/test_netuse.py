"""Addresses of each network in use, kept from what the model holds (exporter.netuse),
and what a network's subnets hold (exporter.parse)."""

from __future__ import annotations

from exporter.model import SwarmModel
from exporter.parse import parse_list, parse_network, parse_service, parse_task
from exporter.types import Network
from tests.unit.builders import model_with, service, task
from tests.unit.samples import SampleSet

NET = Network("net1", "tiny", "overlay", False, ("10.200.0.0/28",), 13)


def _used(model: SwarmModel, net: Network = NET, nodes: int = 4) -> dict[str, int]:
    return model.network_use.used(net, nodes)


def test_a_slash_28_holds_13_addresses_and_an_ip_range_narrows_the_pool() -> None:
    raw = {
        "Id": "n",
        "Name": "tiny",
        "IPAM": {
            "Config": [
                {"Subnet": "10.200.0.0/28", "Gateway": "10.200.0.1"},
                {"Subnet": "10.201.0.0/24", "IPRange": "10.201.0.0/29", "Gateway": "10.201.0.1",
                 "AuxiliaryAddresses": {"host": "10.201.0.2"}},
                {"Subnet": "fd00::/64"},
                {"Subnet": "not a subnet"},
            ]
        },
    }  # fmt: skip
    net = parse_network(raw)
    # /28: 16 less network, broadcast, gateway; the /29 range: 8 less network, gateway, aux.
    assert net.addresses == 13 + 5
    assert net.subnets == ("10.200.0.0/28", "10.201.0.0/24")


def test_vips_tasks_and_one_load_balancer_per_node_with_tasks() -> None:
    svc = service(networks=("net1",), vips=("net1",), replicas=3)
    model = model_with(svc)
    model.replace_networks([NET])
    model.replace_tasks(
        [
            task("t1", 1, "running", 1.0, networks=(("net1", 1),), node_id="n1"),
            task("t2", 2, "preparing", 1.0, networks=(("net1", 1),), node_id="n1"),
            task("t3", 3, "new", 1.0, networks=(), node_id=""),  # no address given yet
        ],
        ["s1"],
    )
    assert _used(model) == {"vip": 1, "task": 2, "load_balancer": 1}
    # A task that ended gave its address back, and its node's balancer with it.
    model.replace_tasks(
        [
            task("t1", 1, "running", 1.0, networks=(("net1", 1),), node_id="n1"),
            task("t2b", 2, "running", 2.0, networks=(("net1", 1),), node_id="n2"),
            task("t3", 3, "failed", 2.0, networks=(("net1", 1),), node_id="n3"),
        ],
        ["s1"],
    )
    assert _used(model) == {"vip": 1, "task": 2, "load_balancer": 2}
    model.remove_service("s1")
    assert _used(model) == {"vip": 0, "task": 0, "load_balancer": 0}
    assert "net1" in model.take_changes().networks


def test_ingress_counts_every_node(sample: SampleSet) -> None:
    model = SwarmModel()
    model.replace_networks(parse_list(sample.load("networks.json"), parse_network, "w")[0])
    model.replace_services(parse_list(sample.load("services-attached.json"), parse_service, "s")[0])
    model.replace_tasks(parse_list(sample.load("tasks-attached.json"), parse_task, "t")[0], None)
    ingress = next(n for n in model.network_use.networks.values() if n.ingress)
    appnet = next(n for n in model.network_use.networks.values() if n.name == "appnet")
    assert model.network_use.used(ingress, 4) == {"vip": 1, "task": 2, "load_balancer": 4}
    # The captured service runs 2 tasks, one per node, on appnet.
    assert model.network_use.used(appnet, 4) == {"vip": 1, "task": 2, "load_balancer": 2}
