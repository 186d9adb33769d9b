"""Classify a task's error text into a small, fixed set of failure reasons.

The set is part of the metric contract (``reason`` label): it must stay small
so that a crash loop does not mint a new series per distinct error string.
"""

from __future__ import annotations

REASONS: tuple[str, ...] = (
    "nonzero_exit",
    "oom",
    "healthcheck",
    "no_suitable_node",
    "insufficient_resources",
    "image",
    "other",
)

# Checked in order: the first match wins. Texts are the engine's own
# (swarmkit's scheduler and the executor), lower-cased.
_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("oom", ("oom", "out of memory")),
    ("healthcheck", ("unhealthy container", "health check", "healthcheck")),
    ("insufficient_resources", ("insufficient resources",)),
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


def classify(err: str, exit_code: int | None = None) -> str:
    """Reason for a task error text; ``none`` when there is no error at all."""
    text = err.lower()
    if not text:
        return "nonzero_exit" if exit_code else "none"
    for reason, needles in _RULES:
        if any(n in text for n in needles):
            return reason
    return "other"
