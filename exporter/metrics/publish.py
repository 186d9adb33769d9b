"""Changes in, pre-rendered text out: the one place the model's changes are rendered.

Each changed object goes to its kind's store (``kind.KindStore``), which renders it
into its own key of the text store (``text.TextStore``), a slice of them at a time
(``Publisher``); what scrapes serve is made from that text
(``exporter.web.exposition``).
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

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
from exporter.metrics.nodes import ALL_LABELS, NODE_LOAD, NodeRecord, node_kind
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
    """Nodes upserted (their facts and their load rendered again)."""
    node_loads: frozenset[str] = frozenset()
    """Nodes whose current tasks moved (their load rendered again)."""
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
            node_loads=model.node_loads,
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
            or self.node_loads
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


SLICE = 0.003
"""Seconds of rendering at most in one go on the watcher's loop (about 70 services or
200 nodes' task counts): a relist, a node event moving thousands of services, or a
slice of a poll would otherwise hold the loop for as long as their rendering takes.
What does not fit is rendered after, a slice per turn of the loop."""


class Publisher:
    """Renders the objects ``Changes`` names, each kind into its store.

    A call renders its own objects first, for at most ``slice_seconds`` while a loop
    runs (everything at once where none does); what is left waits, and is rendered a
    slice per turn of the loop from the oldest, each from the model as it is then. An
    object changed again meanwhile is rendered once.
    """

    def __init__(
        self,
        model: SwarmModel,
        health: Health,
        store: TextStore,
        containers: NodeContainers | None = None,
        exported: Exported = Exported(),
        limit: SeriesLimit | None = None,
        live: TextStore | None = None,
        *,
        slice_seconds: float = SLICE,
    ) -> None:
        """``live``: a small store apart for what changes at every poll (the exporter's
        own health, its last refresh time), so that ``store``'s big text stays the same
        between the changes of the swarm."""
        self.model = model
        self.health = health
        self.containers = containers or NodeContainers()
        self.nodes = KindStore("node/", node_kind(exported.node_labels), store, limit)
        self.node_loads = KindStore("load/", NODE_LOAD, store, limit)
        self.services = KindStore("service/", service_kind(exported.service_labels), store, limit)
        self.cluster = KindStore("", CLUSTER, store)
        self.own = KindStore("", HEALTH, live if live is not None else store)
        self.node_containers = KindStore("container/", CONTAINERS, store, limit)
        self.local = KindStore("", LOCAL, store)
        self.networks = KindStore("network/", NETWORKS, store, limit)
        self.inventory = KindStore("inventory/", INVENTORY, store, limit)
        self.slice_seconds = slice_seconds
        # What is left to render, oldest first, by what to render of it.
        self._left: dict[str, dict[Any, None]] = {
            "node": {},
            "load": {},
            "service": {},
            "container": {},
        }
        self._render: dict[str, Callable[[Any], int]] = {
            "node": self._node,
            "load": self._load,
            "service": self._service,
            "container": self._container,
        }
        self._draining: asyncio.Task[None] | None = None

    def __call__(self, changes: Changes) -> int:
        """Render what ``changes`` names (as the class says); returns how many objects
        were rendered now."""
        model = self.model
        left = self._left
        for node_id in changes.removed_nodes:
            self.nodes.delete(node_id)
            self.node_loads.delete(node_id)
            left["node"].pop(node_id, None)
            left["load"].pop(node_id, None)
        for sid in changes.removed_services:
            self.services.delete(sid)
            left["service"].pop(sid, None)
        count = 0
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
        for key in changes.removed_containers:
            self.node_containers.delete(container_key(key))
            left["container"].pop(key, None)
        try:
            asyncio.get_running_loop()
            deadline = time.perf_counter() + self.slice_seconds
        except RuntimeError:
            deadline = math.inf
        ours: tuple[tuple[str, Iterable[Any]], ...] = (
            ("node", changes.nodes),
            ("load", changes.node_loads - changes.nodes),
            ("service", changes.services),
            ("container", changes.containers),
        )
        for what, keys in ours:
            render, waiting = self._render[what], left[what]
            for key in keys:
                waiting.pop(key, None)
                if time.perf_counter() < deadline:
                    count += render(key)
                else:
                    waiting[key] = None
        count += self._render_left(deadline)
        if self.left and self._draining is None:
            self._draining = asyncio.get_running_loop().create_task(self._drain())
        # Room freed under the cap above lets the objects waiting for it in.
        for kind in (self.nodes, self.node_loads, self.services, self.node_containers):
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

    @property
    def left(self) -> int:
        """Objects still to render."""
        return sum(len(w) for w in self._left.values())

    def flush(self) -> int:
        """Render everything left now."""
        return self._render_left(math.inf)

    async def _drain(self) -> None:
        try:
            while self.left:
                await asyncio.sleep(0)
                self._render_left(time.perf_counter() + self.slice_seconds)
        finally:
            self._draining = None

    def _render_left(self, deadline: float) -> int:
        """Render what is left, oldest first, until ``deadline``: one object at least."""
        count = 0
        started = False
        for what, waiting in self._left.items():
            render = self._render[what]
            while waiting and (not started or time.perf_counter() < deadline):
                started = True
                key = next(iter(waiting))
                del waiting[key]
                count += render(key)
        return count

    def _record(self, node_id: str) -> NodeRecord | None:
        node = self.model.nodes.get(node_id)
        if node is None:
            return None
        tasks: Mapping[str, int] = self.model.node_tasks.get(node_id, {})
        reserved = self.model.node_reserved.get(node_id, NO_RESOURCES)
        return NodeRecord(node, tasks, reserved, self.model.issuer_current(node))

    def _node(self, node_id: str) -> int:
        """A node's facts, and its load (whose reserved figures depend on the node)."""
        record = self._record(node_id)
        if record is None:
            return 0
        self.nodes.update(node_id, record)
        self.node_loads.update(node_id, record)
        self._left["load"].pop(node_id, None)
        return 1

    def _load(self, node_id: str) -> int:
        record = self._record(node_id)
        if record is None:
            return 0
        self.node_loads.update(node_id, record)
        return 1

    def _service(self, sid: str) -> int:
        view = self.model.views.get(sid)
        if view is None:
            return 0
        self.services.update(sid, view)
        return 1

    def _container(self, key: ServiceKey) -> int:
        c = self.containers
        counts = c.services.get(key)
        if counts is None:
            return 0
        record = ContainerRecord(c.node_id, c.hostname, key, counts)
        self.node_containers.update(container_key(key), record)
        return 1
