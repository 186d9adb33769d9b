"""A cap on the series of each family, so that a runaway (a label allowlisted by
mistake, a stack that creates services in a loop) cannot grow the scrape without
bound: what does not fit is dropped, counted, and said once."""

from __future__ import annotations

from collections import Counter

import structlog
from prometheus_client import CollectorRegistry
from prometheus_client import Counter as PromCounter

from exporter.metrics.text import Rendered

log = structlog.get_logger("exporter.metrics")


class SeriesLimit:
    """At most ``limit`` series per family across the store's keys (0: no limit).

    An object's series of a family are kept or dropped together: a family never
    shows half of one node or service.
    """

    def __init__(self, limit: int, registry: CollectorRegistry | None = None) -> None:
        self.limit = limit
        # key -> family -> series: an object's own families, so that re-rendering
        # it touches those, not every family of the store.
        self._held: dict[str, dict[str, int]] = {}
        self._totals: Counter[str] = Counter()
        self._warned: set[str] = set()
        self.dropped = PromCounter(
            "dockerswarm_exporter_series_dropped",
            "Series not exported because their family reached --metric.max-series-per-family.",
            ["family"],
            registry=registry,
        )

    def admit(self, key: str, rendered: Rendered) -> Rendered:
        """``rendered`` (an object's chunks by family) without what would not fit."""
        if not self.limit:
            return rendered
        self.release(key)
        held: dict[str, int] = {}
        out: Rendered = {}
        for family, chunk in rendered.items():
            n = chunk.count("\n")
            if self._totals[family] + n > self.limit:
                self._drop(family, n)
                continue
            self._totals[family] += n
            held[family] = n
            out[family] = chunk
        if held:
            self._held[key] = held
        return out

    def release(self, key: str) -> None:
        """Forget ``key``'s series."""
        for family, n in self._held.pop(key, {}).items():
            self._totals[family] -= n

    def _drop(self, family: str, n: int) -> None:
        self.dropped.labels(family).inc(n)
        if family not in self._warned:
            self._warned.add(family)
            log.warning(
                "series_limit_reached",
                family=family,
                limit=self.limit,
                problem="further series of this family are dropped and counted",
            )
