"""What both watchers share: their settings and the counters of their work.

``exporter.watcher`` keeps the model in step with a manager (events, polls,
relists); ``exporter.container_watcher`` follows a node's own task containers.
Each follows an event stream through ``exporter.stream``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge

from exporter.containers import FORGET_AFTER
from exporter.stream import StreamSettings


@dataclass(frozen=True, slots=True)
class WatchSettings:
    poll_interval: float = 15.0
    """Seconds between task polls (``/services?status=true`` + changed services' tasks)."""
    resync_interval: float = 1800.0
    """Seconds between full relists of nodes, services and every task."""
    stream: StreamSettings = field(default_factory=StreamSettings)
    """How a lost event stream is opened again."""
    relist_after_gap: float = 60.0
    """A stream lost for longer than this is followed by a full relist (the engine's
    replay may not reach back that far); a shorter gap is caught up by replay and polls."""
    containers: bool = True
    """Follow this node's own engine's task-container events (exits, OOM kills, health).
    Off where the engine is reached through something shared by several nodes (a socket
    proxy behind a virtual IP): its containers would not be this node's."""
    containers_forget_after: float = FORGET_AFTER
    """Seconds a service's container counts outlive its last container on the node."""
    node_certificate: str = ""
    """The file of this node's own certificate to read its expiry from (a read-only
    mount of /var/lib/docker/swarm/certificates/swarm-node.crt); "": not read."""
    task_history: bool = False
    """List every service's whole task history, as before swarm-sentinel ran on every
    node: where only managers run it, failures are counted from the managers' history.
    Otherwise the nodes count exits, and the managers list current tasks only (jobs
    and one-shots keep their history: it holds their completions)."""


class WatcherMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.events = Counter(
            "dockerswarm_exporter_events",
            "Swarm events received from the engine, by event type.",
            ["event_type"],
            registry=registry,
        )
        self.reconnects = Counter(
            "dockerswarm_exporter_stream_reconnects",
            "Times an event stream was lost and opened again: swarm (nodes, services, from "
            "a manager) or containers (this node's own task containers).",
            ["stream"],
            registry=registry,
        )
        self.relists = Counter(
            "dockerswarm_exporter_relists",
            "Full relists of nodes, services and tasks.",
            registry=registry,
        )
        self.recoveries = Counter(
            "dockerswarm_exporter_recoveries_unlisted",
            "Services whose running count rose back to all desired, confirmed by "
            "fetching by ID the tasks the model held on their way, not by listing "
            "the service's tasks again.",
            registry=registry,
        )
        self.histories = Counter(
            "dockerswarm_exporter_histories_listed",
            "Services whose whole task history was listed because a replaced task fetched "
            "by ID was gone from the engine, or was not its slot's last before the current "
            "one: a crash loop faster than the polls.",
            registry=registry,
        )
        self.container_services_dropped = Counter(
            "dockerswarm_exporter_container_services_dropped",
            "Container events not counted: their service was new to this node and the "
            "services it keeps counts for were at their bound, none of them without a "
            "container to make room.",
            registry=registry,
        )
        self.follow_ups = Gauge(
            "dockerswarm_exporter_event_follow_ups",
            "Objects whose events wait for their follow-up (an inspect), or are being "
            "followed up: several at once, one at a time per object.",
            registry=registry,
        )
        self.task_failures = Counter(
            "dockerswarm_exporter_task_failures",
            "Background tasks (event stream, poll, healer) that failed and were started again.",
            ["task"],
            registry=registry,
        )
