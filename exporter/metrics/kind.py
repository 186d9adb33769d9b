"""Metric families as values, per kind of object (as kube-state-metrics'
``FamilyGenerator`` lists and its ``wrapNodeFunc``).

A ``Kind`` is the identity labels of its objects (added once, to every sample of every
family) and a list of ``Generator``: a family and the function that gives an object's
samples of it. Adding a metric is one ``Generator`` in its kind's list (and a row in
docs/metrics.md, a line in the kind's golden text). A ``KindStore`` takes the objects
of a kind (``update``, ``delete``, ``replace``) and keeps their rendered text in the
``TextStore`` that scrapes join.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from exporter.metrics.limits import SeriesLimit
from exporter.metrics.text import Family, Rendered, TextStore, sample
from exporter.types import Labels

T = TypeVar("T")

Sample = tuple[Labels, float]
"""The labels a sample has beyond its object's identity, and its value."""


@dataclass(frozen=True, slots=True)
class Generator(Generic[T]):
    family: Family
    samples: Callable[[T], Iterable[Sample]]
    lead: Callable[[T], Labels] | None = None
    """Labels written before the identity (an ``*_info`` series' own ID, say)."""


def one(value: Callable[[T], float | None]) -> Callable[[T], Iterable[Sample]]:
    """Samples of a family with one series per object: ``value``, absent when None."""

    def samples(obj: T) -> Iterable[Sample]:
        v = value(obj)
        return () if v is None else (((), v),)

    return samples


def state_set(name: str, values: Sequence[str], current: str) -> list[Sample]:
    """One sample per known value, 1 for ``current`` and 0 for the others; an unknown
    value (a newer engine's) is exported too, rather than lost."""
    known = values if current in values or not current else (*values, current)
    return [(((name, v),), 1 if v == current else 0) for v in known]


@dataclass(frozen=True, slots=True)
class Kind(Generic[T]):
    ident: Callable[[T], Labels]
    generators: Sequence[Generator[T]]

    @property
    def families(self) -> tuple[Family, ...]:
        return tuple(g.family for g in self.generators)

    def render(self, obj: T) -> Rendered:
        """``obj``'s exposition lines, by family; a family without samples is left out."""
        ident = self.ident(obj)
        out: Rendered = {}
        for g in self.generators:
            lead = g.lead(obj) if g.lead is not None else ()
            text = "".join(
                sample(g.family, (*lead, *ident, *extra), value) for extra, value in g.samples(obj)
            )
            if text:
                out[g.family.name] = text
        return out


NO_IDENT: Callable[[object], Labels] = lambda _: ()  # noqa: E731
"""The identity of a kind with one object (the cluster, the exporter itself)."""


class KindStore(Generic[T]):
    """The objects of one kind, by key, rendered into ``store`` (through ``limit``).

    An object whose series did not fit under ``limit`` waits: once another object's
    went (``delete``), ``settle`` lets the waiting ones in, so that the cap never keeps
    out for long what would fit now.
    """

    def __init__(
        self, prefix: str, kind: Kind[T], store: TextStore, limit: SeriesLimit | None = None
    ) -> None:
        self.prefix = prefix
        self.kind = kind
        self.store = store
        self.limit = limit
        self._keys: set[str] = set()
        self._waiting: dict[str, T] = {}
        self._freed = False

    def update(self, key: str, obj: T) -> None:
        """Add ``obj`` under ``key``, or render it again."""
        full = self.prefix + key
        rendered = self.kind.render(obj)
        if self.limit:
            admitted = self.limit.admit(full, rendered)
            if len(admitted) < len(rendered):
                self._waiting[key] = obj
            else:
                self._waiting.pop(key, None)
            rendered = admitted
        self.store.put(full, rendered)
        self._keys.add(key)

    def delete(self, key: str) -> None:
        full = self.prefix + key
        if self.limit:
            self.limit.release(full)
            self._freed = True
        self.store.delete(full)
        self._keys.discard(key)
        self._waiting.pop(key, None)

    def replace(self, objects: Mapping[str, T]) -> None:
        """Exactly ``objects``: the others deleted."""
        for key in self._keys - set(objects):
            self.delete(key)
        for key, obj in objects.items():
            self.update(key, obj)

    def settle(self) -> int:
        """After deletes, let in the objects left out at the cap that fit now; returns
        how many were tried."""
        if not self._freed or not self._waiting:
            self._freed = False
            return 0
        self._freed = False
        waiting = list(self._waiting.items())
        for key, obj in waiting:
            self.update(key, obj)
        return len(waiting)
