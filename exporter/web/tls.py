"""``tls_server_config``: the server's TLS context, as the exporter-toolkit reads it.

The rule is *fail closed*: a setting that restricts access and that Python's ``ssl``
cannot express is an error; one that only tunes performance or ciphers is a warning.
"""

from __future__ import annotations

import ssl
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from common.text import one_line
from exporter.web.values import ConfigProblem, _opt_str, _str_list

TLS_KEYS: Final = frozenset(
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


class _EncryptedKey(Exception):
    """Raised from the ssl password callback so OpenSSL never prompts on the tty."""


def tls_context(sec: Mapping[str, Any], base: Path, warnings: list[str]) -> ssl.SSLContext | None:
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
            raise ConfigProblem(f"{w}: set only one of {file_opt} and {inline_opt}")

    cipher_suites = _str_list(sec, "cipher_suites", w)
    curves = _str_list(sec, "curve_preferences", w)
    sans = _str_list(sec, "client_allowed_sans", w)
    prefer = sec.get("prefer_server_cipher_suites", True)
    if not isinstance(prefer, bool):
        raise ConfigProblem(f"{w}.prefer_server_cipher_suites: expected true or false")
    min_v = _tls_version(sec, "min_version", ssl.TLSVersion.TLSv1_2, warnings)
    max_v = _tls_version(sec, "max_version", ssl.TLSVersion.TLSv1_3, warnings)

    # Same trigger as Go's TLSConfig.IsEnabled: versions or ciphers alone do not turn TLS on.
    enabled = any((cert_file, key_file, cert_pem, key_pem, ca_file, ca_pem, auth_type))
    if not enabled:
        if sec:
            warnings.append(f"{w} has no certificate: serving plain HTTP")
        return None
    if not (cert_file or cert_pem):
        raise ConfigProblem(f"{w}: missing cert_file (or inline cert)")
    if not (key_file or key_pem):
        raise ConfigProblem(f"{w}: missing key_file (or inline key) for the certificate")
    if min_v > max_v:
        raise ConfigProblem(f"{w}: min_version is higher than max_version")
    if sans:
        raise ConfigProblem(
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
        raise ConfigProblem(
            f"tls_server_config.{key}: unknown TLS version {name!r} "
            f"(expected one of {', '.join(_TLS_VERSIONS)})"
        )
    version = _TLS_VERSIONS[name]
    if version >= _FLOOR:
        return version
    if key == "max_version":
        raise ConfigProblem(
            f"tls_server_config.max_version {name} is not supported (minimum TLS12)"
        )
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
            raise ConfigProblem(f"tls_server_config: cannot read {what}: {one_line(exc)}") from exc
    # A scratch trust store parses the certificate without needing the key, which tells
    # "bad certificate" apart from "bad key" below.
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_verify_locations(cafile=cert)
    except ssl.SSLError as exc:
        raise ConfigProblem(f"tls_server_config: {cert_what} contains no PEM certificate") from exc

    def no_passphrase() -> bytes:
        raise _EncryptedKey

    try:
        ctx.load_cert_chain(cert, key, password=no_passphrase)
    except _EncryptedKey as exc:
        raise ConfigProblem(
            f"tls_server_config: {key_what} is encrypted; a key without passphrase is required"
        ) from exc
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise ConfigProblem(
                f"tls_server_config: {key_what} does not match the certificate in {cert_what}"
            ) from exc
        raise ConfigProblem(
            f"tls_server_config: {key_what} contains no usable private key"
        ) from exc
    except OSError as exc:  # only if a file vanished since the checks above
        raise ConfigProblem(f"tls_server_config: cannot load {cert_what}: {one_line(exc)}") from exc


def _client_auth(
    ctx: ssl.SSLContext, auth_type: str, ca_file: Path | None, ca_pem: str, warnings: list[str]
) -> None:
    w = "tls_server_config"
    auth_type = auth_type or "NoClientCert"
    if auth_type not in _CLIENT_AUTH_TYPES:
        raise ConfigProblem(
            f"{w}.client_auth_type: invalid value {auth_type!r} "
            f"(expected one of {', '.join(_CLIENT_AUTH_TYPES)})"
        )
    has_ca = ca_file is not None or bool(ca_pem)
    if auth_type == "NoClientCert":
        if has_ca:  # same refusal as Go: a CA without a policy is almost surely a mistake
            raise ConfigProblem(f"{w}: client CA configured but client_auth_type is NoClientCert")
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
            raise ConfigProblem(
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
            raise ConfigProblem(
                f"{w}: client_ca_file {ca_file} contains no PEM certificate"
            ) from exc
        except OSError as exc:
            raise ConfigProblem(
                f"{w}: cannot read client_ca_file {ca_file}: {one_line(exc)}"
            ) from exc
    elif ca_pem:
        try:
            ctx.load_verify_locations(cadata=ca_pem)
        except (ssl.SSLError, ValueError) as exc:
            raise ConfigProblem(f"{w}: client_ca contains no PEM certificate") from exc
    else:
        # Go verifies against the system roots when no CA is given; do the same, but say
        # so: any holder of a publicly trusted certificate would then get in.
        ctx.load_default_certs(ssl.Purpose.CLIENT_AUTH)
        warnings.append(
            f"{w}: no client CA configured, client certificates checked "
            "against the system trust store"
        )
