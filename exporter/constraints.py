"""Which nodes a service's placement constraints allow.

Needed twice: a global service's desired replicas are its eligible nodes, and
the healer will not force a service that no ready, active node can take.
Semantics follow swarmkit's ``manager/constraint``: ``==`` / ``!=``, keys
``node.id``, ``node.hostname``, ``node.role``, ``node.platform.os``,
``node.platform.arch``, ``node.labels.X``, ``engine.labels.X``; comparison
is case-insensitive except for label values, which are exact.
"""

from __future__ import annotations

import re

from exporter.types import Node

_EXPR = re.compile(r"^\s*([\w.\-/]+)\s*(==|!=)\s*(.*?)\s*$")


class ConstraintError(ValueError):
    """A constraint expression that swarmkit would reject as well."""


def _node_value(node: Node, key: str) -> str | None:
    k = key.lower()
    if k == "node.id":
        return node.id
    if k == "node.hostname":
        return node.hostname
    if k == "node.role":
        return node.role
    if k == "node.platform.os":
        return node.os
    if k == "node.platform.arch":
        return node.arch
    if k.startswith("node.labels."):
        return dict(node.labels).get(key[len("node.labels.") :])
    if k.startswith("engine.labels."):
        return dict(node.engine_labels).get(key[len("engine.labels.") :])
    raise ConstraintError(f"unknown constraint key {key!r}")


def matches(node: Node, constraints: tuple[str, ...]) -> bool:
    """True when ``node`` satisfies every constraint; a malformed one never matches."""
    for expr in constraints:
        m = _EXPR.match(expr)
        if m is None:
            return False
        key, op, want = m.groups()
        try:
            have = _node_value(node, key)
        except ConstraintError:
            return False
        exact = key.lower().startswith(("node.labels.", "engine.labels."))
        if have is None:
            # A missing label is unequal to every value.
            equal = False
        elif exact:
            equal = have == want
        else:
            equal = have.lower() == want.lower()
        if (op == "==") != equal:
            return False
    return True


def eligible(node: Node, constraints: tuple[str, ...]) -> bool:
    """A node that can take new tasks of a service with ``constraints`` now: ready,
    active, and allowed by every constraint."""
    return node.state == "ready" and node.availability == "active" and matches(node, constraints)
