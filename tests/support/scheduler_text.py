"""The scheduler's own words for a pending task, as counts per filter group: what a
placement explanation (``exporter.placement``) must agree with, engine sample or lab."""

from __future__ import annotations

import re
from collections import Counter

from exporter.placement import Placement

# swarmkit manager/scheduler/filter.go Explain(): group -> its text (plural form).
_TEXTS = {
    "ready": r"(\d+) nodes? not available for new tasks",
    "resources": r"insufficient resources on (\d+) nodes?",
    "constraint": r"scheduling constraints not satisfied on (\d+) nodes?",
    "platform": r"unsupported platform on (\d+) nodes?",
    "host_port": r"host-mode port already in use on (\d+) nodes?",
    "max_replicas": r"(max replicas per node limit exceed)",
}
_GROUP = {
    "not_ready": "ready",
    "drain": "ready",
    "pause": "ready",
    "cpu": "resources",
    "memory": "resources",
    "generic": "resources",
}


def engine_counts(err: str) -> Counter[str]:
    """``no suitable node (scheduling constraints not satisfied on 3 nodes; ...)`` ->
    {"constraint": 3, ...}; max replicas has no count in the engine's words (-1)."""
    out: Counter[str] = Counter()
    for group, pattern in _TEXTS.items():
        m = re.search(pattern, err)
        if m:
            out[group] = int(m.group(1)) if m.group(1).isdigit() else -1
    return out


def our_counts(placement: Placement) -> Counter[str]:
    """The same groups from a placement explanation."""
    out: Counter[str] = Counter()
    for e in placement.exclusions:
        group = _GROUP.get(e.filter, e.filter)
        out[group] = -1 if group == "max_replicas" else out[group] + len(e.nodes)
    return out
