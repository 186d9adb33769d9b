"""The exporter's metric families as values (``kind``), one module per kind of object,
each family's descriptor next to its generator (as kube-state-metrics'
``internal/store/<kind>.go``):

- ``nodes``: one node (state, availability, labels, its tasks, its resources);
- ``cluster``: the managers and the quorum, the swarm's settings and CA, seen through
  this exporter;
- ``local``: this instance's own node as its own engine says (locked? its certificate);
- ``networks``: each swarm-scoped network's addresses and their use;
- ``inventory``: each secret and config (times, services using it);
- ``services`` and ``tasks``: one service (desired, running, update state, placement)
  and its tasks (by state, failures, stuck since when): one object together;
- ``containers``: one service's task containers on this node (exits and why,
  starts, unhealthy checks): per node, summed across instances;
- ``health``: the exporter itself (up, refresh, synced, role);
- the healer's own families live in ``healer.metrics``.

Adding a metric (docs/metrics.md says the same): a series per swarm object is a
``Generator`` in its kind's list (a ``Family`` and the function giving an object's
samples; the kind adds the object's identity labels), rendered into the object's
pre-rendered text (``text.TextStore``) by ``publish``, so a scrape only joins text.
A counter of the process's own work (calls, events, reconnects) is a
prometheus_client metric on the registry, next to the code whose work it counts.
Then list it in docs/metrics.md (a test checks both ways) and extend the kind's
golden text.
"""

from __future__ import annotations

from exporter.metrics import (
    cluster,
    containers,
    health,
    inventory,
    local,
    networks,
    nodes,
    services,
    tasks,
)
from exporter.metrics.kind import Kind
from exporter.metrics.labels import NO_LABELS, Allowlist
from exporter.metrics.text import Family
from exporter.views import ServiceView


def service_kind(labels: Allowlist = NO_LABELS) -> Kind[ServiceView]:
    """A service and its tasks: one object, one key; ``labels``: which of its labels to
    export."""
    return Kind(services.view_ident, (*services.service_generators(labels), *tasks.GENERATORS))


FAMILIES: tuple[Family, ...] = (
    *nodes.FAMILIES,
    *cluster.FAMILIES,
    *local.FAMILIES,
    *networks.FAMILIES,
    *inventory.FAMILIES,
    *service_kind().families,
    *containers.FAMILIES,
    *health.FAMILIES,
)
"""Every family rendered from the model and the exporter's health, in exposition order."""
