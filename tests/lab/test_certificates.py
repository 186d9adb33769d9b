"""The swarm's certificates on a real swarm: the CA root's expiry read from /info is the
one openssl reads from the same root; a CA root rotation shows in progress, with the
node that holds it up (its engine stopped), then done; a node's own certificate file,
issued with the engine's shortest lifetime, shows its expiry."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import pytest

from lab import Lab
from lab.engines import ENGINES
from tests.support.sentinel import Sentinel, wait_for
from tests.unit.test_certs import openssl_end

pytestmark = pytest.mark.lab
LAB_ENGINES = ENGINES

HOUR = 3600
DEFAULT_EXPIRY = 90 * 24 * HOUR


def update_ca(lab: Lab, *, rotate: bool = False, expiry: float | None = None) -> None:
    """``docker swarm ca [--rotate] [--cert-expiry]``, as the CLI does it: the swarm's
    spec posted back with ``CAConfig`` changed (GET /swarm is the test's, not the
    product's: it returns the join tokens)."""
    for _ in range(5):
        with closing(lab.manager_client()) as client:
            swarm = client.inspect_swarm()
            ca = swarm["Spec"].setdefault("CAConfig", {})
            if rotate:
                ca["ForceRotate"] = int(ca.get("ForceRotate") or 0) + 1
            if expiry is not None:
                ca["NodeCertExpiry"] = int(expiry * 1e9)
            resp = client.post(
                f"{client.base_url}/v{client.api_version}/swarm/update",
                json=swarm["Spec"],
                params={"version": swarm["Version"]["Index"]},
            )
            if resp.status_code == 200:
                return
            if "out of sequence" not in resp.text:
                resp.raise_for_status()
    raise AssertionError("the swarm update kept racing others")


def trust_root(lab: Lab) -> str:
    with closing(lab.manager_client()) as client:
        info: dict[str, Any] = client.info()
    root: str = info["Swarm"]["Cluster"]["TLSInfo"]["TrustRoot"]
    return root


@pytest.fixture
def default_expiry(restored_lab: Lab) -> Iterator[Lab]:
    """The lab, its node certificate lifetime set back to the default afterwards (the
    nodes' 1 h certificates then renew on their own)."""
    yield restored_lab
    restored_lab.start_engines([n for n in restored_lab.nodes if not n.running()])
    restored_lab.wait_leader()
    update_ca(restored_lab, expiry=DEFAULT_EXPIRY)


def test_ca_expiry_rotation_and_a_node_certificate(
    default_expiry: Lab, sentinels: list[Sentinel]
) -> None:
    lab = default_expiry
    manager = lab.wait_leader()
    cert_file = manager.daemon.data_root / "swarm" / "certificates" / "swarm-node.crt"
    proc = Sentinel(manager.url, ["--node.certificate-file", str(cert_file)])
    sentinels.append(proc)
    proc.start()

    # The CA root's expiry: the one openssl reads from the same root.
    proc.wait_value("dockerswarm_cluster_ca_expiry_timestamp_seconds", openssl_end(trust_root(lab)))
    proc.wait_value("dockerswarm_cluster_ca_rotation_in_progress", 0)
    proc.wait_value("dockerswarm_cluster_node_certificate_lifetime_seconds", DEFAULT_EXPIRY)

    # A rotation the worker, its engine stopped, holds up; the certificates it issues
    # live 1 h, the engine's shortest lifetime.
    worker = lab.workers[0]
    started = time.time()
    lab.stop_engine(worker, grace=10)
    update_ca(lab, rotate=True, expiry=HOUR)
    proc.wait_value("dockerswarm_cluster_ca_rotation_in_progress", 1)
    issuer = "dockerswarm_node_certificate_issuer_current"

    def behind() -> list[str]:
        return sorted(dict(k)["hostname"] for k, v in proc.series(issuer).items() if v == 0)

    wait_for(lambda: behind() == [worker.hostname], 30, f"only {worker.hostname} not rotated")
    page = json.loads(proc.get("/status.json")[1])
    assert any("rotation" in p and worker.hostname in p for p in page["problems"]), page

    lab.start_engine(worker)
    proc.wait_value("dockerswarm_cluster_ca_rotation_in_progress", 0, timeout=60)
    wait_for(lambda: proc.series(issuer) and not behind(), 30, "every node rotated")
    took = time.time() - started
    proc.wait_value("dockerswarm_cluster_node_certificate_lifetime_seconds", HOUR)
    proc.wait_value("dockerswarm_cluster_ca_expiry_timestamp_seconds", openssl_end(trust_root(lab)))

    # The manager's own certificate, reissued by the new root with a 1 h lifetime: the
    # file the flag names (read at every poll) says when, as openssl does.
    def node_expiry() -> float | None:
        return proc.value(
            "dockerswarm_node_certificate_expiry_timestamp_seconds",
            node_id=lab.swarm_id(manager),
            hostname=manager.hostname,
        )

    expected = openssl_end(cert_file.read_text())
    wait_for(lambda: node_expiry() == expected, 30, "the node certificate's expiry")
    assert started + HOUR - 600 <= expected <= time.time() + HOUR + 600, (started, expected)
    print(f"rotation with the worker stopped then started: {took:.1f}s")
