"""``--web.config.file`` followed while serving: a renewed certificate is served to the
next connection without a restart, a broken one leaves the previous one serving with
one error event, and users follow the file too. Real TLS on 127.0.0.1, certificates
from the openssl command line."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator, MutableMapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import bcrypt
import pytest
import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from exporter.metrics.text import TextStore
from exporter.web import WebConfig, WebConfigError, follow_web_config
from exporter.web.exposition import Expositions
from exporter.web.server import make_app

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl CLI")


@pytest.fixture(autouse=True)
def every_level() -> Iterator[None]:
    """structlog's defaults: info events reach ``capture_logs``, and the others a live
    stream, whatever an earlier test configured (``status`` sets level error, on the
    stderr of its own test)."""
    before = structlog.get_config()
    structlog.reset_defaults()
    yield
    structlog.configure(**before)


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def new_pair(d: Path, name: str, *, ca: str = "", client: bool = False) -> None:
    """``name``.pem and ``name``.key: self-signed, or signed by ``ca`` (.pem/.key)."""
    key = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    if not ca:
        openssl("req", "-x509", *key, "-keyout", f"{name}.key", "-out", f"{name}.pem",
                "-subj", f"/CN={name}", "-days", "2",
                "-addext", "subjectAltName=IP:127.0.0.1", cwd=d)  # fmt: skip
        return
    openssl("req", "-new", *key, "-keyout", f"{name}.key", "-out", f"{name}.csr",
            "-subj", f"/CN={name}", cwd=d)  # fmt: skip
    (d / f"{name}.ext").write_text(f"extendedKeyUsage={'clientAuth' if client else 'serverAuth'}\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
            "-set_serial", "7", "-days", "2", "-extfile", f"{name}.ext",
            "-out", f"{name}.pem", cwd=d)  # fmt: skip


def put(source: Path, target: Path) -> None:
    """Put a copy of ``source`` in place of ``target`` by rename, as certbot or a
    Kubernetes secret volume would (the file is never seen half written)."""
    shutil.copy(source, target.with_name(target.name + ".new"))
    target.with_name(target.name + ".new").replace(target)


def install(d: Path, source: str, target: str) -> None:
    """``source``.pem and .key as ``target``.pem and .key."""
    for ext in ("pem", "key"):
        put(d / f"{source}.{ext}", d / f"{target}.{ext}")


def der(path: Path) -> bytes:
    return ssl.PEM_cert_to_DER_cert(path.read_text())


def write(path: Path, text: str) -> None:
    path.with_suffix(".new").write_text(text)
    path.with_suffix(".new").replace(path)


TLS = "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n"


@asynccontextmanager
async def serving(config: WebConfig) -> AsyncIterator[int]:
    app = make_app(
        Expositions([TextStore(())]), CollectorRegistry(), lambda: (True, "ready"), config
    )
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=config.tls).start()
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()


async def served_cert(port: int, client: tuple[Path, Path] | None = None) -> bytes:
    """The certificate the server presents to a new connection (which then asks for
    /healthz, so that a refused client certificate shows as a ConnectionError)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if client is not None:
        ctx.load_cert_chain(*client)
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
    try:
        cert = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = await reader.read()
        if not answer.startswith(b"HTTP/1.1 200"):
            raise ConnectionError(f"no answer: {answer[:60]!r}")
        return bytes(cert)
    finally:
        writer.close()


def events(logs: list[MutableMapping[str, Any]], name: str) -> list[MutableMapping[str, Any]]:
    return [e for e in logs if e["event"] == name]


async def test_a_renewed_certificate_is_served_and_a_broken_one_is_not(tmp_path: Path) -> None:
    for name in ("first", "second", "third"):
        new_pair(tmp_path, name)
    install(tmp_path, "first", "server")
    path = tmp_path / "web.yml"
    path.write_text(TLS)
    config = follow_web_config(path, interval=0)
    async with serving(config) as port:
        assert await served_cert(port) == der(tmp_path / "first.pem")

        with capture_logs() as logs:
            install(tmp_path, "second", "server")
            assert await served_cert(port) == der(tmp_path / "second.pem")
        assert [e["log_level"] for e in events(logs, "web_config_reloaded")] == ["info"]

        # Broken, in three ways; each change logged once, however many connect.
        breakages: list[tuple[Callable[[], None], str]] = [
            (
                lambda: write(tmp_path / "server.pem", "-----BEGIN CERTIFICATE-----\nnope\n"),
                "server.pem contains no PEM certificate",
            ),
            (
                lambda: put(tmp_path / "third.key", tmp_path / "server.key"),
                "server.key does not match the certificate",
            ),
            (lambda: write(path, TLS + "  cert_file: [\n"), "invalid YAML"),
        ]
        for broken, why in breakages:
            install(tmp_path, "second", "server")
            write(path, TLS)
            await served_cert(port)  # the good files again, seen
            with capture_logs() as logs:
                broken()
                for _ in range(5):
                    assert await served_cert(port) == der(tmp_path / "second.pem")
            failed = events(logs, "web_config_reload_failed")
            assert len(failed) == 1, logs
            assert failed[0]["log_level"] == "error" and failed[0]["file"] == str(path)
            assert why in failed[0]["error"]

        # Fixed: the next connection gets the new certificate.
        write(path, TLS)
        install(tmp_path, "third", "server")
        assert await served_cert(port) == der(tmp_path / "third.pem")


async def test_files_are_looked_at_once_a_second_at_most(tmp_path: Path) -> None:
    for name in ("first", "second"):
        new_pair(tmp_path, name)
    install(tmp_path, "first", "server")
    path = tmp_path / "web.yml"
    path.write_text(TLS)
    now = [100.0]
    config = follow_web_config(path, clock=lambda: now[0])
    async with serving(config) as port:
        install(tmp_path, "second", "server")
        now[0] += 0.9
        assert await served_cert(port) == der(tmp_path / "first.pem")
        now[0] += 0.1
        assert await served_cert(port) == der(tmp_path / "second.pem")


async def test_client_cas_follow_and_a_policy_change_waits_for_a_restart(tmp_path: Path) -> None:
    for ca in ("ca1", "ca2"):
        new_pair(tmp_path, ca)
        new_pair(tmp_path, f"client-{ca}", ca=ca, client=True)
    new_pair(tmp_path, "server")
    install(tmp_path, "ca1", "clients-ca")
    path = tmp_path / "web.yml"
    strict = (
        TLS + "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: clients-ca.pem\n"
    )
    path.write_text(strict)
    config = follow_web_config(path, interval=0)
    one, two = (
        (tmp_path / f"client-{ca}.pem", tmp_path / f"client-{ca}.key") for ca in ("ca1", "ca2")
    )
    async with serving(config) as port:
        await served_cert(port, one)
        with pytest.raises((ConnectionError, ssl.SSLError)):
            await served_cert(port, two)

        install(tmp_path, "ca2", "clients-ca")  # the clients' CA renewed
        await served_cert(port, two)
        with pytest.raises((ConnectionError, ssl.SSLError)):
            await served_cert(port, one)

        # Loosening (or tightening) who may connect changes the listening socket's own
        # settings: refused, told once, and the previous config goes on serving.
        with capture_logs() as logs:
            write(path, TLS)
            with pytest.raises((ConnectionError, ssl.SSLError)):
                await served_cert(port)
            await served_cert(port, two)
        (failed,) = events(logs, "web_config_reload_failed")
        assert "client_auth_type changed: that takes a restart" in str(failed["error"])


async def test_users_follow_the_file(tmp_path: Path) -> None:
    def users(**passwords: str) -> str:
        lines = [
            f"  {u}: '{bcrypt.hashpw(p.encode(), bcrypt.gensalt(rounds=4)).decode()}'"
            for u, p in passwords.items()
        ]
        return "basic_auth_users:\n" + "\n".join(lines) + "\n"

    headers = "http_server_config:\n  headers:\n    X-Frame-Options: deny\n"
    path = tmp_path / "web.yml"
    with capture_logs():  # "basic_auth_users without TLS" is a warning of the loads
        path.write_text(users(alice="old") + headers)
        config = follow_web_config(path, interval=0)
        async with serving(config) as port, aiohttp.ClientSession() as session:

            async def status(user: str, password: str) -> tuple[int, str | None]:
                auth = {"Authorization": aiohttp.encode_basic_auth(user, password)}
                async with session.get(f"http://127.0.0.1:{port}/healthz", headers=auth) as r:
                    return r.status, r.headers.get("X-Frame-Options")

            assert await status("alice", "old") == (200, "deny")  # remembered from now on
            write(path, users(alice="new", bob="b"))
            assert await status("alice", "new") == (200, None)
            assert await status("bob", "b") == (200, None)
            # Last: a failure makes the client wait a second before its next check.
            assert await status("alice", "old") == (401, None)  # forgotten with the change
            write(path, headers)  # no users: no auth
            assert await status("anyone", "x") == (200, "deny")


def test_a_file_that_does_not_load_still_stops_the_start(tmp_path: Path) -> None:
    path = tmp_path / "web.yml"
    path.write_text("tls_server_config:\n  cert_file: missing.pem\n  key_file: missing.key\n")
    with pytest.raises(WebConfigError, match="cannot read cert_file"):
        follow_web_config(path)
    assert follow_web_config("") == WebConfig()


async def test_a_config_nested_too_deep_aborts_no_handshake(tmp_path: Path) -> None:
    """A file of 5,000 nested lists raised RecursionError inside the TLS layer's SNI
    callback: one handshake aborted, a plain-text traceback among the JSON logs."""
    new_pair(tmp_path, "first")
    install(tmp_path, "first", "server")
    path = tmp_path / "web.yml"
    path.write_text(TLS)
    config = follow_web_config(path, interval=0)
    async with serving(config) as port:
        with capture_logs() as logs:
            write(path, "tls_server_config: " + "[" * 5000 + "]" * 5000 + "\n")
            for _ in range(3):
                assert await served_cert(port) == der(tmp_path / "first.pem")
    failed = events(logs, "web_config_reload_failed")
    assert len(failed) == 1 and "nested too deeply" in failed[0]["error"]
    assert all("Traceback" not in str(e) for e in logs)
    # At start, one line too.
    with pytest.raises(WebConfigError, match="nested too deeply"):
        follow_web_config(path)
