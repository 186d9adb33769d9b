"""exporter.web (config, TLS, auth) against real TLS and a real aiohttp server on 127.0.0.1.

Certificates come from the openssl command line (one throw-away CA per session signing
a server and a client certificate); bcrypt hashes use cost 4 so the suite stays fast.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import bcrypt
import pytest
from aiohttp import web

from exporter.web import (
    WebConfig,
    WebConfigError,
    basic_auth_middleware,
    load_web_config,
)
from exporter.web.auth import Checks

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl CLI")

REALM_HEADER = 'Basic realm="swarm-sentinel"'
PASSWORD = "s3cret-pass"


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_key: Path  # a valid key that the CA never signed for
    stranger_cert: Path  # self-signed with other_key: not from our CA
    encrypted_key: Path  # server_key under a passphrase


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _new_key(name: str, cwd: Path) -> None:
    # EC keys: generated in milliseconds, unlike RSA.
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-out", name, cwd=cwd)  # fmt: skip


def _signed_cert(name: str, cn: str, ext: str, serial: str, cwd: Path) -> None:
    _new_key(f"{name}.key", cwd)
    _openssl("req", "-new", "-key", f"{name}.key", "-subj", f"/CN={cn}", "-out", f"{name}.csr",
             cwd=cwd)  # fmt: skip
    (cwd / f"{name}.ext").write_text(ext)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-set_serial", serial, "-days", "2", "-extfile", f"{name}.ext",
             "-out", f"{name}.pem", cwd=cwd)  # fmt: skip


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d = tmp_path_factory.mktemp("pki")
    _new_key("ca.key", d)
    _openssl("req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=swarm-sentinel test CA",
             "-days", "2", "-out", "ca.pem", cwd=d)  # fmt: skip
    _signed_cert(
        "server",
        "localhost",
        "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
        "1",
        d,
    )
    _signed_cert(
        "client", "scraper", "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n", "2", d
    )
    _new_key("other.key", d)
    _openssl("req", "-x509", "-new", "-key", "other.key", "-subj", "/CN=stranger", "-days", "2",
             "-out", "stranger.pem", cwd=d)  # fmt: skip
    _openssl("pkey", "-in", "server.key", "-aes256", "-passout", "pass:hunter2",
             "-out", "encrypted.key", cwd=d)  # fmt: skip
    return Pki(
        ca=d / "ca.pem",
        server_cert=d / "server.pem",
        server_key=d / "server.key",
        client_cert=d / "client.pem",
        client_key=d / "client.key",
        other_key=d / "other.key",
        stranger_cert=d / "stranger.pem",
        encrypted_key=d / "encrypted.key",
    )


@pytest.fixture(scope="session")
def pw_hash() -> str:
    return bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "web-config.yml"
    path.write_text(text)
    return path


def tls_yaml(pki: Pki, **extra: str) -> str:
    lines = [
        "tls_server_config:",
        f"  cert_file: {pki.server_cert}",
        f"  key_file: {pki.server_key}",
    ]
    lines += [f"  {k}: {v}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


def basic(user: str, password: str) -> dict[str, str]:
    # aiohttp.BasicAuth is deprecated (DeprecationWarning is an error here).
    return {"Authorization": aiohttp.encode_basic_auth(user, password)}


def client_ctx(pki: Pki, *, with_cert: bool = False) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=pki.ca)
    if with_cert:
        ctx.load_cert_chain(pki.client_cert, pki.client_key)
    return ctx


@asynccontextmanager
async def serve(
    config: WebConfig, exempt: frozenset[str] = frozenset(), checks: Checks | None = None
) -> AsyncIterator[str]:
    """A real aiohttp server on an ephemeral port; yields its base URL. Unless ``checks``
    says otherwise, a failed login costs no wait: these tests are about who gets in
    (tests/unit/test_auth_load.py is about the waits)."""

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(text="swarm_up 1\n")

    async def custom_frame(request: web.Request) -> web.Response:
        return web.Response(text="own\n", headers={"X-Frame-Options": "sameorigin"})

    async def tls_version(request: web.Request) -> web.Response:
        ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
        return web.Response(text=ssl_object.version() if ssl_object else "none")

    checks = checks or Checks(first_wait=0.0, max_wait=0.0)
    app = web.Application(middlewares=[basic_auth_middleware(config, exempt=exempt, checks=checks)])
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", metrics)
    app.router.add_get("/custom", custom_frame)
    app.router.add_get("/tls-version", tls_version)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=config.tls)
        await site.start()
        port = runner.addresses[0][1]
        yield f"{'https' if config.tls else 'http'}://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


# --- loading: the good cases ----------------------------------------------------------


@pytest.mark.parametrize("path", [None, ""])
def test_no_file_means_plain_http_without_auth(path: str | None) -> None:
    config = load_web_config(path)
    assert config.tls is None
    assert dict(config.users) == {}
    assert dict(config.headers) == {}
    assert config.warnings == ()


def test_empty_file_is_an_empty_config(tmp_path: Path) -> None:
    config = load_web_config(write_config(tmp_path, "# nothing yet\n"))
    assert config == WebConfig()


def test_full_config_loads(tmp_path: Path, pki: Pki, pw_hash: str) -> None:
    text = tls_yaml(
        pki,
        client_auth_type="RequireAndVerifyClientCert",
        client_ca_file=str(pki.ca),
        min_version="TLS13",
    )
    text += (
        "http_server_config:\n"
        "  headers:\n"
        "    X-Frame-Options: deny\n"
        "    X-Content-Type-Options: nosniff\n"
        "    Content-Security-Policy: ''\n"  # blank means unset
        f"basic_auth_users:\n  alice: '{pw_hash}'\n"
    )
    config = load_web_config(write_config(tmp_path, text))
    assert config.tls is not None
    assert config.tls.verify_mode == ssl.CERT_REQUIRED
    assert config.tls.minimum_version == ssl.TLSVersion.TLSv1_3
    assert dict(config.users) == {"alice": pw_hash.encode()}
    assert dict(config.headers) == {"X-Frame-Options": "deny", "X-Content-Type-Options": "nosniff"}
    assert config.warnings == ()


def test_htpasswd_2y_hash_is_accepted(tmp_path: Path, pw_hash: str) -> None:
    # `htpasswd -B` writes $2y$, the prefix most node_exporter configs carry.
    hash_2y = "$2y$" + pw_hash[4:]
    config = load_web_config(write_config(tmp_path, f"basic_auth_users:\n  bob: {hash_2y}\n"))
    assert config.users["bob"] == hash_2y.encode()
    assert bcrypt.checkpw(PASSWORD.encode(), config.users["bob"])


def test_relative_paths_are_relative_to_the_config_file(
    tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf_dir = tmp_path / "etc"
    conf_dir.mkdir()
    shutil.copy(pki.server_cert, conf_dir / "tls.crt")
    shutil.copy(pki.server_key, conf_dir / "tls.key")
    path = write_config(conf_dir, "tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\n")
    monkeypatch.chdir(tmp_path)  # anywhere but conf_dir
    assert load_web_config(path).tls is not None


def test_inline_cert_key_and_client_ca(tmp_path: Path, pki: Pki) -> None:
    def block(p: Path) -> str:
        return "|\n" + "".join(f"    {line}\n" for line in p.read_text().splitlines())

    text = (
        "tls_server_config:\n"
        f"  cert: {block(pki.server_cert)}"
        f"  key: {block(pki.server_key)}"
        f"  client_ca: {block(pki.ca)}"
        "  client_auth_type: VerifyClientCertIfGiven\n"
    )
    config = load_web_config(write_config(tmp_path, text))
    assert config.tls is not None
    assert config.tls.verify_mode == ssl.CERT_OPTIONAL


def test_unsupported_tuning_is_accepted_with_warnings(
    tmp_path: Path, pki: Pki, pw_hash: str
) -> None:
    text = tls_yaml(pki, min_version="TLS10")
    text += (
        "  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]\n"
        "  curve_preferences: [X25519]\n"
        "  prefer_server_cipher_suites: false\n"
        "http_server_config:\n  http2: true\n"
        "rate_limit:\n  interval: 1s\n  burst: 10\n"
    )
    config = load_web_config(write_config(tmp_path, text))
    assert config.tls is not None
    assert config.tls.minimum_version == ssl.TLSVersion.TLSv1_2
    assert not config.tls.options & ssl.OP_CIPHER_SERVER_PREFERENCE
    joined = "\n".join(config.warnings)
    for needle in (
        "cipher_suites ignored: TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        "curve_preferences ignored: X25519",
        "min_version TLS10 raised to TLS12",
        "http2 ignored",
        "rate_limit ignored",
    ):
        assert needle in joined


def test_auth_without_tls_warns(tmp_path: Path, pw_hash: str) -> None:
    config = load_web_config(write_config(tmp_path, f"basic_auth_users:\n  a: '{pw_hash}'\n"))
    assert config.tls is None
    assert any("clear text" in w for w in config.warnings)


def test_tls_section_without_certificate_stays_plain_http_with_warning(tmp_path: Path) -> None:
    config = load_web_config(write_config(tmp_path, "tls_server_config:\n  min_version: TLS13\n"))
    assert config.tls is None
    assert any("plain HTTP" in w for w in config.warnings)


def test_request_client_cert_does_not_ask_for_one(tmp_path: Path, pki: Pki) -> None:
    config = load_web_config(
        write_config(tmp_path, tls_yaml(pki, client_auth_type="RequestClientCert"))
    )
    assert config.tls is not None
    assert config.tls.verify_mode == ssl.CERT_NONE
    assert any("RequestClientCert" in w for w in config.warnings)


def test_require_any_client_cert_with_ca_fails_closed(tmp_path: Path, pki: Pki) -> None:
    text = tls_yaml(pki, client_auth_type="RequireAnyClientCert", client_ca_file=str(pki.ca))
    config = load_web_config(write_config(tmp_path, text))
    assert config.tls is not None
    assert config.tls.verify_mode == ssl.CERT_REQUIRED
    assert any("treated as RequireAndVerifyClientCert" in w for w in config.warnings)


# --- loading: every malformed file is one clear WebConfigError ------------------------

# (YAML text, expected part of the message). {placeholders} are PKI paths.
BAD_CONFIGS: list[tuple[str, str, str]] = [
    ("bad-yaml", "tls_server_config: [unclosed\n", "invalid YAML: "),
    ("tab-yaml", "basic_auth_users:\n\talice: x\n", "invalid YAML: "),
    ("not-mapping", "- a\n- b\n", "top level: expected a mapping, got list"),
    ("unknown-top", "basic_auth_user:\n  a: b\n", "top level: unknown key 'basic_auth_user'"),
    (
        "unknown-tls",
        "tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n  certfile: x\n",
        "tls_server_config: unknown key 'certfile'",
    ),
    ("unknown-http", "http_server_config:\n  header: {{}}\n", "http_server_config: unknown key"),
    ("cert-no-key", "tls_server_config:\n  cert_file: {cert}\n", "missing key_file"),
    ("key-no-cert", "tls_server_config:\n  key_file: {key}\n", "missing cert_file"),
    (
        "cert-missing",
        "tls_server_config:\n  cert_file: /nonexistent/tls.crt\n  key_file: {key}\n",
        "cannot read cert_file /nonexistent/tls.crt: No such file or directory",
    ),
    (
        "key-missing",
        "tls_server_config:\n  cert_file: {cert}\n  key_file: /nonexistent/tls.key\n",
        "cannot read key_file /nonexistent/tls.key: No such file or directory",
    ),
    (
        "cert-is-a-key",
        "tls_server_config:\n  cert_file: {key}\n  key_file: {key}\n",
        "contains no PEM certificate",
    ),
    (
        "key-is-a-cert",
        "tls_server_config:\n  cert_file: {cert}\n  key_file: {cert}\n",
        "contains no usable private key",
    ),
    (
        "key-mismatch",
        "tls_server_config:\n  cert_file: {cert}\n  key_file: {other_key}\n",
        "does not match the certificate",
    ),
    (
        "key-encrypted",
        "tls_server_config:\n  cert_file: {cert}\n  key_file: {encrypted_key}\n",
        "is encrypted; a key without passphrase is required",
    ),
    (
        "cert-and-inline-cert",
        "tls_server_config:\n  cert_file: {cert}\n  cert: x\n  key_file: {key}\n",
        "set only one of cert_file and cert",
    ),
    (
        "bad-client-auth",
        "tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n"
        "  client_auth_type: RequireAndVerify\n",
        "client_auth_type: invalid value 'RequireAndVerify'",
    ),
    (
        "ca-without-policy",
        "tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n  client_ca_file: {ca}\n",
        "client CA configured but client_auth_type is NoClientCert",
    ),
    (
        "ca-missing",
        "tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n"
        "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: /nonexistent/ca.pem\n",
        "cannot read client_ca_file /nonexistent/ca.pem",
    ),
    (
        "ca-not-a-cert",
        "tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n"
        "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {key}\n",
        "contains no PEM certificate",
    ),
    (
        "require-any-without-ca",
        "tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n"
        "  client_auth_type: RequireAnyClientCert\n",
        "RequireAnyClientCert needs client_ca_file",
    ),
    (
        "allowed-sans",
        "tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n"
        "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {ca}\n"
        "  client_allowed_sans: [scraper]\n",
        "client_allowed_sans is not supported",
    ),
    (
        "bad-version",
        "tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n  min_version: TLS1.2\n",
        "min_version: unknown TLS version 'TLS1.2'",
    ),
    (
        "min-above-max",
        "tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n"
        "  min_version: TLS13\n  max_version: TLS12\n",
        "min_version is higher than max_version",
    ),
    (
        "old-max-version",
        "tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n  max_version: TLS11\n",
        "max_version TLS11 is not supported",
    ),
    (
        "bad-hash",
        "basic_auth_users:\n  alice: plaintext-password\n",
        "basic_auth_users.alice: not a valid bcrypt hash",
    ),
    (
        "truncated-hash",
        "basic_auth_users:\n  alice: $2y$10$X0h1gDsPszWURQaxFh.zoubFi6DXnc\n",
        "basic_auth_users.alice: not a valid bcrypt hash",
    ),
    ("hash-not-string", "basic_auth_users:\n  alice: 12\n", "expected a bcrypt hash string"),
    ("users-list", "basic_auth_users: [alice]\n", "basic_auth_users: expected a mapping"),
    ("user-int", "basic_auth_users:\n  123: x\n", "user name 123 must be a non-empty string"),
    (
        "header-not-allowed",
        "http_server_config:\n  headers:\n    Content-Type: text/html\n",
        "header 'Content-Type' can not be configured",
    ),
    (
        "header-bad-value",
        "http_server_config:\n  headers:\n    X-Frame-Options: allow-from x\n",
        "X-Frame-Options: invalid value 'allow-from x', expected one of deny, sameorigin",
    ),
    ("http2-not-bool", "http_server_config:\n  http2: maybe\n", "http2: expected true or false"),
    ("cert-file-int", "tls_server_config:\n  cert_file: 1\n", "cert_file: expected a string"),
]


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in BAD_CONFIGS], ids=[c[0] for c in BAD_CONFIGS]
)
def test_malformed_config_is_one_clear_error(
    tmp_path: Path, pki: Pki, text: str, expected: str
) -> None:
    path = write_config(
        tmp_path,
        text.format(
            cert=pki.server_cert,
            key=pki.server_key,
            ca=pki.ca,
            other_key=pki.other_key,
            encrypted_key=pki.encrypted_key,
        ),
    )
    with pytest.raises(WebConfigError) as info:
        load_web_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert expected in message
    assert "\n" not in message


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yml"
    with pytest.raises(WebConfigError, match=r"nope\.yml: cannot read web config file: No such"):
        load_web_config(path)


def test_hash_is_not_leaked_in_errors(tmp_path: Path) -> None:
    secret = "$2y$10$not-quite-a-hash-but-secret"
    with pytest.raises(WebConfigError) as info:
        load_web_config(write_config(tmp_path, f"basic_auth_users:\n  alice: '{secret}'\n"))
    assert secret not in str(info.value)


# --- serving: real HTTPS, real basic auth ---------------------------------------------


@pytest.fixture
def tls_auth_config(tmp_path: Path, pki: Pki, pw_hash: str) -> WebConfig:
    text = tls_yaml(pki) + (
        "http_server_config:\n  headers:\n    X-Frame-Options: deny\n"
        f"basic_auth_users:\n  alice: '{pw_hash}'\n  'jürgen': '{pw_hash}'\n"
    )
    return load_web_config(write_config(tmp_path, text))


async def test_basic_auth_over_tls(tls_auth_config: WebConfig, pki: Pki) -> None:
    async with serve(tls_auth_config) as url, aiohttp.ClientSession() as session:
        tls = client_ctx(pki)
        good = basic("alice", PASSWORD)
        async with session.get(f"{url}/metrics", ssl=tls, headers=good) as resp:
            assert resp.status == 200
            assert await resp.text() == "swarm_up 1\n"
            assert resp.headers["X-Frame-Options"] == "deny"
            assert "WWW-Authenticate" not in resp.headers

        for auth in (
            basic("alice", "wrong"),
            basic("mallory", PASSWORD),  # unknown user
            basic("alic", PASSWORD),  # prefix of a user
            basic("", ""),
        ):
            async with session.get(f"{url}/metrics", ssl=tls, headers=auth) as resp:
                assert resp.status == 401, auth

        async with session.get(f"{url}/metrics", ssl=tls) as resp:
            assert resp.status == 401
            assert resp.headers["WWW-Authenticate"] == REALM_HEADER
            assert resp.headers["X-Frame-Options"] == "deny"  # headers on 401s too

        for raw in ("Basic !!!not-base64", "Basic YWxpY2U=", "Bearer abc", "Basic"):
            async with session.get(
                f"{url}/metrics", ssl=tls, headers={"Authorization": raw}
            ) as resp:
                assert resp.status == 401, raw
                assert resp.headers["WWW-Authenticate"] == REALM_HEADER


async def test_utf8_credentials(tls_auth_config: WebConfig, pki: Pki) -> None:
    # curl and Go send the raw UTF-8 bytes of the name; so does encode_basic_auth.
    auth = basic("jürgen", PASSWORD)
    async with (
        serve(tls_auth_config) as url,
        aiohttp.ClientSession() as session,
        session.get(f"{url}/metrics", ssl=client_ctx(pki), headers=auth) as resp,
    ):
        assert resp.status == 200


async def test_exempt_path_and_error_responses(tls_auth_config: WebConfig, pki: Pki) -> None:
    exempt = frozenset({"/healthz"})
    async with serve(tls_auth_config, exempt) as url, aiohttp.ClientSession() as session:
        tls = client_ctx(pki)
        async with session.get(f"{url}/healthz", ssl=tls) as resp:
            assert resp.status == 200
            assert resp.headers["X-Frame-Options"] == "deny"
        async with session.get(f"{url}/metrics", ssl=tls) as resp:
            assert resp.status == 401
        auth = basic("alice", PASSWORD)
        async with session.get(f"{url}/nope", ssl=tls, headers=auth) as resp:
            assert resp.status == 404
            assert resp.headers["X-Frame-Options"] == "deny"  # raised HTTPNotFound too
        async with session.get(f"{url}/custom", ssl=tls, headers=auth) as resp:
            assert resp.headers["X-Frame-Options"] == "sameorigin"  # the handler wins


async def test_successful_logins_are_cached_failures_are_not(
    tls_auth_config: WebConfig, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[bytes] = []
    real_checkpw: Callable[[bytes, bytes], bool] = bcrypt.checkpw

    def counting_checkpw(password: bytes, hashed: bytes) -> bool:
        calls.append(password)
        return real_checkpw(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counting_checkpw)
    async with serve(tls_auth_config) as url, aiohttp.ClientSession() as session:
        tls = client_ctx(pki)

        async def status(user: str, password: str) -> int:
            auth = basic(user, password)
            async with session.get(f"{url}/metrics", ssl=tls, headers=auth) as resp:
                return resp.status

        assert [await status("alice", PASSWORD) for _ in range(5)] == [200] * 5
        assert len(calls) == 1  # one bcrypt round for five scrapes
        assert [await status("alice", "wrong") for _ in range(3)] == [401] * 3
        assert len(calls) == 4  # every wrong guess pays full price
        assert await status("mallory", PASSWORD) == 401
        assert len(calls) == 5  # unknown users cost a bcrypt round too (no enumeration)
        # The cached success is for alice's password only, not for alice.
        assert await status("alice", PASSWORD + "x") == 401


async def test_overlong_password_is_truncated_like_go(tmp_path: Path, pki: Pki) -> None:
    password = "p" * 100
    hashed = bcrypt.hashpw(password[:72].encode(), bcrypt.gensalt(rounds=4)).decode()
    config = load_web_config(
        write_config(tmp_path, tls_yaml(pki) + f"basic_auth_users:\n  a: '{hashed}'\n")
    )
    async with serve(config) as url, aiohttp.ClientSession() as session:
        for pw, expected in ((password, 200), ("q" * 100, 401)):
            auth = basic("a", pw)
            async with session.get(f"{url}/metrics", ssl=client_ctx(pki), headers=auth) as resp:
                assert resp.status == expected


async def test_no_users_means_no_auth_but_headers(tmp_path: Path) -> None:
    text = "http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n"
    config = load_web_config(write_config(tmp_path, text))
    async with (
        serve(config) as url,
        aiohttp.ClientSession() as session,
        session.get(f"{url}/metrics") as resp,
    ):
        assert resp.status == 200
        assert resp.headers["X-Content-Type-Options"] == "nosniff"


async def test_plain_http_is_refused_on_a_tls_port(tls_auth_config: WebConfig, pki: Pki) -> None:
    async with serve(tls_auth_config) as url, aiohttp.ClientSession() as session:
        plain = url.replace("https://", "http://")
        with pytest.raises(aiohttp.ClientError):
            async with session.get(f"{plain}/metrics") as resp:
                await resp.read()


async def test_untrusted_server_cert_is_refused_by_a_verifying_client(
    tls_auth_config: WebConfig,
) -> None:
    # Sanity check of the test setup: TLS really is verified end to end.
    async with serve(tls_auth_config) as url, aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            async with session.get(f"{url}/metrics", ssl=ssl.create_default_context()):
                pass


async def test_min_version_is_enforced(tmp_path: Path, pki: Pki) -> None:
    config = load_web_config(write_config(tmp_path, tls_yaml(pki, min_version="TLS13")))
    old_client = client_ctx(pki)
    old_client.maximum_version = ssl.TLSVersion.TLSv1_2
    async with serve(config) as url, aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectorError):
            async with session.get(f"{url}/metrics", ssl=old_client):
                pass
        async with session.get(f"{url}/tls-version", ssl=client_ctx(pki)) as resp:
            assert resp.status == 200
            assert await resp.text() == "TLSv1.3"


async def test_client_certificate_is_required(tmp_path: Path, pki: Pki) -> None:
    text = tls_yaml(pki, client_auth_type="RequireAndVerifyClientCert", client_ca_file=str(pki.ca))
    config = load_web_config(write_config(tmp_path, text))
    async with serve(config) as url, aiohttp.ClientSession() as session:
        # TLS 1.3 reports the missing certificate after the client's handshake is done,
        # so the failure may surface while reading the response: read it inside.
        with pytest.raises(aiohttp.ClientError):
            async with session.get(f"{url}/metrics", ssl=client_ctx(pki)) as resp:
                await resp.read()
        # A certificate our CA did not sign is refused too.
        stranger = client_ctx(pki)
        stranger.load_cert_chain(pki.stranger_cert, pki.other_key)
        with pytest.raises(aiohttp.ClientError):
            async with session.get(f"{url}/metrics", ssl=stranger) as resp:
                await resp.read()
        ok = client_ctx(pki, with_cert=True)
        async with session.get(f"{url}/metrics", ssl=ok) as resp:
            assert resp.status == 200
            assert await resp.text() == "swarm_up 1\n"
