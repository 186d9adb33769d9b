"""Classify a task's error text into a small, fixed set of failure reasons.

The set is part of the metric contract (``reason`` label): it must stay small
so that a crash loop does not mint a new series per distinct error string.
The texts are the engine's own (swarmkit's scheduler and allocator, the executor,
runc), as both lab engines write them: engine-samples/<API version>/task-errors.json
keeps one of each, and tests/unit/test_parse.py classifies them all.
"""

from __future__ import annotations

import re

REASONS: tuple[str, ...] = (
    "nonzero_exit",
    "oom",
    "healthcheck",
    "no_suitable_node",
    "insufficient_resources",
    "max_replicas",
    "image",
    "mount",
    "network",
    "secret_config",
    "no_space",
    "other",
)

# Checked in order: the first match wins. Lower-cased substrings, never prefixes:
# Engine 28 words some texts differently from 20.10 ("failed to create task for
# container: ..." before runc's, no ": unknown" after it).
_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("healthcheck", ("unhealthy container", "health check", "healthcheck")),
    # The engine's own disk is full (a write under its data root failed).
    ("no_space", ("no space left on device",)),
    # Secrets and configs are mounted from the container's mounts/secrets folder.
    (
        "secret_config",
        ("/mounts/secrets/", "/mounts/configs/", "secret not found", "config not found"),
    ),
    (
        "mount",
        (
            "invalid mount config",
            "bind source path does not exist",
            "error mounting",
            "error while mounting volume",
            "volumedriver",
        ),
    ),
    ("max_replicas", ("max replicas per node",)),
    ("insufficient_resources", ("insufficient resources",)),
    (
        "network",
        (
            # Overlay address exhaustion: the allocator gives the task none and the
            # node rejects it after a while.
            "network attachments",
            "ip addresses may be exhausted",
            # A port published in host mode that the node already has in use.
            "host-mode port already in use",
            "port is already allocated",
            "driver failed programming external connectivity",
            "failed to set up container networking",
        ),
    ),
    ("no_suitable_node", ("no suitable node",)),
    (
        "image",
        (
            "no such image",
            "pull access denied",
            "manifest unknown",
            "failed to pull",
            "error pulling image",
            "invalid reference format",
            "image not found",
        ),
    ),
    ("nonzero_exit", ("non-zero exit",)),
)


_OOM = re.compile(r"\boom|out of memory")
"""A word starting with "oom" (OOM, OOMKilled), not a path's "room"."""


def classify(err: str, exit_code: int | None = None) -> str:
    """Reason for a task error text; ``none`` when there is no error at all."""
    text = err.lower()
    if not text:
        return "nonzero_exit" if exit_code else "none"
    if _OOM.search(text):
        return "oom"
    for reason, needles in _RULES:
        if any(n in text for n in needles):
            return reason
    return "other"
