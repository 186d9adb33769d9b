"""Changes in, pre-rendered text out: the one place the model's changes are rendered.

Each changed object is rendered by its kind's generator into its own key of the
store; a scrape then only joins text (``text.TextStore``).
"""

from __future__ import annotations

from dataclasses import dataclass

from exporter.containers import NodeContainers
from exporter.health import Health
from exporter.metrics.cluster import render_cluster
from exporter.metrics.containers import render_service_containers
from exporter.metrics.health import render_health
from exporter.metrics.labels import NO_LABELS, Allowlist
from exporter.metrics.limits import SeriesLimit
from exporter.metrics.nodes import ALL_LABELS, render_node
from exporter.metrics.services import render_service
from exporter.metrics.tasks import render_service_tasks
from exporter.metrics.text import Rendered, TextStore
from exporter.model import Changes, SwarmModel
from exporter.types import NO_RESOURCES


@dataclass(frozen=True, slots=True)
class Exported:
    """What the operator chose to export beyond the fixed families."""

    node_labels: Allowlist = ALL_LABELS
    service_labels: Allowlist = NO_LABELS


class Publisher:
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
        self.store = store
        self.live = live if live is not None else store
        self.containers = containers or NodeContainers()
        self.exported = exported
        self.limit = limit

    def _put(self, key: str, rendered: Rendered) -> None:
        self.store.put(key, self.limit.admit(key, rendered) if self.limit else rendered)

    def _delete(self, key: str) -> None:
        if self.limit:
            self.limit.release(key)
        self.store.delete(key)

    def __call__(self, changes: Changes) -> int:
        """Render what ``changes`` names; returns how many objects were rendered."""
        model, store = self.model, self.store
        for node_id in changes.removed_nodes:
            self._delete("node/" + node_id)
        for sid in changes.removed_services:
            self._delete("service/" + sid)
        count = 0
        for node_id in changes.nodes:
            node = model.nodes.get(node_id)
            if node is not None:
                rendered = render_node(
                    node,
                    model.node_tasks.get(node_id, {}),
                    model.node_reserved.get(node_id, NO_RESOURCES),
                    self.exported.node_labels,
                )
                self._put("node/" + node_id, rendered)
                count += 1
        for sid in changes.services:
            view = model.views.get(sid)
            if view is not None:
                rendered = render_service(view, self.exported.service_labels)
                self._put("service/" + sid, {**rendered, **render_service_tasks(view)})
                count += 1
        if changes.cluster or changes.health:
            # The quorum figures appear once synced, and has_leader is the exporter's.
            store.put("cluster", render_cluster(model, self.health))
            count += 1
        if changes.health:
            self.live.put("health", render_health(self.health))
            count += 1
        here = (("node_id", self.containers.node_id), ("hostname", self.containers.hostname))
        for key in changes.containers:
            counts = self.containers.services.get(key)
            if counts is not None:
                self._put(
                    f"container/{key[0]}/{key[1]}", render_service_containers(here, key, counts)
                )
                count += 1
        return count
