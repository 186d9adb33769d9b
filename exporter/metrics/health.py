"""The exporter's own families: up, last refresh, synced (rendered from ``Health``), and
the counters of its own work on the registry (Engine API calls, events, reconnects)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter.health import Health
from exporter.metrics.text import (
    LABEL_VALUE_MAX,
    Family,
    LabelCuts,
    Rendered,
    sample,
    state_set,
)

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
FAMILIES = (UP, LAST_REFRESH, SYNCED, ROLE, CONTAINER_STREAM_UP)
ROLES = ("manager", "worker")


def render_health(health: Health) -> Rendered:
    out = {
        UP.name: sample(UP, (), 1 if health.up else 0),
        SYNCED.name: sample(SYNCED, (), 1 if health.synced else 0),
        CONTAINER_STREAM_UP.name: sample(CONTAINER_STREAM_UP, (), int(health.containers_up)),
    }
    if health.role:
        out[ROLE.name] = state_set(ROLE, (), "role", ROLES, health.role)
    if health.last_refresh:
        out[LAST_REFRESH.name] = sample(LAST_REFRESH, (), round(health.last_refresh, 3))
    return out


class LabelCutsCollector(Collector):
    """``LabelCuts`` as a counter on the registry."""

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "dockerswarm_exporter_label_values_cut",
            f"Label values longer than {LABEL_VALUE_MAX} characters, cut to that length.",
            value=LabelCuts.count,
        )
