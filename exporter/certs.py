"""X.509 certificates read with ``cryptography``: when a PEM bundle's certificates
expire. The swarm's CA root comes in /info (``Swarm.Cluster.TLSInfo.TrustRoot``), a
node's own certificate from the file an operator mounts (``--node.certificate-file``).

Only the expiry is read: nothing here verifies a chain or trusts anything.
"""

from __future__ import annotations

import functools

import structlog
from cryptography import x509

log = structlog.get_logger("exporter.certs")


class CertificateError(ValueError):
    """Text that holds no certificate that can be read; one line."""


@functools.lru_cache(maxsize=8)
def not_after(pem: str) -> float:
    """The earliest NotAfter (epoch seconds) of the certificates in ``pem``: a bundle
    is as good as its first certificate to expire. The same root comes at every poll:
    cached."""
    try:
        certs = x509.load_pem_x509_certificates(pem.encode())
    except ValueError as exc:
        raise CertificateError(f"no readable PEM certificate ({_first_line(exc)})") from None
    return min(c.not_valid_after_utc.timestamp() for c in certs)


def read_expiry(path: str) -> float:
    """When the certificate in the file at ``path`` expires (read afresh each time: the
    engine replaces the file when it renews the certificate)."""
    try:
        with open(path, encoding="ascii", errors="replace") as f:  # noqa: PTH123
            pem = f.read(MAX_FILE)
    except OSError as exc:
        raise CertificateError(f"cannot read {path}: {exc.strerror or exc}") from None
    return not_after(pem)


class NodeCertificate:
    """This node's own certificate file (``--node.certificate-file``), read at every poll
    by the watcher; a file that cannot be read is logged once per problem."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._problem = ""

    def expiry(self) -> float | None:
        """When it expires; None while it cannot be read."""
        try:
            at: float | None = read_expiry(self.path)
            problem = ""
        except CertificateError as exc:
            at, problem = None, str(exc)
        if problem and problem != self._problem:
            log.warning("node_certificate_unreadable", path=self.path, problem=problem)
        self._problem = problem
        return at


MAX_FILE = 64 * 1024
"""Bytes of a certificate file read at most: a node's is about 800."""


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
