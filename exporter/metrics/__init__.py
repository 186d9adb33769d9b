"""The exporter's metric families, one module per kind of object, each family's
descriptor next to the generator that renders it (as kube-state-metrics'
``internal/store/<kind>.go``):

- ``nodes``: one node (state, availability, labels, its tasks);
- ``cluster``: the managers and the quorum, seen through this exporter;
- ``services``: one service (desired, running, update state);
- ``tasks``: one service's tasks (by state, failures, stuck since when);
- ``containers``: one service's task containers on this node (exits and why,
  starts, unhealthy checks): per node, summed across instances;
- ``health``: the exporter itself (up, refresh, synced, its API calls and events);
- the healer's own families live in ``healer.metrics``.

Adding a metric (docs/metrics.md says the same): a series per swarm object is a
``Family`` in its kind's module, rendered by that module's generator into the
object's pre-rendered text (``text.TextStore``), so a scrape only joins text. A
counter of the process's own work (calls, events, reconnects) is a
prometheus_client metric on the registry, in ``health``. Then list it in
docs/metrics.md (a test checks both ways) and extend the kind's golden text.
"""

from __future__ import annotations

from exporter.metrics import cluster, containers, health, nodes, services, tasks
from exporter.metrics.text import Family

FAMILIES: tuple[Family, ...] = (
    *nodes.FAMILIES,
    *cluster.FAMILIES,
    *services.FAMILIES,
    *tasks.FAMILIES,
    *containers.FAMILIES,
    *health.FAMILIES,
)
"""Every family rendered from the model and the exporter's health, in exposition order."""
