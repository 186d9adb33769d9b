"""Network families: each swarm-scoped network's addresses, and how many are in use
(``exporter.netuse``: the services' virtual IPs, their tasks' addresses, a load-balancer
address per node with tasks on it). Cluster series: every manager reports them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from exporter.metrics.kind import Generator, Kind, Sample, one
from exporter.metrics.text import Family
from exporter.types import Network

_W = ("network_id", "network_name")

ADDRESSES = Family(
    "dockerswarm_network_addresses",
    "gauge",
    "IPv4 addresses the network's subnets hold for the allocator (less network, broadcast, "
    "gateway and auxiliary addresses).",
    _W,
)
USED = Family(
    "dockerswarm_network_addresses_used",
    "gauge",
    "Addresses of the network in use, by what for: vip (a service's virtual IP), task (a "
    "current task's), load_balancer (one per node with tasks on it; every node on ingress).",
    (*_W, "use"),
)


@dataclass(frozen=True, slots=True)
class NetworkRecord:
    network: Network
    used: Mapping[str, int]


def _used(r: NetworkRecord) -> Iterable[Sample]:
    return (((("use", use),), n) for use, n in r.used.items())


NETWORKS: Kind[NetworkRecord] = Kind(
    lambda r: (("network_id", r.network.id), ("network_name", r.network.name)),
    (
        Generator(ADDRESSES, one(lambda r: r.network.addresses)),
        Generator(USED, _used),
    ),
)
FAMILIES = NETWORKS.families
