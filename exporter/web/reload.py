"""``--web.config.file`` followed while serving: renewed certificates without a restart.

The exporter-toolkit reads the config file and the certificate files again on every TLS
handshake. Here the same comes cheaper: at most once a second (on a handshake or a
request) the file and the files it names are looked at (``stat``: inode, size, mtime);
only when one of them changed is the config loaded again, whole and validated as at
start, into a new ``ssl.SSLContext``. The listening socket keeps its first context,
whose ``sni_callback`` (called on every handshake, with or without SNI) hands each new
connection the latest one: its certificate, key and client CAs. Users and headers are
read from the latest config on every request (``WebConfig.latest``).

A new file that does not load (unreadable, broken YAML, a key that does not match its
certificate) keeps the previous config serving, and is logged once as one error event
(``web_config_reload_failed``), not once per connection; it is tried again when a file
changes again. So is a change this cannot apply on a running listener: TLS turned on or
off, and a different client_auth_type or TLS version range (those are the listening
context's own settings, fixed when a connection is accepted; changing them under live
connections could let one in under the old ones). Those take a restart.
"""

from __future__ import annotations

import os
import ssl
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import structlog
import yaml

from common.text import one_line
from exporter.web.config import WebConfig, WebConfigError, load_web_config

log = structlog.get_logger("exporter.web")

INTERVAL = 1.0
"""Seconds between two looks at the files, at most."""

_Stat = tuple[int, int, int, int] | None


def follow_web_config(
    path: str | os.PathLike[str] | None,
    *,
    interval: float = INTERVAL,
    clock: Callable[[], float] = time.monotonic,
) -> WebConfig:
    """``load_web_config(path)`` (whose errors still stop the start), followed: the
    returned config's ``latest()`` is the file's latest good config, and its ``tls``
    serves that config's certificate on every new connection."""
    if path is None or os.fspath(path) == "":
        return WebConfig()
    return FollowedFile(Path(path), interval=interval, clock=clock).current


class FollowedFile:
    """One web config file and its latest good config (``current``)."""

    def __init__(
        self, path: Path, *, interval: float = INTERVAL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.path = path
        self.interval = interval
        self.clock = clock
        self._names: tuple[Path, ...] = ()
        self._config_stat: _Stat = None
        self._hello_failed = False
        self._seen = self._look()
        first = load_web_config(path)
        self._listening = first.tls
        """The context the server listens with: fixed for the life of the listener."""
        if self._listening is not None:
            self._listening.sni_callback = self._on_hello
        self.current = replace(first, follow=self.latest)
        self._checked = clock()

    def latest(self) -> WebConfig:
        """The latest good config, after a look at the files if the last is a second old."""
        now = self.clock()
        if now - self._checked >= self.interval:
            self._checked = now
            seen = self._look()
            if seen != self._seen:
                self._seen = seen
                self._reload()
        return self.current

    def _on_hello(
        self,
        conn: ssl.SSLObject | ssl.SSLSocket,
        _server_name: str | None,
        listening: ssl.SSLContext,
    ) -> None:
        # Called by the TLS layer on every handshake: whatever goes wrong here must not
        # abort the handshake (the listening context serves it) nor leave a traceback.
        try:
            tls = self.latest().tls
        except Exception as exc:  # said once; the handshake goes on
            if not self._hello_failed:
                self._hello_failed = True
                log.error(
                    "web_config_reload_failed", file=str(self.path), error=one_line(repr(exc), 500)
                )
            return
        if tls is not None and tls is not listening:
            conn.context = tls

    def _reload(self) -> None:
        try:
            new = load_web_config(self.path)
            _check_applicable(self._listening, new.tls)
        except Exception as exc:  # whatever it is, the previous config goes on serving
            error = str(exc) if isinstance(exc, WebConfigError) else f"{self.path}: {exc!r}"
            log.error(
                "web_config_reload_failed",
                file=str(self.path),
                error=one_line(error, 500),
                serving="the previous configuration",
            )
            return
        self.current = replace(new, follow=self.latest)
        log.info("web_config_reloaded", file=str(self.path), tls=new.tls is not None)
        for warning in new.warnings:
            log.warning("web_config", problem=warning)

    def _look(self) -> tuple[_Stat, ...]:
        """What the files are now: the config file and the files it names."""
        config_stat = _stat(self.path)
        if config_stat != self._config_stat:
            self._config_stat = config_stat
            self._names = _named_files(self.path)
        return (config_stat, *(_stat(p) for p in self._names))


def _check_applicable(listening: ssl.SSLContext | None, new: ssl.SSLContext | None) -> None:
    if (listening is None) != (new is None):
        raise WebConfigError(f"TLS turned {'off' if new is None else 'on'}: that takes a restart")
    if listening is None or new is None:
        return
    for what, attr in (
        ("client_auth_type", "verify_mode"),
        ("min_version", "minimum_version"),
        ("max_version", "maximum_version"),
        ("prefer_server_cipher_suites", "options"),
    ):
        if getattr(listening, attr) != getattr(new, attr):
            raise WebConfigError(f"tls_server_config.{what} changed: that takes a restart")


def _stat(path: Path) -> _Stat:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _named_files(path: Path) -> tuple[Path, ...]:
    """The certificate, key and client CA files ``path`` names, as far as it can be read:
    a broken file still says which files to watch for the fix."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError, RecursionError):
        return ()
    tls = doc.get("tls_server_config") if isinstance(doc, dict) else None
    if not isinstance(tls, dict):
        return ()
    names = (tls.get(key) for key in ("cert_file", "key_file", "client_ca_file"))
    return tuple(path.parent / name for name in names if isinstance(name, str) and name)
