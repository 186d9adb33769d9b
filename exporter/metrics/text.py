"""Pre-rendered exposition text, joined at scrape time.

As kube-state-metrics does since v1.5: when an object changes, its metric
lines are rendered once and stored under its key; a scrape only joins the
stored text. Rendering through prometheus-client costs microseconds a series,
which at swarm scale would block the event loop for the length of every scrape.
What a scrape reads is made from the pieces that changed (``TextStore.take``,
``exporter.web.exposition``).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Mapping
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


PIECE_CHARS = 8 * 1024
"""About how much of a family's text one piece holds (``TextStore``): a piece is
compressed again whenever one of its objects changes, so a change costs its pieces'
size, where one compressed body per family would cost the family's (megabytes at
scale). Pieces of 8 KiB compress to within 15 % of the whole text; 2 KiB pieces lose
40 % (docs/benchmarks.md)."""


def key_hash(key: str) -> int:
    """Which piece of each family an object's lines go to, by its key: the same in every
    process (``hash`` of a string is not), so that the order of lines is too."""
    return zlib.crc32(key.encode("utf-8", "surrogatepass"))


class _FamilyText:
    """One family's chunks, by piece (a power of two of them, chosen by its size) and key."""

    __slots__ = ("chars", "dirty", "pieces", "relaid")

    def __init__(self) -> None:
        self.pieces: list[dict[str, str]] = [{}]
        self.chars = 0
        self.dirty: set[int] = set()
        self.relaid = False  # the number of pieces changed since the last take

    def piece(self, h: int) -> int:
        return h & (len(self.pieces) - 1)

    def fit(self, hashes: Mapping[str, int]) -> None:
        """As many pieces as its size wants: doubled when they hold twice ``PIECE_CHARS``
        on average, halved at a quarter, every line moved to its new piece."""
        n = len(self.pieces)
        want = n
        while self.chars > 2 * PIECE_CHARS * want:
            want *= 2
        while want > 1 and self.chars < PIECE_CHARS * want // 4:
            want //= 2
        if want == n:
            return
        old = self.pieces
        self.pieces = [{} for _ in range(want)]
        for chunks in old:
            for key, text in chunks.items():
                self.pieces[hashes[key] & (want - 1)][key] = text
        self.relaid = True
        self.dirty = set(range(want))


@dataclass(frozen=True, slots=True)
class FamilyTake:
    """What changed in one family's pieces since the last ``TextStore.take``."""

    family: Family
    pieces: int
    """How many pieces it has now (each a group of its objects' lines)."""
    changed: Mapping[int, tuple[str, ...]]
    """The pieces that changed, by index: their chunks, in order (an empty tuple: the
    piece is empty now)."""
    relaid: bool
    """Its objects were spread over a new number of pieces: pieces not in ``changed``
    are empty."""


class TextStore:
    """Chunks of rendered lines by family and object key; joins them on demand.

    Each family's chunks are spread over pieces by their key's hash
    (``PIECE_CHARS``): ``take`` hands over the pieces that changed since it was last
    called, for whoever keeps the text as served (``exporter.web.exposition``), and
    ``render`` joins everything (tests, the cost curve).
    """

    def __init__(self, families: Iterable[Family]) -> None:
        self.families = {f.name: f for f in families}
        self._text: dict[str, _FamilyText] = {name: _FamilyText() for name in self.families}
        for fam in self._text.values():
            fam.relaid = True  # the first take hands over every piece
        self._keys: dict[str, tuple[str, ...]] = {}  # key -> families it has chunks in
        self._hashes: dict[str, int] = {}
        self._cache: dict[bool, bytes] = {}
        self._listeners: list[Callable[[], None]] = []
        self.version = 0
        """Counts the changes: what a cache of something made from the text keys on."""

    def listen(self, changed: Callable[[], None]) -> None:
        """Call ``changed`` after every change (it should only note that one happened:
        a publish puts thousands of keys)."""
        self._listeners.append(changed)

    def put(self, key: str, chunks: Mapping[str, str]) -> None:
        """Replace every chunk of ``key`` with ``chunks`` (family name -> lines)."""
        held = self._keys.get(key, ())
        texts = self._text
        if len(held) == sum(1 for t in chunks.values() if t) and all(
            (fam := texts[name]).pieces[fam.piece(self._hashes[key])].get(key) == chunks.get(name)
            for name in held
        ):
            # The same text again (a healer pass, a poll that moved nothing): the joined
            # body and its compressed pieces stay good.
            return
        for name in chunks:
            if name not in texts:
                raise KeyError(f"unknown metric family {name!r}")
        h = self._hashes.get(key)
        if h is None:
            h = self._hashes[key] = key_hash(key)
        for name in held:
            if name not in chunks:
                self._drop(texts[name], key, h)
        for name, text in chunks.items():
            fam = texts[name]
            i = fam.piece(h)
            piece = fam.pieces[i]
            old = piece.get(key)
            if text:
                piece[key] = text
                fam.chars += len(text) - (len(old) if old is not None else 0)
            elif old is not None:
                del piece[key]
                fam.chars -= len(old)
            else:
                continue
            fam.dirty.add(i)
            fam.fit(self._hashes)
        kept = tuple(n for n, t in chunks.items() if t)
        if kept:
            self._keys[key] = kept
        else:
            self._keys.pop(key, None)
            self._hashes.pop(key, None)
        self._changed()

    def delete(self, key: str) -> None:
        held = self._keys.pop(key, None)
        if held is None:
            return
        h = self._hashes.pop(key)
        for name in held:
            self._drop(self._text[name], key, h)
        self._changed()

    def _drop(self, fam: _FamilyText, key: str, h: int) -> None:
        i = fam.piece(h)
        old = fam.pieces[i].pop(key, None)
        if old is not None:
            fam.chars -= len(old)
            fam.dirty.add(i)
            fam.fit(self._hashes)

    def _changed(self) -> None:
        self._cache.clear()
        self.version += 1
        for changed in self._listeners:
            changed()

    def take(self, *, everything: bool = False) -> tuple[FamilyTake, ...]:
        """Every family, in order, with the pieces that changed since the last call
        (``everything``: all of them, as at the first); the store then forgets what it
        handed over."""
        out = []
        for name, family in self.families.items():
            fam = self._text[name]
            if everything:
                fam.dirty, fam.relaid = set(range(len(fam.pieces))), True
            changed = {i: tuple(fam.pieces[i].values()) for i in sorted(fam.dirty)}
            out.append(FamilyTake(family, len(fam.pieces), changed, fam.relaid))
            fam.dirty = set()
            fam.relaid = False
        return tuple(out)

    def render(self, openmetrics: bool = False) -> bytes:
        """The whole text, as a scrape would serve it."""
        body = self._cache.get(openmetrics)
        if body is None:
            parts: list[str] = []
            for name, family in self.families.items():
                fam = self._text[name]
                if fam.chars:
                    parts.append(family.header(openmetrics))
                    for piece in fam.pieces:
                        parts.extend(piece.values())
            body = "".join(parts).encode()
            self._cache[openmetrics] = body
        return body

    @property
    def series(self) -> int:
        return sum(
            t.count("\n")
            for fam in self._text.values()
            for piece in fam.pieces
            for t in piece.values()
        )
