"""Which spec a task runs: the digest of a task spec, as the engine's updater compares them.

The engine's API does not say which version of its service's spec a task was made
from (swarmkit's ``Task.SpecVersion`` is not in the answer). Its updater decides
whether a task is out of date by comparing the task's own copy of the spec
(``Task.Spec``) with the service's ``Spec.TaskTemplate`` (swarmkit's
``orchestrator.IsTaskDirty``), and so does swarm-sentinel: a task runs on the current
spec when the digest of its ``Spec`` equals the digest of its service's
``TaskTemplate``.

Two fields are left out of the digest:

- ``Runtime``: the engine writes it into a service's template (``"container"``) but not
  into a task's copy of it;
- ``Placement``: when only the placement changed, the updater leaves a task where it
  runs if its node still fits (``IsTaskDirtyPlacementConstraintsOnly``); such a task
  keeps the old placement in its copy for good, and is on the current spec all the same.

The digest is taken over the canonical JSON (keys sorted, compact), so that an object
read as msgspec's undecoded slice and one read from ``json.loads`` digest alike. Tasks of
a service carry the same bytes, and an unchanged service sends the same bytes at every
poll: digests are cached by those bytes.
"""

from __future__ import annotations

import functools
import hashlib

import msgspec

LEFT_OUT = frozenset({"Runtime", "Placement"})
"""Fields of a task spec the digest ignores (see the module's docstring)."""

_CACHED = 8192
"""Distinct specs whose digest is kept: a spec is some hundred bytes."""


@functools.lru_cache(maxsize=_CACHED)
def digest(raw: bytes) -> str:
    """The digest of a task spec given as JSON (a task's ``Spec``, a service's
    ``TaskTemplate``); "" for anything but an object (missing, null, garbled)."""
    if not raw:
        return ""
    try:
        spec = msgspec.json.decode(raw)
        if not isinstance(spec, dict):
            return ""
        canonical = msgspec.json.encode(
            {k: v for k, v in spec.items() if k not in LEFT_OUT}, order="sorted"
        )
    except (msgspec.DecodeError, msgspec.EncodeError, RecursionError, OverflowError, TypeError):
        return ""
    return hashlib.blake2b(canonical, digest_size=8).hexdigest()
