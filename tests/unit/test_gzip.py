"""gzip on /metrics: negotiated by q-value, one gzip member of exactly the text the
identity answer carries, for every scrape that asks; only the pieces of text that
changed compressed again; and the real Prometheus (Debian's binary) scraping a real
swarm-sentinel process with gzip."""

from __future__ import annotations

import asyncio
import gzip
import random
import zlib
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter

from exporter.metrics.text import Family, TextStore, sample
from exporter.web import compress, exposition, load_web_config
from exporter.web.compress import accepts_gzip
from exporter.web.exposition import Expositions
from exporter.web.server import make_app, render_metrics
from tests.support.fake_engine import SampledEngine
from tests.support.prometheus_proc import Prometheus
from tests.support.sentinel import Sentinel, wait_for
from tests.unit.samples import SETS

OM = "application/openmetrics-text; version=1.0.0"
SERIES = Family("test_series", "gauge", "Many series.", ("i",))
OTHER = Family("test_other", "counter", "A second store's family.")
EMPTY = Family("test_empty", "gauge", "A store without series.")


@pytest.mark.parametrize(
    ("header", "gzip_ok"),
    [
        ("gzip", True),  # what Prometheus and Go's HTTP client send
        ("gzip, deflate, br", True),
        ("GZIP;q=0.5", True),  # gzip named, identity not: gzip
        ("x-gzip", True),
        ("*", True),
        ("", False),
        ("identity", False),
        ("deflate, br", False),
        ("gzip;q=0", False),
        ("gzip;q=0.5, identity", False),  # identity preferred by q-value
        ("gzip;q=0.5, *;q=0.8", False),  # * stands for identity too
        ("gzip;q=0.8, identity;q=0.5", True),
        ("gzip, identity", True),  # a tie: gzip
        ("*;q=0", False),
        ("gzip;q=garbage", False),
        ("gzip;q=2", False),  # out of range: not a q-value
        ("gzip;q=nan", False),
    ],
)
def test_gzip_only_when_acceptable_and_preferred(header: str, gzip_ok: bool) -> None:
    assert accepts_gzip(header) is gzip_ok


def stores() -> tuple[TextStore, TextStore, TextStore]:
    big = TextStore([SERIES])
    for i in range(0, 20_000, 1000):
        lines = "".join(sample(SERIES, (("i", f"{j:08d}"),), j) for j in range(i, i + 1000))
        big.put(str(i), {SERIES.name: lines})
    other = TextStore([OTHER])
    other.put("x", {OTHER.name: sample(OTHER, (), 3)})
    return big, TextStore([EMPTY]), other


@asynccontextmanager
async def served(
    *the_stores: TextStore, registry: CollectorRegistry
) -> AsyncIterator[tuple[str, aiohttp.ClientSession, Expositions]]:
    expositions = Expositions(the_stores)
    app = make_app(expositions, registry, lambda: (True, "ready"), load_web_config(None))
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/metrics"
        # auto_decompress off: the test reads the bytes on the wire.
        async with aiohttp.ClientSession(auto_decompress=False) as session:
            yield url, session, expositions
    finally:
        await runner.cleanup()
        expositions.close()


async def gzip_scrape(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str]
) -> tuple[bytes, aiohttp.ClientResponse]:
    """A scrape asking for gzip: it gets gzip, every time."""
    async with session.get(url, headers={**headers, "Accept-Encoding": "gzip"}) as resp:
        raw = await resp.read()
        assert resp.headers.get("Content-Encoding") == "gzip"
        return raw, resp


def gunzip_one_member(raw: bytes) -> bytes:
    """The text of ``raw``, which must be exactly one whole gzip member."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    text = d.decompress(raw) + d.flush()
    assert d.eof and not d.unused_data, "not exactly one gzip member"
    assert gzip.decompress(raw) == text
    return text


@pytest.mark.parametrize("openmetrics", [False, True])
async def test_the_gzip_body_is_one_member_of_the_identity_text(openmetrics: bool) -> None:
    the_stores = stores()
    registry = CollectorRegistry()
    Counter("test_own", "The exporter's own counter.", registry=registry).inc()
    accept = {"Accept": OM} if openmetrics else {}
    async with served(*the_stores, registry=registry) as (url, session, _):
        for _ in range(2):  # joined at the first ask, then reused
            raw, resp = await gzip_scrape(session, url, accept)
            assert "Accept-Encoding" in resp.headers["Vary"]
            assert int(resp.headers["Content-Length"]) == len(raw)
            assert resp.content_type.startswith(
                "application/openmetrics-text" if openmetrics else "text/plain"
            )
            async with session.get(url, headers={**accept, "Accept-Encoding": "identity"}) as resp:
                plain = await resp.read()
                assert "Content-Encoding" not in resp.headers
                assert "Accept-Encoding" in resp.headers["Vary"]
            text = gunzip_one_member(raw)
            assert text == plain == render_metrics(the_stores, registry, openmetrics)[0]
            assert text.endswith(b"# EOF\n") is openmetrics
            assert len(raw) * 5 < len(plain)


def test_the_crc_of_joined_text_comes_from_its_parts() -> None:
    rng = random.Random(3)
    for _ in range(300):
        a, b = rng.randbytes(rng.randrange(0, 20_000)), rng.randbytes(rng.randrange(0, 20_000))
        want = zlib.crc32(a + b)
        assert compress.crc32_combine(zlib.crc32(a), zlib.crc32(b), len(b)) == want
        assert compress._python_combine(zlib.crc32(a), zlib.crc32(b), len(b)) == want


async def test_a_scrape_compresses_only_the_registry_and_a_build_only_what_changed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compressed: list[int] = []  # sizes of what was compressed
    real = compress.deflate

    def counting(data: bytes, *, final: bool) -> bytes:
        compressed.append(len(data))
        return real(data, final=final)

    monkeypatch.setattr(exposition, "deflate", counting)
    big, empty, other = stores()
    registry = CollectorRegistry()
    own = Counter("test_own", "The exporter's own counter.", registry=registry)
    size = len(big.render())

    async def scrape() -> list[int]:
        compressed.clear()
        raw, _ = await gzip_scrape(session, url, {})
        gunzip_one_member(raw)
        return sorted(n for n in compressed if n > 1000)

    async with served(big, empty, other, registry=registry) as (url, session, expositions):
        # Made when served: the big store in pieces of about PIECE_CHARS.
        assert len(compressed) > 20 and max(compressed) < size // 10
        headers = exposition.header.cache_info()
        assert await scrape() == []  # and the first scrape is gzip already

        own.inc()  # the registry changes at every scrape: only its part is compressed
        assert await scrape() == []

        other.put("x", {OTHER.name: sample(OTHER, (), 4)})  # only the small store changed
        await expositions.settled()
        assert sum(compressed) < 1000  # its piece alone
        assert await scrape() == []

        compressed.clear()
        big.put("extra", {SERIES.name: sample(SERIES, (("i", "extra"),), 1)})
        await expositions.settled()
        # One piece of the big store made again (its keys hold 30 KB each), not the store.
        assert len(compressed) == 1 and compressed[0] < size // 10
        raw, _ = await gzip_scrape(session, url, {})
        assert b'i="extra"' in gunzip_one_member(raw)
        # The same text put again changes nothing: nothing compressed.
        compressed.clear()
        big.put("extra", {SERIES.name: sample(SERIES, (("i", "extra"),), 1)})
        await expositions.settled()
        assert compressed == []
        assert exposition.header.cache_info().misses == headers.misses


async def test_scrapes_during_changes_get_whole_expositions_gzipped_or_not() -> None:
    """Scrapers asking for gzip and for plain text while the stores change under them:
    every answer is one whole exposition (the text of the stores after one of the
    changes, never a mix), gzip to all who asked, and the newest once it settled."""
    big, empty, other = stores()
    registry = CollectorRegistry()
    texts = {b"".join(s.render() for s in (big, empty, other))}
    async with served(big, empty, other, registry=registry) as (url, session, expositions):
        done, enough = asyncio.Event(), asyncio.Event()
        got: list[tuple[bool, bytes]] = []
        wanted = [1_000_000]  # scrapes seen before ``enough`` is set

        async def scraper(encoding: str) -> None:
            while not done.is_set():
                async with session.get(url, headers={"Accept-Encoding": encoding}) as resp:
                    raw = await resp.read()
                    zipped = resp.headers.get("Content-Encoding") == "gzip"
                    assert zipped is (encoding == "gzip")
                got.append((zipped, gunzip_one_member(raw) if zipped else raw))
                if len(got) >= wanted[0]:
                    enough.set()

        scrapers = [asyncio.create_task(scraper(e)) for e in ("gzip", "gzip", "identity")]
        for n in range(60):
            big.put(f"k{n % 7}", {SERIES.name: sample(SERIES, (("i", f"c{n}"),), n)})
            if n % 3 == 0:
                other.put("x", {OTHER.name: sample(OTHER, (), n)})
            texts.add(b"".join(s.render() for s in (big, empty, other)))
            await asyncio.sleep(0.005)
        await expositions.settled()
        latest = b"".join(s.render() for s in (big, empty, other))
        before = len(got)
        wanted[0] = before + 6
        await asyncio.wait_for(enough.wait(), 10)
        done.set()
        await asyncio.gather(*scrapers)
    assert sum(1 for z, _ in got if z) >= 10
    assert all(text in texts for _, text in got)  # the registry is empty here
    assert all(text == latest for _, text in got[before + 3 :])


# --- the real Prometheus --------------------------------------------------------------


class Recorder:
    """A TCP proxy that keeps the beginning of what each side of a connection sent:
    the request's and the answer's heads, as Prometheus and swarm-sentinel wrote them."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.requests: list[bytes] = []
        self.answers: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream)
        await asyncio.gather(
            self._pipe(reader, up_writer, self.requests),
            self._pipe(up_reader, writer, self.answers),
        )

    @staticmethod
    async def _pipe(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, heads: list[bytes]
    ) -> None:
        head = b""
        try:
            while data := await reader.read(65536):
                if len(head) < 4096:
                    head += data[: 4096 - len(head)]
                    if b"\r\n\r\n" in head:
                        heads.append(head.partition(b"\r\n\r\n")[0])
                        head = b"x" * 4096  # the rest of this connection is not kept
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


@pytest.fixture
def no_rules(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "rules.yml"
    path.write_text("groups: []\n")
    yield path


async def test_prometheus_scrapes_the_gzip_body(tmp_path: Path, no_rules: Path) -> None:
    engine = SampledEngine(SETS[-1].dir)
    async with engine.serving(tmp_path) as url:
        # Two stores on the page (the model's and the healer's), then the registry.
        proc = Sentinel(url, ["--healer.dry-run"])
        await asyncio.to_thread(proc.start)
        # The model settled, and compressed once (a scrape gets gzip when the compressed
        # text is current), before Prometheus' first scrape.
        async with aiohttp.ClientSession(auto_decompress=False) as session:
            await gzip_scrape(session, f"{proc.url}/metrics", {"Accept": OM})
        proxy = Recorder(proc.port)
        prom = Prometheus([f"127.0.0.1:{await proxy.start()}"], no_rules)
        try:
            await asyncio.to_thread(prom.start)
            await asyncio.to_thread(
                wait_for, lambda: prom.scalar("up") == 1, 30, "Prometheus to see up 1"
            )
            request, answer = proxy.requests[-1].lower(), proxy.answers[-1].lower()
            assert b"\r\naccept-encoding: gzip" in request
            assert b"\r\ncontent-encoding: gzip" in answer
            assert b"\r\ncontent-type: application/openmetrics-text" in answer

            ours = {name for name, _ in (await asyncio.to_thread(proc.samples))}

            def theirs() -> set[str]:
                result = prom.query('group by (__name__) ({job="swarm-sentinel"})')
                return {r["metric"]["__name__"] for r in result}

            # Every name of the page, from the first store's to the registry's last.
            await asyncio.to_thread(wait_for, lambda: ours <= theirs(), 10, "every name")
            assert {"dockerswarm_node_info", "dockerswarm_healer_dry_run"} <= ours
            assert {"dockerswarm_build_info", "process_cpu_seconds_total"} <= ours
            # (Prometheus and the proxy's loop must not wait for each other: in threads.)
            assert await asyncio.to_thread(prom.scalar, "count(dockerswarm_node_info)") == len(
                engine.nodes
            )
            assert await asyncio.to_thread(prom.scalar, "dockerswarm_exporter_synced") == 1
            assert await asyncio.to_thread(prom.scalar, "dockerswarm_healer_dry_run") == 1
            scraped = await asyncio.to_thread(prom.scalar, "scrape_samples_scraped")
            assert scraped == pytest.approx(len(await asyncio.to_thread(proc.samples)), rel=0.05)
        finally:
            await asyncio.to_thread(prom.stop)
            await asyncio.to_thread(proc.stop)
            proxy.close()
