"""How many addresses of each swarm-scoped network are in use, from what the model
holds: the services' virtual IPs (``Endpoint.VirtualIPs``, in every /services answer),
their current tasks' addresses (``NetworksAttachments``), and one load-balancer address
per node with a task on the network (every node for ingress: each has its ingress
sandbox). No task list is asked for this: each service's share is taken from the
tasks the model keeps of it (the latest of each slot, listed again whenever its counts
move), and the totals move by the difference, as ``exporter.nodeload`` does.

What it cannot see: containers attached by ``docker run --network`` to an attachable
overlay (their network attachments are tasks of no service), an old task of a slot
still stopping while its replacement has an address already (a start-first update),
and the addresses of tasks of a service whose tasks were not listed yet.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from exporter.types import NOT_ENDED_STATES, PLACED_STATES, Network, Service, Task

USES = ("vip", "task", "load_balancer")
"""What an address of a network is used for, as exported."""


@dataclass(frozen=True, slots=True)
class Share:
    """One service's addresses on each network."""

    vips: Mapping[str, int] = field(default_factory=dict)
    tasks: Mapping[str, int] = field(default_factory=dict)
    nodes: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Network ID -> the nodes where a task of it is placed."""


NO_SHARE = Share()


def share_of(svc: Service, tasks: Iterable[Task]) -> Share:
    """What ``svc`` and its current tasks (the latest of each slot) hold: a task that
    ended gave its address back."""
    if not svc.networks and not svc.vips:
        return NO_SHARE
    addresses: Counter[str] = Counter()
    nodes: dict[str, set[str]] = {}
    for t in tasks:
        if t.state not in NOT_ENDED_STATES:
            continue
        for net, n in t.networks:
            addresses[net] += n
            if t.node_id and t.state in PLACED_STATES:
                nodes.setdefault(net, set()).add(t.node_id)
    return Share(
        vips=dict(Counter(svc.vips)),
        tasks=dict(addresses),
        nodes={net: frozenset(ids) for net, ids in nodes.items()},
    )


class NetworkUse:
    def __init__(self) -> None:
        self.networks: dict[str, Network] = {}
        self._vips: Counter[str] = Counter()
        self._tasks: Counter[str] = Counter()
        self._nodes: dict[str, Counter[str]] = {}  # network -> node -> services placed
        self._shares: dict[str, Share] = {}
        self.changed: set[str] = set()
        self.removed: set[str] = set()

    def copy(self) -> NetworkUse:
        """The same figures in containers of their own, to read (``used``) in another
        thread; not for feeding (the shares stay behind)."""
        c = NetworkUse()
        c.networks = dict(self.networks)
        c._vips = Counter(self._vips)
        c._tasks = Counter(self._tasks)
        c._nodes = {net: Counter(per_node) for net, per_node in self._nodes.items()}
        return c

    def replace(self, networks: Iterable[Network]) -> None:
        fresh = {n.id: n for n in networks}
        for gone in set(self.networks) - set(fresh):
            del self.networks[gone]
            self.changed.discard(gone)
            self.removed.add(gone)
        for net in fresh.values():
            if self.networks.get(net.id) != net:
                self.networks[net.id] = net
                self.removed.discard(net.id)
                self.changed.add(net.id)

    def apply(self, sid: str, share: Share) -> None:
        """The service's share is now ``share``: the totals move by the difference."""
        old = self._shares.get(sid, NO_SHARE)
        if old == share:
            return
        for sign, s in ((-1, old), (1, share)):
            for net, n in s.vips.items():
                self._vips[net] += sign * n
            for net, n in s.tasks.items():
                self._tasks[net] += sign * n
            for net, ids in s.nodes.items():
                per_node = self._nodes.setdefault(net, Counter())
                for node_id in ids:
                    per_node[node_id] += sign
                per_node += Counter()  # drop the nodes at 0
        self.changed |= set(old.vips) | set(old.tasks) | set(old.nodes)
        self.changed |= set(share.vips) | set(share.tasks) | set(share.nodes)
        if share == NO_SHARE:
            self._shares.pop(sid, None)
        else:
            self._shares[sid] = share

    def nodes_moved(self) -> None:
        """A node joined or left: the ingress networks count every node."""
        self.changed |= {n.id for n in self.networks.values() if n.ingress}

    def used(self, net: Network, nodes: int) -> dict[str, int]:
        """Addresses of ``net`` in use, by what for (``USES``); ``nodes``: how many nodes
        the swarm has (each has an ingress sandbox address)."""
        vips, tasks = self._vips[net.id], self._tasks[net.id]
        lb = nodes if net.ingress else len(self._nodes.get(net.id, ()))
        # The virtual IPs and the tasks' addresses were given; a node's balancer address
        # only as far as addresses were left: where none was, its tasks wait for it.
        lb = min(lb, max(0, net.addresses - vips - tasks)) if net.addresses else lb
        return {"vip": vips, "task": tasks, "load_balancer": lb}

    def take_changes(self) -> tuple[frozenset[str], frozenset[str]]:
        """The networks whose figures moved (known ones), and those removed."""
        changed = frozenset(self.changed & set(self.networks))
        removed = frozenset(self.removed)
        self.changed.clear()
        self.removed.clear()
        return changed, removed
