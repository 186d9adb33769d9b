"""Container families: what this node's own engine says of its task containers.

Per-node series: each instance reports its own node's, so across instances they
are summed (``sum by (service_name, stack)``), where the cluster families, which
every manager reports whole, are combined with ``max``.
"""

from __future__ import annotations

from exporter.containers import ServiceContainers, ServiceKey
from exporter.metrics.text import Family, Labels, Rendered, sample

_NS = ("node_id", "hostname", "service_name", "stack")

EXITS = Family(
    "dockerswarm_container_exits",
    "counter",
    "Task containers of the service that ended on this node, by why: completed (exit 0), "
    "nonzero_exit, oom (the OOM killer), healthcheck (killed for its failing health check), "
    "stopped (stopped by the engine: a deploy, a scale down, a drain, a removal, a force).",
    (*_NS, "reason"),
)
STARTS = Family(
    "dockerswarm_container_starts",
    "counter",
    "Task containers of the service started on this node: a crash loop starts them again.",
    _NS,
)
UNHEALTHY = Family(
    "dockerswarm_container_unhealthy",
    "counter",
    "Health checks of the service's task containers on this node that turned unhealthy.",
    _NS,
)
LAST_EXIT_CODE = Family(
    "dockerswarm_container_last_exit_code",
    "gauge",
    "Exit code of the service's task container that ended last on this node.",
    _NS,
)
LAST_EXIT = Family(
    "dockerswarm_container_last_exit_timestamp_seconds",
    "gauge",
    "When the service's task container that ended last on this node ended.",
    _NS,
)
FAMILIES = (EXITS, STARTS, UNHEALTHY, LAST_EXIT_CODE, LAST_EXIT)


def render_service_containers(node: Labels, key: ServiceKey, counts: ServiceContainers) -> Rendered:
    """``node``: the (node_id, hostname) labels of this instance's node."""
    ident: Labels = (*node, ("service_name", key[0]), ("stack", key[1]))
    out = {
        STARTS.name: sample(STARTS, ident, counts.starts),
        UNHEALTHY.name: sample(UNHEALTHY, ident, counts.unhealthy),
    }
    if counts.exits:
        out[EXITS.name] = "".join(
            sample(EXITS, (*ident, ("reason", r)), c) for r, c in sorted(counts.exits.items())
        )
    if counts.last_exit_code is not None:
        out[LAST_EXIT_CODE.name] = sample(LAST_EXIT_CODE, ident, counts.last_exit_code)
        out[LAST_EXIT.name] = sample(LAST_EXIT, ident, round(counts.last_exit_at, 3))
    return out
