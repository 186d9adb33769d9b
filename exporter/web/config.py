"""``--web.config.file``: TLS and basic auth in the Prometheus exporter-toolkit format.

Operators already write this file for node_exporter and friends
(https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md),
so the same file must work here unchanged, or fail loudly at start-up when it asks for
something this server cannot honour. The rule throughout is *fail closed*: a setting that
restricts access and that Python's ``ssl`` module cannot express is an error, never a
silent no-op; a setting that only tunes performance or cipher choice is accepted and
reported in ``WebConfig.warnings``.

Differences from the Go implementation, on purpose:

* The Go toolkit re-reads the file on every connection. Here ``load_web_config`` reads
  and validates it once, and ``follow_web_config`` (``exporter.web.reload``) looks for
  changes at most once a second: certificates, keys, client CAs, users and headers follow
  the file; a file that does not load keeps the previous one serving.
* Unknown keys are errors at every level (Go uses ``yaml.UnmarshalStrict`` too).
* ``RequestClientCert`` / ``RequireAnyClientCert`` (accept a client certificate without
  verifying it) cannot be expressed with Python's ``ssl`` (no verify callback), see
  ``_client_auth``.
* ``client_allowed_sans`` is refused: enforcing it would need the peer certificate in
  the HTTP layer, and ignoring it would widen access.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import yaml

from common.text import one_line
from exporter.web.tls import TLS_KEYS, tls_context
from exporter.web.users import read_users
from exporter.web.values import ConfigProblem, _kind, _section

_TOP_KEYS: Final = frozenset(
    {"tls_server_config", "http_server_config", "basic_auth_users", "rate_limit"}
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
    ``follow``, when the file is followed, gives the latest good config (``latest``).
    """

    tls: ssl.SSLContext | None = None
    users: Mapping[str, bytes] = field(default_factory=_empty)
    headers: Mapping[str, str] = field(default_factory=_empty)
    warnings: tuple[str, ...] = ()
    follow: Callable[[], WebConfig] | None = field(default=None, compare=False, repr=False)

    def latest(self) -> WebConfig:
        """The config to apply now: the file's latest good one when it is followed."""
        return self if self.follow is None else self.follow()


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
    except ConfigProblem as exc:
        raise WebConfigError(f"{file}: {exc}") from exc.__cause__


def _parse(text: str, base: Path) -> WebConfig:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigProblem(f"invalid YAML: {_yaml_reason(exc)}") from exc
    except RecursionError as exc:
        raise ConfigProblem("invalid YAML: nested too deeply") from exc
    # An empty file is valid in Go (all defaults): no TLS, no auth.
    top = _section(doc, "top level", _TOP_KEYS)
    warnings: list[str] = []

    users = read_users(top.get("basic_auth_users"))
    headers = _http(
        _section(top.get("http_server_config"), "http_server_config", _HTTP_KEYS), warnings
    )
    _rate_limit(top.get("rate_limit"), warnings)
    tls = tls_context(
        _section(top.get("tls_server_config"), "tls_server_config", TLS_KEYS), base, warnings
    )
    if users and tls is None:
        warnings.append("basic_auth_users without TLS: passwords are sent in clear text")
    return WebConfig(
        tls=tls,
        users=MappingProxyType(users),
        headers=MappingProxyType(headers),
        warnings=tuple(warnings),
    )


def _yaml_reason(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return f"{exc.problem} at line {mark.line + 1}, column {mark.column + 1}"
    return one_line(exc)


def _http(sec: Mapping[str, Any], warnings: list[str]) -> dict[str, str]:
    http2 = sec.get("http2")
    if http2 is not None and not isinstance(http2, bool):
        raise ConfigProblem(f"http_server_config.http2: expected true or false, got {_kind(http2)}")
    if http2:
        warnings.append("http_server_config.http2 ignored: this server speaks HTTP/1.1 only")
    raw = sec.get("headers")
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigProblem(f"http_server_config.headers: expected a mapping, got {_kind(raw)}")
    headers: dict[str, str] = {}
    for name, value in raw.items():
        if name not in _ALLOWED_HEADERS:
            raise ConfigProblem(
                f"http_server_config.headers: header {name!r} can not be configured"
            )
        if value is None or value == "":  # "Unset if blank" in the toolkit docs
            continue
        if not isinstance(value, str) or "\r" in value or "\n" in value:
            raise ConfigProblem(f"http_server_config.headers.{name}: expected a one-line string")
        allowed = _ALLOWED_HEADERS[name]
        if allowed is not None and value not in allowed:
            raise ConfigProblem(
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
