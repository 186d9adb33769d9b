"""The exporter's own families, rendered from ``Health``: up, last refresh, synced, role,
its container stream; and the count of label values cut, on the registry. (The
counters of its work live next to that work: the engine client's calls, the
watchers' events and reconnects.)"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter.health import Health
from exporter.metrics.kind import NO_IDENT, Generator, Kind, one, state_set
from exporter.metrics.text import LABEL_VALUE_MAX, Family, LabelCuts

UP = Family("dockerswarm_up", "gauge", "1 when the last refresh from the engine succeeded.")
LAST_REFRESH = Family(
    "dockerswarm_last_refresh_timestamp_seconds",
    "gauge",
    "When the model was last refreshed from the engine successfully.",
)
SYNCED = Family(
    "dockerswarm_exporter_synced",
    "gauge",
    "1 once the model was fully listed from the engine at least once.",
)
ROLE = Family(
    "dockerswarm_exporter_role",
    "gauge",
    "What this instance's engine is, as a state set: manager (it reports the cluster and "
    "its node's containers) or worker (its node's containers only).",
    ("role",),
)
CONTAINER_STREAM_UP = Family(
    "dockerswarm_exporter_container_stream_up",
    "gauge",
    "1 while the stream of this node's own task-container events is open.",
)
ROLES = ("manager", "worker")
HEALTH: Kind[Health] = Kind(
    NO_IDENT,
    (
        Generator(UP, one(lambda h: int(h.up))),
        Generator(LAST_REFRESH, one(lambda h: round(h.last_refresh, 3) or None)),
        Generator(SYNCED, one(lambda h: int(h.synced))),
        Generator(ROLE, lambda h: state_set("role", ROLES, h.role) if h.role else ()),
        Generator(CONTAINER_STREAM_UP, one(lambda h: int(h.containers_up))),
    ),
)
FAMILIES = HEALTH.families


class LabelCutsCollector(Collector):
    """``LabelCuts`` as a counter on the registry."""

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "dockerswarm_exporter_label_values_cut",
            f"Label values longer than {LABEL_VALUE_MAX} characters, cut to that length.",
            value=LabelCuts.count,
        )
