"""What a scrape serves (``exporter.web.exposition``) from the stores' pieces
(``TextStore.take``): after any sequence of changes, the same text the stores join,
plain and gzipped; made again from the changed pieces only."""

from __future__ import annotations

import asyncio
import random
import zlib

from exporter.metrics.text import PIECE_CHARS, Family, TextStore, key_hash, sample
from exporter.web.exposition import Expositions

A = Family("test_a", "gauge", "A family with many objects.", ("k",))
B = Family("test_b", "counter", "A family some objects have.", ("k",))


def lines(family: Family, key: str, n: int, value: int) -> str:
    return "".join(sample(family, (("k", key), ("n", str(i))), value) for i in range(n))


def gunzip(parts: list[bytes]) -> bytes:
    raw = b"".join(parts)
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    text = d.decompress(raw) + d.flush()
    assert d.eof and not d.unused_data
    return text


def check(expositions: Expositions, stores: list[TextStore]) -> None:
    e = expositions.current
    for om in (False, True):
        want = b"".join(s.render(om) for s in stores)
        assert e.text(om) == want
        assert b"".join(e.parts(om, False, b"tail\n")) == want + b"tail\n"
        assert gunzip(e.parts(om, True, b"tail\n")) == want + b"tail\n"


def test_any_sequence_of_changes_reads_the_same_as_the_stores() -> None:
    rng = random.Random(5)
    stores = [TextStore([A, B]), TextStore([B])]
    expositions = Expositions(stores)  # no loop runs here: built on ``build``
    try:
        check(expositions, stores)
        keys = [f"obj/{i}" for i in range(600)]
        for step in range(40):
            for _ in range(rng.randrange(1, 300)):
                store = rng.choice(stores)
                key = rng.choice(keys)
                if rng.random() < 0.15:
                    store.delete(key)
                    continue
                chunks = {B.name: lines(B, key, rng.randrange(0, 3), step)}
                if A.name in store.families:
                    chunks[A.name] = lines(A, key, rng.randrange(0, 8), step)
                store.put(key, chunks)
            expositions.build()
            check(expositions, stores)
        # Everything removed: the pieces shrink back, and the text is empty.
        for store in stores:
            for key in keys:
                store.delete(key)
        expositions.build()
        check(expositions, stores)
        assert expositions.current.text() == b""
    finally:
        expositions.close()


def test_a_family_is_in_pieces_by_key_and_a_take_hands_over_what_changed() -> None:
    store = TextStore([A, B])
    first = {t.family.name: t for t in store.take()}
    assert first[A.name].relaid and not first[A.name].changed  # empty, one piece
    keys = [f"node/{i:05d}" for i in range(2000)]
    for k in keys:
        store.put(k, {A.name: lines(A, k, 3, 1)})
    took = {t.family.name: t for t in store.take()}
    a = took[A.name]
    total = len(store.render()) - len(A.header(False))
    assert a.relaid and a.pieces > 8
    assert total / a.pieces <= 2 * PIECE_CHARS  # doubled past twice the size wanted
    assert set(a.changed) == set(range(a.pieces))
    assert not took[B.name].changed
    # A piece holds the keys of one hash class, in the order they came.
    for i, chunks in a.changed.items():
        ours = [k for k in keys if key_hash(k) & (a.pieces - 1) == i]
        assert chunks == tuple(lines(A, k, 3, 1) for k in ours)
    # One object changed: its piece alone, nothing relaid.
    store.put(keys[7], {A.name: lines(A, keys[7], 3, 2)})
    again = {t.family.name: t for t in store.take()}[A.name]
    assert not again.relaid and list(again.changed) == [key_hash(keys[7]) & (a.pieces - 1)]
    assert not {t.family.name: t for t in store.take()}[A.name].changed  # handed over once
    # The same text again is no change at all.
    version = store.version
    store.put(keys[7], {A.name: lines(A, keys[7], 3, 2)})
    assert store.version == version
    # All but a few gone: back to fewer pieces.
    for k in keys[10:]:
        store.delete(k)
    assert {t.family.name: t for t in store.take()}[A.name].pieces < a.pieces


async def test_changes_are_served_after_one_build_and_a_burst_costs_few() -> None:
    store = TextStore([A])
    expositions = Expositions([store])
    try:
        first = expositions.current
        for i in range(500):  # a publish: hundreds of puts in one callback
            store.put(f"k{i}", {A.name: lines(A, f"k{i}", 2, i)})
        assert expositions.current is first  # swapped in whole, not changed under a scrape
        settled = await expositions.settled()
        assert settled.version - first.version <= 2
        check(expositions, [store])
        await asyncio.sleep(0.01)
        assert expositions.current is settled  # nothing changed: nothing built
    finally:
        expositions.close()
