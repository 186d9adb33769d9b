"""How the process's garbage collector is set for a large, long-lived model.

With CPython's default thresholds, decoding task lists triggered frequent full
collections, which were most of the event-loop stalls that scrapes waited
behind (figures in docs/benchmarks.md). Decoded JSON is short-lived and
acyclic: collecting young objects often only costs time.
"""

from __future__ import annotations

import gc

THRESHOLDS = (50_000, 20, 10)
"""Allocations between gen0 collections (CPython: 700), gen0 collections per
gen1 collection (CPython: 10), gen1 collections per full one (as CPython)."""


def tune() -> None:
    """Once, at start-up."""
    gc.set_threshold(*THRESHOLDS)


def settle() -> None:
    """After a relist: move what it built out of the collector's sight.

    Every full collection walked the whole model: at scale those were the
    healer's p99. Frozen objects are still freed by reference counting;
    unfreezing and collecting first means a cycle that became garbage since the
    last relist is not kept for good. That full collection is one stall per
    relist, which itself takes seconds: every 30 min and after a reconnect.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def after_poll() -> None:
    """After each poll: what it built that still lives, out of the collector's sight.

    The objects a poll puts in the model (the services and tasks it replaced, their
    views) survive the young collections into the middle generation, and a collection
    of that generation walked every one of them, the GIL held throughout: the longest
    stalls left at scale (docs/benchmarks.md). Frozen, they are freed by reference
    counting as before; a cycle among them that becomes garbage waits for the next
    relist's ``settle`` (at most ``--watch.resync-interval``).
    """
    gc.freeze()
