"""Which nodes a service's placement constraints allow.

Needed three times: a global service's desired replicas are its eligible nodes, the
healer will not force a service that no ready, active node can take, and a pending
task's placement is explained node by node (``exporter.placement``).
Semantics follow swarmkit's ``manager/constraint``: ``==`` / ``!=`` (``==`` looked
for first, each expression split at its first operator), keys ``node.id``,
``node.hostname``, ``node.ip`` (an address or a CIDR), ``node.role``,
``node.platform.os``, ``node.platform.arch``, ``node.labels.X``,
``engine.labels.X``; keys are case-insensitive but for the label's own name, and
values are compared case-insensitively (Go's ``strings.EqualFold``). A missing
label is the empty value: ``!=`` holds, ``==`` does not.
"""

from __future__ import annotations

import ipaddress

from exporter.types import Node

_OPERATORS = ("==", "!=")


class ConstraintError(ValueError):
    """A constraint expression that swarmkit would reject as well."""


def _split(expr: str) -> tuple[str, str, str]:
    for op in _OPERATORS:
        key, sep, want = expr.partition(op)
        if sep:
            key, want = key.strip(), want.strip()
            if not key or not want:
                break
            return key, op, want
    raise ConstraintError(f"malformed constraint {expr!r}")


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
        return dict(node.labels).get(key[len("node.labels.") :], "")
    if k.startswith("engine.labels."):
        return dict(node.engine_labels).get(key[len("engine.labels.") :], "")
    raise ConstraintError(f"unknown constraint key {key!r}")


def _ip_matches(address: str, want: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    try:
        if "/" in want:
            return ip in ipaddress.ip_network(want, strict=False)
        return ip == ipaddress.ip_address(want)
    except ValueError:
        return False  # swarmkit fails the node on a malformed address too


def holds(node: Node, expr: str) -> bool:
    """Whether ``node`` satisfies one constraint expression; a malformed one never does."""
    try:
        key, op, want = _split(expr)
        if key.lower() == "node.ip":
            equal = _ip_matches(node.address, want)
        else:
            have = _node_value(node, key)
            equal = have is not None and have.casefold() == want.casefold()
    except ConstraintError:
        return False
    return (op == "==") == equal


def first_failing(node: Node, constraints: tuple[str, ...]) -> str | None:
    """The first of ``constraints`` that ``node`` does not satisfy, or None."""
    return next((expr for expr in constraints if not holds(node, expr)), None)


def matches(node: Node, constraints: tuple[str, ...]) -> bool:
    """True when ``node`` satisfies every constraint; a malformed one never matches."""
    return first_failing(node, constraints) is None


def eligible(node: Node, constraints: tuple[str, ...]) -> bool:
    """A node that can take new tasks of a service with ``constraints`` now: ready,
    active, and allowed by every constraint."""
    return node.state == "ready" and node.availability == "active" and matches(node, constraints)
