"""Pre-rendered exposition text, joined at scrape time.

As kube-state-metrics does since v1.5: when an object changes, its metric
lines are rendered once and stored under its key; a scrape only joins the
stored chunks (and caches the join until the next change). Rendering through
prometheus-client costs microseconds a series, which at swarm scale would block
the event loop for the length of every scrape.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

CONTENT_TYPE_TEXT = "text/plain; version=0.0.4; charset=utf-8"
CONTENT_TYPE_OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"

CACHED_NOTE = "Cached: updated as changes are seen, not read from the engine at scrape time."
"""Ends the HELP of every family rendered here: the Prometheus guidelines for exporters
ask that a value not fetched at scrape time say so in its HELP. One place, so no family
can forget it; the registry's own counters are live and do not carry it."""


@dataclass(frozen=True, slots=True)
class Family:
    name: str  # for counters, without the _total suffix
    type: str  # gauge | counter
    help: str
    labels: tuple[str, ...] = ()  # documented label names (checked by tests)

    def header(self, openmetrics: bool) -> str:
        # Text 0.0.4 names counter families with their _total suffix, as
        # prometheus-client does; OpenMetrics names the family without it.
        name = self.name + "_total" if self.type == "counter" and not openmetrics else self.name
        help_text = f"{self.help} {CACHED_NOTE}".replace("\\", "\\\\").replace("\n", "\\n")
        return f"# HELP {name} {help_text}\n# TYPE {name} {self.type}\n"

    @property
    def sample_name(self) -> str:
        return self.name + "_total" if self.type == "counter" else self.name


Rendered = dict[str, str]
"""One object's exposition lines, by family name: what a kind's generator returns."""


LABEL_VALUE_MAX = 1024
"""Characters of a label value at most: a 200 KB service label must not go to every
scrape and into the TSDB whole."""


class LabelCuts:
    """How many label values were cut to ``LABEL_VALUE_MAX`` (exported as a counter)."""

    count = 0


def escape(value: str) -> str:
    """A label value as the exposition formats want it, whatever string came in."""
    if len(value) > LABEL_VALUE_MAX:
        value = value[:LABEL_VALUE_MAX]
        LabelCuts.count += 1
    if not value.isascii():
        # A lone surrogate (JSON can carry "\ud800") cannot be encoded as UTF-8:
        # it would fail the whole scrape. It becomes "?".
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def sample(family: Family, labels: Iterable[tuple[str, str]], value: float) -> str:
    """One exposition line, newline included."""
    inner = ",".join(f'{k}="{escape(v)}"' for k, v in labels)
    if isinstance(value, bool):
        value = int(value)
    text = str(value) if isinstance(value, int) else repr(float(value))
    return (
        f"{family.sample_name}{{{inner}}} {text}\n" if inner else f"{family.sample_name} {text}\n"
    )


class TextStore:
    """Chunks of rendered lines by family and object key; joins them on demand."""

    def __init__(self, families: Iterable[Family]) -> None:
        self.families = {f.name: f for f in families}
        self._chunks: dict[str, dict[str, str]] = {name: {} for name in self.families}
        self._keys: dict[str, tuple[str, ...]] = {}  # key -> families it has chunks in
        self._cache: dict[bool, bytes] = {}
        self.version = 0
        """Counts the changes: what a cache of something made from ``render`` keys on."""

    def put(self, key: str, chunks: Mapping[str, str]) -> None:
        """Replace every chunk of ``key`` with ``chunks`` (family name -> lines)."""
        held = self._keys.get(key, ())
        if len(held) == sum(1 for t in chunks.values() if t) and all(
            chunks.get(name) == self._chunks[name].get(key) for name in held
        ):
            # The same text again (a healer pass, a poll that moved nothing): the joined
            # body and its compressed pieces stay good.
            return
        for name in held:
            if name not in chunks:
                self._chunks[name].pop(key, None)
        for name, text in chunks.items():
            if name not in self._chunks:
                raise KeyError(f"unknown metric family {name!r}")
            if text:
                self._chunks[name][key] = text
            else:
                self._chunks[name].pop(key, None)
        self._keys[key] = tuple(n for n, t in chunks.items() if t)
        self._cache.clear()
        self.version += 1

    def delete(self, key: str) -> None:
        if key not in self._keys:
            return
        for name in self._keys.pop(key, ()):
            self._chunks[name].pop(key, None)
        self._cache.clear()
        self.version += 1

    def render(self, openmetrics: bool = False) -> bytes:
        body = self._cache.get(openmetrics)
        if body is None:
            parts: list[str] = []
            for name, family in self.families.items():
                chunks = self._chunks[name]
                if chunks:
                    parts.append(family.header(openmetrics))
                    parts.extend(chunks.values())
            body = "".join(parts).encode()
            self._cache[openmetrics] = body
        return body

    @property
    def series(self) -> int:
        return sum(t.count("\n") for c in self._chunks.values() for t in c.values())
