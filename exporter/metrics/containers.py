"""Container families: what this node's own engine says of its task containers.

Per-node series: each instance reports its own node's, so across instances they
are summed (``sum by (service_name, stack)``), where the cluster families, which
every manager reports whole, are combined with ``max``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from exporter.containers import ServiceContainers
from exporter.metrics.kind import Generator, Kind, Sample, one
from exporter.metrics.services import service_ident
from exporter.metrics.text import Family
from exporter.types import ServiceKey

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


@dataclass(frozen=True, slots=True)
class ContainerRecord:
    """One service's containers on this instance's node."""

    node_id: str
    hostname: str
    key: ServiceKey
    counts: ServiceContainers


def _exits(r: ContainerRecord) -> Iterable[Sample]:
    return (((("reason", reason),), c) for reason, c in sorted(r.counts.exits.items()))


def _last_exit_at(r: ContainerRecord) -> float | None:
    return round(r.counts.last_exit_at, 3) if r.counts.last_exit_code is not None else None


CONTAINERS: Kind[ContainerRecord] = Kind(
    lambda r: (("node_id", r.node_id), ("hostname", r.hostname), *service_ident(*r.key)),
    (
        Generator(EXITS, _exits),
        Generator(STARTS, one(lambda r: r.counts.starts)),
        Generator(UNHEALTHY, one(lambda r: r.counts.unhealthy)),
        Generator(LAST_EXIT_CODE, one(lambda r: r.counts.last_exit_code)),
        Generator(
            LAST_EXIT,
            one(
                lambda r: (
                    round(r.counts.last_exit_at, 3) if r.counts.last_exit_code is not None else None
                )
            ),
        ),
    ),
)
FAMILIES = CONTAINERS.families
