"""``--web.config.file``: TLS and basic auth in the Prometheus exporter-toolkit format.

Operators already write this file for node_exporter and friends
(https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md),
so the same file must work here unchanged, or fail loudly at start-up when it asks for
something this server cannot honour. The rule throughout is *fail closed*: a setting that
restricts access and that Python's ``ssl`` module cannot express is an error, never a
silent no-op; a setting that only tunes performance or cipher choice is accepted and
reported in ``WebConfig.warnings``.

Differences from the Go implementation, on purpose:

* Everything is read and validated once, in ``load_web_config``. The Go toolkit re-reads
  the file on every request/connection; here a changed certificate needs a restart.
* Unknown keys are errors at every level (Go uses ``yaml.UnmarshalStrict`` too).
* ``RequestClientCert`` / ``RequireAnyClientCert`` (accept a client certificate without
  verifying it) cannot be expressed with Python's ``ssl`` (no verify callback), see
  ``_client_auth``.
* ``client_allowed_sans`` is refused: enforcing it would need the peer certificate in
  the HTTP layer, and ignoring it would widen access.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import os
import re
import ssl
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import bcrypt
import yaml
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from common.text import one_line

__all__ = ["WebConfig", "WebConfigError", "basic_auth_middleware", "load_web_config"]

REALM: Final = "swarm-sentinel"
_WWW_AUTHENTICATE: Final = f'Basic realm="{REALM}"'

_TOP_KEYS: Final = frozenset(
    {"tls_server_config", "http_server_config", "basic_auth_users", "rate_limit"}
)
_TLS_KEYS: Final = frozenset(
    {
        "cert",
        "key",
        "client_ca",
        "cert_file",
        "key_file",
        "client_auth_type",
        "client_ca_file",
        "client_allowed_sans",
        "min_version",
        "max_version",
        "cipher_suites",
        "prefer_server_cipher_suites",
        "curve_preferences",
    }
)
_HTTP_KEYS: Final = frozenset({"http2", "headers"})
_RATE_LIMIT_KEYS: Final = frozenset({"interval", "burst"})

# The exporter-toolkit allows exactly these headers, and pins the values of two of them
# (None: any value). Keeping the same list means a file valid there is valid here and
# vice versa; it also stops the file from being used to spoof e.g. Content-Type.
_ALLOWED_HEADERS: Final[Mapping[str, tuple[str, ...] | None]] = MappingProxyType(
    {
        "Strict-Transport-Security": None,
        "X-Content-Type-Options": ("nosniff",),
        "X-Frame-Options": ("deny", "sameorigin"),
        "X-XSS-Protection": None,
        "Content-Security-Policy": None,
    }
)

_TLS_VERSIONS: Final[Mapping[str, ssl.TLSVersion]] = MappingProxyType(
    {
        "TLS10": ssl.TLSVersion.TLSv1,
        "TLS11": ssl.TLSVersion.TLSv1_1,
        "TLS12": ssl.TLSVersion.TLSv1_2,
        "TLS13": ssl.TLSVersion.TLSv1_3,
    }
)
# TLS 1.0/1.1 are disabled by OpenSSL 3's default security level and deprecated in the
# ssl module (setting them emits DeprecationWarning); we never go below 1.2.
_FLOOR: Final = ssl.TLSVersion.TLSv1_2

_CLIENT_AUTH_TYPES: Final = (
    "NoClientCert",
    "RequestClientCert",
    "RequireAnyClientCert",
    "RequireClientCert",  # old spelling, still accepted by exporter-toolkit
    "VerifyClientCertIfGiven",
    "RequireAndVerifyClientCert",
)

# $2a$ / $2b$ / $2y$ (htpasswd writes 2y), two-digit cost, 22 chars salt + 31 chars hash.
# Checked at load time so a typo in a hash fails the start, not every scrape.
_BCRYPT_RE: Final = re.compile(rb"\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}")
# bcrypt only ever looks at the first 72 bytes. pyca/bcrypt >= 5 raises instead of
# truncating; Go and htpasswd truncate, so we do too to accept the same passwords.
_BCRYPT_MAX_PASSWORD: Final = 72
# Bound on remembered successful logins; a handful of scrapers is the normal case.
_CACHE_SIZE: Final = 256


class WebConfigError(ValueError):
    """The web config file cannot be used. The message is one line naming the file."""


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True)
class WebConfig:
    """Validated content of a web config file.

    ``tls`` is a server context ready for ``web.TCPSite(ssl_context=...)``, or None for
    plain HTTP. ``users`` maps user name to bcrypt hash; empty means no authentication.
    ``headers`` are added to every response by ``basic_auth_middleware``. ``warnings``
    lists settings that were accepted but are not (fully) honoured; log them at start.
    """

    tls: ssl.SSLContext | None = None
    users: Mapping[str, bytes] = field(default_factory=_empty)
    headers: Mapping[str, str] = field(default_factory=_empty)
    warnings: tuple[str, ...] = ()


class _Problem(Exception):
    """A problem inside the file; ``load_web_config`` prefixes the file name."""


class _EncryptedKey(Exception):
    """Raised from the ssl password callback so OpenSSL never prompts on the tty."""


def load_web_config(path: str | os.PathLike[str] | None) -> WebConfig:
    """Read and fully validate a web config file; None or "" means "no file": plain HTTP.

    Relative file names inside the file are resolved against the file's directory, as
    the exporter-toolkit does, so the same file works from any working directory.
    """
    if path is None or os.fspath(path) == "":
        return WebConfig()
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise WebConfigError(f"{file}: cannot read web config file: {one_line(exc)}") from exc
    try:
        return _parse(text, file.parent)
    except _Problem as exc:
        raise WebConfigError(f"{file}: {exc}") from exc.__cause__


def _parse(text: str, base: Path) -> WebConfig:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _Problem(f"invalid YAML: {_yaml_reason(exc)}") from exc
    # An empty file is valid in Go (all defaults): no TLS, no auth.
    top = _section(doc, "top level", _TOP_KEYS)
    warnings: list[str] = []

    users = _users(top.get("basic_auth_users"))
    headers = _http(
        _section(top.get("http_server_config"), "http_server_config", _HTTP_KEYS), warnings
    )
    _rate_limit(top.get("rate_limit"), warnings)
    tls = _tls(
        _section(top.get("tls_server_config"), "tls_server_config", _TLS_KEYS), base, warnings
    )
    if users and tls is None:
        warnings.append("basic_auth_users without TLS: passwords are sent in clear text")
    return WebConfig(
        tls=tls,
        users=MappingProxyType(users),
        headers=MappingProxyType(headers),
        warnings=tuple(warnings),
    )


# --- generic value checks -------------------------------------------------------------


def _section(value: object, where: str, allowed: frozenset[str]) -> Mapping[str, Any]:
    if value is None:  # "tls_server_config:" with nothing under it
        return {}
    if not isinstance(value, Mapping):
        raise _Problem(f"{where}: expected a mapping, got {_kind(value)}")
    unknown = sorted(str(k) for k in value if k not in allowed)
    if unknown:
        raise _Problem(
            f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})"
        )
    return value


def _opt_str(sec: Mapping[str, Any], key: str, where: str) -> str:
    """A string setting; missing, null and "" all mean unset, as in Go."""
    value = sec.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _Problem(f"{where}.{key}: expected a string, got {_kind(value)}")
    return value


def _str_list(sec: Mapping[str, Any], key: str, where: str) -> list[str]:
    value = sec.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _Problem(f"{where}.{key}: expected a list of strings")
    return value


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _yaml_reason(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return f"{exc.problem} at line {mark.line + 1}, column {mark.column + 1}"
    return one_line(exc)


# --- sections -------------------------------------------------------------------------


def _users(value: object) -> dict[str, bytes]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _Problem(f"basic_auth_users: expected a mapping of user to hash, got {_kind(value)}")
    users: dict[str, bytes] = {}
    for name, hashed in value.items():
        # YAML turns bare `yes:` or `123:` into bool/int; refuse rather than guess a name.
        if not isinstance(name, str) or not name:
            raise _Problem(f"basic_auth_users: user name {name!r} must be a non-empty string")
        # The hash itself stays out of the message: it is a secret in the toolkit's eyes.
        if not isinstance(hashed, str):
            raise _Problem(f"basic_auth_users.{name}: expected a bcrypt hash string")
        raw = hashed.strip().encode("ascii", "replace")
        match = _BCRYPT_RE.fullmatch(raw)
        if match is None:
            raise _Problem(
                f"basic_auth_users.{name}: not a valid bcrypt hash "
                "(expected $2a$/$2b$/$2y$, e.g. from `htpasswd -nBC 10 \"\" | tr -d ':\\n'`)"
            )
        if not 4 <= int(match.group(1)) <= 31:
            raise _Problem(f"basic_auth_users.{name}: bcrypt cost must be between 4 and 31")
        users[name] = raw
    return users


def _http(sec: Mapping[str, Any], warnings: list[str]) -> dict[str, str]:
    http2 = sec.get("http2")
    if http2 is not None and not isinstance(http2, bool):
        raise _Problem(f"http_server_config.http2: expected true or false, got {_kind(http2)}")
    if http2:
        warnings.append("http_server_config.http2 ignored: this server speaks HTTP/1.1 only")
    raw = sec.get("headers")
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise _Problem(f"http_server_config.headers: expected a mapping, got {_kind(raw)}")
    headers: dict[str, str] = {}
    for name, value in raw.items():
        if name not in _ALLOWED_HEADERS:
            raise _Problem(f"http_server_config.headers: header {name!r} can not be configured")
        if value is None or value == "":  # "Unset if blank" in the toolkit docs
            continue
        if not isinstance(value, str) or "\r" in value or "\n" in value:
            raise _Problem(f"http_server_config.headers.{name}: expected a one-line string")
        allowed = _ALLOWED_HEADERS[name]
        if allowed is not None and value not in allowed:
            raise _Problem(
                f"http_server_config.headers.{name}: invalid value {value!r}, "
                f"expected one of {', '.join(allowed)}"
            )
        headers[name] = value
    return headers


def _rate_limit(value: object, warnings: list[str]) -> None:
    sec = _section(value, "rate_limit", _RATE_LIMIT_KEYS)
    # Not enforced, but only a DoS guard: accepting keeps operators' files working.
    if sec:
        warnings.append("rate_limit ignored: not supported by swarm-sentinel")


def _tls(sec: Mapping[str, Any], base: Path, warnings: list[str]) -> ssl.SSLContext | None:
    w = "tls_server_config"
    cert_file = _opt_str(sec, "cert_file", w)
    key_file = _opt_str(sec, "key_file", w)
    ca_file = _opt_str(sec, "client_ca_file", w)
    cert_pem = _opt_str(sec, "cert", w)
    key_pem = _opt_str(sec, "key", w)
    ca_pem = _opt_str(sec, "client_ca", w)
    auth_type = _opt_str(sec, "client_auth_type", w)
    for file_opt, inline_opt, a, b in (
        ("cert_file", "cert", cert_file, cert_pem),
        ("key_file", "key", key_file, key_pem),
        ("client_ca_file", "client_ca", ca_file, ca_pem),
    ):
        if a and b:
            raise _Problem(f"{w}: set only one of {file_opt} and {inline_opt}")

    cipher_suites = _str_list(sec, "cipher_suites", w)
    curves = _str_list(sec, "curve_preferences", w)
    sans = _str_list(sec, "client_allowed_sans", w)
    prefer = sec.get("prefer_server_cipher_suites", True)
    if not isinstance(prefer, bool):
        raise _Problem(f"{w}.prefer_server_cipher_suites: expected true or false")
    min_v = _tls_version(sec, "min_version", ssl.TLSVersion.TLSv1_2, warnings)
    max_v = _tls_version(sec, "max_version", ssl.TLSVersion.TLSv1_3, warnings)

    # Same trigger as Go's TLSConfig.IsEnabled: versions or ciphers alone do not turn TLS on.
    enabled = any((cert_file, key_file, cert_pem, key_pem, ca_file, ca_pem, auth_type))
    if not enabled:
        if sec:
            warnings.append(f"{w} has no certificate: serving plain HTTP")
        return None
    if not (cert_file or cert_pem):
        raise _Problem(f"{w}: missing cert_file (or inline cert)")
    if not (key_file or key_pem):
        raise _Problem(f"{w}: missing key_file (or inline key) for the certificate")
    if min_v > max_v:
        raise _Problem(f"{w}: min_version is higher than max_version")
    if sans:
        raise _Problem(
            f"{w}.client_allowed_sans is not supported; "
            "use RequireAndVerifyClientCert with a dedicated client_ca_file instead"
        )

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = min_v
    ctx.maximum_version = max_v
    if not prefer:
        ctx.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    if cipher_suites:
        # Go names (IANA) differ from OpenSSL's and TLS 1.3 suites are not settable from
        # Python; a partial translation would be a false promise. OpenSSL's defaults apply.
        warnings.append(f"{w}.cipher_suites ignored: {', '.join(cipher_suites)}")
    if curves:
        warnings.append(f"{w}.curve_preferences ignored: {', '.join(curves)}")

    with (
        _pem_file(cert_pem, "cert.pem") as cert_tmp,
        _pem_file(key_pem, "key.pem") as key_tmp,
    ):
        _load_pair(
            ctx,
            cert_tmp or _resolve(base, cert_file),
            key_tmp or _resolve(base, key_file),
            "cert" if cert_pem else f"cert_file {_resolve(base, cert_file)}",
            "key" if key_pem else f"key_file {_resolve(base, key_file)}",
        )
    _client_auth(ctx, auth_type, _resolve(base, ca_file) if ca_file else None, ca_pem, warnings)
    return ctx


def _tls_version(
    sec: Mapping[str, Any], key: str, default: ssl.TLSVersion, warnings: list[str]
) -> ssl.TLSVersion:
    name = _opt_str(sec, key, "tls_server_config")
    if not name:
        return default
    if name not in _TLS_VERSIONS:
        raise _Problem(
            f"tls_server_config.{key}: unknown TLS version {name!r} "
            f"(expected one of {', '.join(_TLS_VERSIONS)})"
        )
    version = _TLS_VERSIONS[name]
    if version >= _FLOOR:
        return version
    if key == "max_version":
        raise _Problem(f"tls_server_config.max_version {name} is not supported (minimum TLS12)")
    warnings.append(f"tls_server_config.min_version {name} raised to TLS12")
    return _FLOOR


def _resolve(base: Path, name: str) -> Path:
    path = Path(name)
    return path if path.is_absolute() else base / path


@contextmanager
def _pem_file(pem: str, name: str) -> Iterator[Path | None]:
    """Inline PEM -> short-lived private file, because ``load_cert_chain`` takes paths only."""
    if not pem:
        yield None
        return
    # mkdtemp makes the directory 0700, so the key is never readable by other users.
    with tempfile.TemporaryDirectory(prefix="swarm-sentinel-tls-") as tmp:
        path = Path(tmp) / name
        path.write_text(pem, encoding="utf-8")
        yield path


def _load_pair(ctx: ssl.SSLContext, cert: Path, key: Path, cert_what: str, key_what: str) -> None:
    for path, what in ((cert, cert_what), (key, key_what)):
        # Read errors first: OpenSSL's own messages ("PEM lib") do not say which file.
        try:
            with path.open("rb"):
                pass
        except OSError as exc:
            raise _Problem(f"tls_server_config: cannot read {what}: {one_line(exc)}") from exc
    # A scratch trust store parses the certificate without needing the key, which tells
    # "bad certificate" apart from "bad key" below.
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_verify_locations(cafile=cert)
    except ssl.SSLError as exc:
        raise _Problem(f"tls_server_config: {cert_what} contains no PEM certificate") from exc

    def no_passphrase() -> bytes:
        raise _EncryptedKey

    try:
        ctx.load_cert_chain(cert, key, password=no_passphrase)
    except _EncryptedKey as exc:
        raise _Problem(
            f"tls_server_config: {key_what} is encrypted; a key without passphrase is required"
        ) from exc
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise _Problem(
                f"tls_server_config: {key_what} does not match the certificate in {cert_what}"
            ) from exc
        raise _Problem(f"tls_server_config: {key_what} contains no usable private key") from exc
    except OSError as exc:  # only if a file vanished since the checks above
        raise _Problem(f"tls_server_config: cannot load {cert_what}: {one_line(exc)}") from exc


def _client_auth(
    ctx: ssl.SSLContext, auth_type: str, ca_file: Path | None, ca_pem: str, warnings: list[str]
) -> None:
    w = "tls_server_config"
    auth_type = auth_type or "NoClientCert"
    if auth_type not in _CLIENT_AUTH_TYPES:
        raise _Problem(
            f"{w}.client_auth_type: invalid value {auth_type!r} "
            f"(expected one of {', '.join(_CLIENT_AUTH_TYPES)})"
        )
    has_ca = ca_file is not None or bool(ca_pem)
    if auth_type == "NoClientCert":
        if has_ca:  # same refusal as Go: a CA without a policy is almost surely a mistake
            raise _Problem(f"{w}: client CA configured but client_auth_type is NoClientCert")
        return
    if auth_type == "RequestClientCert":
        # Go asks for a certificate and never verifies or uses it. Python cannot accept an
        # unverified certificate, and the exporter never looks at it, so not asking at all
        # is the equivalent that does not reject clients Go would accept.
        warnings.append(
            f"{w}.client_auth_type RequestClientCert: client certificates not requested"
        )
        return
    if auth_type in ("RequireAnyClientCert", "RequireClientCert"):
        # Go requires *some* certificate but does not verify it. Python can only require a
        # verified one: fail closed by verifying against the configured CA, and refuse
        # when there is none (every client would be rejected).
        if not has_ca:
            raise _Problem(
                f"{w}.client_auth_type {auth_type} needs client_ca_file here "
                "(client certificates are always verified); or use RequireAndVerifyClientCert"
            )
        warnings.append(
            f"{w}.client_auth_type {auth_type} treated as RequireAndVerifyClientCert: "
            "client certificates must chain to the client CA"
        )
        ctx.verify_mode = ssl.CERT_REQUIRED
    elif auth_type == "VerifyClientCertIfGiven":
        ctx.verify_mode = ssl.CERT_OPTIONAL
    else:  # RequireAndVerifyClientCert
        ctx.verify_mode = ssl.CERT_REQUIRED

    if ca_file is not None:
        try:
            ctx.load_verify_locations(cafile=ca_file)
        except ssl.SSLError as exc:  # before OSError: SSLError is a subclass of it
            raise _Problem(f"{w}: client_ca_file {ca_file} contains no PEM certificate") from exc
        except OSError as exc:
            raise _Problem(f"{w}: cannot read client_ca_file {ca_file}: {one_line(exc)}") from exc
    elif ca_pem:
        try:
            ctx.load_verify_locations(cadata=ca_pem)
        except (ssl.SSLError, ValueError) as exc:
            raise _Problem(f"{w}: client_ca contains no PEM certificate") from exc
    else:
        # Go verifies against the system roots when no CA is given; do the same, but say
        # so: any holder of a publicly trusted certificate would then get in.
        ctx.load_default_certs(ssl.Purpose.CLIENT_AUTH)
        warnings.append(
            f"{w}: no client CA configured, client certificates checked "
            "against the system trust store"
        )


# --- basic auth -----------------------------------------------------------------------


def basic_auth_middleware(config: WebConfig, *, exempt: frozenset[str] = frozenset()) -> Middleware:
    """aiohttp middleware enforcing ``config.users`` and adding ``config.headers``.

    With no users configured every request passes. Otherwise a request whose path is not
    in ``exempt`` needs valid Basic credentials, else 401 with ``WWW-Authenticate``.
    Configured headers go on every response, 401s included, unless the handler set them.

    A bcrypt check costs tens of milliseconds by design; it runs in a worker thread (so
    the event loop keeps serving), one at a time (so a flood of bad passwords costs at
    most one core, as in Go), and a success is remembered so that a scraper presenting
    the same credentials every 15 s pays for it once.
    """
    users = tuple((name.encode("utf-8"), hashed) for name, hashed in config.users.items())
    headers = dict(config.headers)
    # Unknown users are checked against a real hash too, so the answer takes as long as
    # for a known user with a wrong password: no user enumeration by timing.
    decoy = users[0][1] if users else b""
    # Cache keys are keyed MACs, not the credentials: a memory dump does not hand out
    # passwords, nor hashes fast enough to brute-force offline.
    cache_key = os.urandom(32)
    cache: dict[bytes, None] = {}  # insertion-ordered: oldest first, evicted first
    bcrypt_lock = asyncio.Lock()

    def add_headers(resp: web.StreamResponse) -> None:
        if resp.prepared:  # streamed responses have sent their headers already
            return
        for name, value in headers.items():
            resp.headers.setdefault(name, value)

    async def authorized(request: web.Request) -> bool:
        creds = _basic_credentials(request.headers.get("Authorization", ""))
        if creds is None:
            return False
        user, password = creds
        hashed: bytes | None = None
        for name, candidate in users:
            # Visit every entry and compare in constant time: neither the position of a
            # user nor the length of a common prefix shows in the response time.
            if hmac.compare_digest(name, user):
                hashed = candidate
        mac = hmac.new(cache_key, _frame(user) + password, hashlib.sha256).digest()
        if hashed is not None and mac in cache:
            return True
        async with bcrypt_lock:
            # Another request may have checked the same credentials while we waited.
            if hashed is not None and mac in cache:
                return True
            ok = await asyncio.get_running_loop().run_in_executor(
                None, _checkpw, password, hashed if hashed is not None else decoy
            )
        if not (ok and hashed is not None):
            return False  # failures are not cached: each guess keeps its bcrypt cost
        if len(cache) >= _CACHE_SIZE:
            del cache[next(iter(cache))]
        cache[mac] = None
        return True

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if users and request.path not in exempt and not await authorized(request):
            resp = web.Response(
                status=401, text="Unauthorized\n", headers={"WWW-Authenticate": _WWW_AUTHENTICATE}
            )
            add_headers(resp)
            return resp
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # 404/405 etc. are responses too
            add_headers(exc)
            raise
        add_headers(response)
        return response

    return middleware


def _frame(user: bytes) -> bytes:
    # Length prefix so ("ab", "c") and ("a", "bc") never share a cache key.
    return len(user).to_bytes(4, "big") + user


def _basic_credentials(header: str) -> tuple[bytes, bytes] | None:
    """(user, password) as raw bytes, like Go's ``Request.BasicAuth``; None if absent/bad."""
    scheme, _, payload = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(payload.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, sep, password = decoded.partition(b":")
    if not sep:
        return None
    return user, password


def _checkpw(password: bytes, hashed: bytes) -> bool:
    try:
        return bcrypt.checkpw(password[:_BCRYPT_MAX_PASSWORD], hashed)
    except ValueError:  # hashes are validated at load; never let a bad one turn into a 500
        return False
