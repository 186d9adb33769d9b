"""Changes in, pre-rendered text out: the one place the model's changes are rendered.

Each changed object goes to its kind's store (``kind.KindStore``), which renders it
into its own key of the text store; a scrape then only joins text
(``text.TextStore``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from exporter.containers import NodeContainers
from exporter.health import Health
from exporter.inventory import Key
from exporter.metrics import service_kind
from exporter.metrics.cluster import CLUSTER, cluster_record
from exporter.metrics.containers import CONTAINERS, ContainerRecord
from exporter.metrics.health import HEALTH
from exporter.metrics.inventory import INVENTORY, InventoryRecord
from exporter.metrics.kind import KindStore
from exporter.metrics.labels import NO_LABELS, Allowlist
from exporter.metrics.limits import SeriesLimit
from exporter.metrics.local import LOCAL, local_record
from exporter.metrics.networks import NETWORKS, NetworkRecord
from exporter.metrics.nodes import ALL_LABELS, NodeRecord, node_kind
from exporter.metrics.text import TextStore
from exporter.model import ModelChanges, SwarmModel
from exporter.types import NO_RESOURCES, ServiceKey


@dataclass(frozen=True, slots=True)
class Exported:
    """What the operator chose to export beyond the fixed families."""

    node_labels: Allowlist = ALL_LABELS
    service_labels: Allowlist = NO_LABELS


@dataclass(frozen=True, slots=True)
class Changes:
    """What is to be rendered again: what changed in the model, and what the watchers
    say changed beside it."""

    nodes: frozenset[str] = frozenset()
    """Nodes upserted, or whose current tasks moved."""
    services: frozenset[str] = frozenset()
    """Services whose view (the service or what its tasks say) changed."""
    removed_nodes: frozenset[str] = frozenset()
    removed_services: frozenset[str] = frozenset()
    cluster: bool = False
    """The engine's /info, or the managers among the nodes."""
    health: bool = False
    """The exporter's own health (set by the watchers, not the model)."""
    containers: frozenset[ServiceKey] = frozenset()
    """The services whose containers on this node did something (``NodeContainers``)."""
    removed_containers: frozenset[ServiceKey] = frozenset()
    """The services whose containers this node forgot (none left here for a while)."""
    networks: frozenset[str] = frozenset()
    removed_networks: frozenset[str] = frozenset()
    inventory: frozenset[Key] = frozenset()
    removed_inventory: frozenset[Key] = frozenset()

    @classmethod
    def of(cls, model: ModelChanges, *, health: bool = False) -> Changes:
        return cls(
            nodes=model.nodes,
            services=model.services,
            removed_nodes=model.removed_nodes,
            removed_services=model.removed_services,
            cluster=model.cluster,
            health=health,
            networks=model.networks,
            removed_networks=model.removed_networks,
            inventory=model.inventory,
            removed_inventory=model.removed_inventory,
        )

    def __bool__(self) -> bool:
        return bool(
            self.nodes
            or self.services
            or self.removed_nodes
            or self.removed_services
            or self.cluster
            or self.health
            or self.containers
            or self.removed_containers
            or self.networks
            or self.removed_networks
            or self.inventory
            or self.removed_inventory
        )


def container_key(key: ServiceKey) -> str:
    """A service's key in the container store: no two (name, stack) pairs share one
    (``a/b`` with no stack is not ``a`` in stack ``b/``)."""
    return json.dumps(key)


class Publisher:
    """Renders the objects ``Changes`` names, each kind into its store."""

    def __init__(
        self,
        model: SwarmModel,
        health: Health,
        store: TextStore,
        containers: NodeContainers | None = None,
        exported: Exported = Exported(),
        limit: SeriesLimit | None = None,
        live: TextStore | None = None,
    ) -> None:
        """``live``: a small store apart for what changes at every poll (the exporter's
        own health, its last refresh time), so that ``store``'s big text stays the same
        between the changes of the swarm (it is compressed once per change)."""
        self.model = model
        self.health = health
        self.containers = containers or NodeContainers()
        self.nodes = KindStore("node/", node_kind(exported.node_labels), store, limit)
        self.services = KindStore("service/", service_kind(exported.service_labels), store, limit)
        self.cluster = KindStore("", CLUSTER, store)
        self.own = KindStore("", HEALTH, live if live is not None else store)
        self.node_containers = KindStore("container/", CONTAINERS, store, limit)
        self.local = KindStore("", LOCAL, store)
        self.networks = KindStore("network/", NETWORKS, store, limit)
        self.inventory = KindStore("inventory/", INVENTORY, store, limit)

    def __call__(self, changes: Changes) -> int:
        """Render what ``changes`` names; returns how many objects were rendered."""
        model = self.model
        for node_id in changes.removed_nodes:
            self.nodes.delete(node_id)
        for sid in changes.removed_services:
            self.services.delete(sid)
        count = 0
        for node_id in changes.nodes:
            node = model.nodes.get(node_id)
            if node is not None:
                tasks: Mapping[str, int] = model.node_tasks.get(node_id, {})
                reserved = model.node_reserved.get(node_id, NO_RESOURCES)
                issuer = model.issuer_current(node)
                self.nodes.update(node_id, NodeRecord(node, tasks, reserved, issuer))
                count += 1
        for sid in changes.services:
            view = model.views.get(sid)
            if view is not None:
                self.services.update(sid, view)
                count += 1
        if changes.cluster or changes.health:
            # The quorum figures appear once synced, and has_leader is the exporter's.
            self.cluster.update("cluster", cluster_record(model, self.health))
            count += 1
        if changes.cluster:
            local = local_record(model)
            if local is not None:
                self.local.update("local", local)
                count += 1
        if changes.health:
            self.own.update("health", self.health)
            count += 1
        count += self._networks(changes) + self._inventory(changes)
        c = self.containers
        for key in changes.removed_containers:
            self.node_containers.delete(container_key(key))
        for key in changes.containers:
            counts = c.services.get(key)
            if counts is not None:
                record = ContainerRecord(c.node_id, c.hostname, key, counts)
                self.node_containers.update(container_key(key), record)
                count += 1
        for kind in (self.nodes, self.services, self.node_containers):
            count += kind.settle()
        return count

    def _networks(self, changes: Changes) -> int:
        use = self.model.network_use
        for net_id in changes.removed_networks:
            self.networks.delete(net_id)
        count = 0
        for net_id in changes.networks:
            net = use.networks.get(net_id)
            if net is not None:
                used = use.used(net, len(self.model.nodes))
                self.networks.update(net_id, NetworkRecord(net, used))
                count += 1
        return count

    def _inventory(self, changes: Changes) -> int:
        inventory = self.model.inventory
        for kind, object_id in changes.removed_inventory:
            self.inventory.delete(f"{kind}/{object_id}")
        count = 0
        for key in changes.inventory:
            meta = inventory.objects.get(key)
            if meta is not None:
                record = InventoryRecord(meta, inventory.users.get(key, 0))
                self.inventory.update(f"{key[0]}/{key[1]}", record)
                count += 1
        return count
