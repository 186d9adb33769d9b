"""Certificates: the CA root from /info, a node's own file, a rotation, a locked node."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from exporter.certs import CertificateError, NodeCertificate, not_after, read_expiry
from exporter.model import SwarmModel
from exporter.parse import parse_info, parse_list, parse_node
from tests.unit.samples import SampleSet


def openssl_end(pem: str) -> float:
    out = subprocess.run(
        ["openssl", "x509", "-noout", "-enddate"], input=pem, capture_output=True, text=True,
        check=True,
    ).stdout  # fmt: skip
    text = out.strip().removeprefix("notAfter=")
    return datetime.strptime(text, "%b %d %H:%M:%S %Y %Z").replace(tzinfo=UTC).timestamp()


def test_the_ca_expiry_is_the_one_openssl_reads(sample: SampleSet) -> None:
    raw = sample.load("info.json")
    info = parse_info(raw)
    assert info.ca is not None and info.settings is not None
    root = raw["Swarm"]["Cluster"]["TLSInfo"]["TrustRoot"]
    assert info.ca.root_expiry == openssl_end(root)
    assert info.settings.node_cert_expiry == 90 * 86400
    assert info.settings.task_history_retention_limit == 5


def test_a_rotation_in_progress_names_the_nodes_not_rotated(sample: SampleSet) -> None:
    model = SwarmModel()
    model.set_info(parse_info(sample.load("info-rotating.json")))
    model.replace_nodes(parse_list(sample.load("nodes-rotating.json"), parse_node, "n")[0])
    assert model.info is not None and model.info.ca is not None
    assert model.info.ca.rotation_in_progress
    behind = sorted(n.hostname for n in model.nodes.values() if not model.issuer_current(n))
    assert behind == ["lab-w1"], "the worker was down through the rotation"


def test_a_locked_manager_says_so_without_a_node_id(sample: SampleSet) -> None:
    info = parse_info(sample.load("info-locked.json"))
    assert (info.local_node_state, info.node_id, info.settings) == ("locked", "", None)
    model = SwarmModel()
    model.set_info(parse_info(sample.load("info.json")))
    known = model.node_id
    model.set_info(info)
    assert model.node_id == known, "the node ID seen before is kept"


def test_a_garbled_root_leaves_the_expiry_out(sample: SampleSet) -> None:
    raw = sample.load("info.json")
    raw["Swarm"]["Cluster"]["TLSInfo"]["TrustRoot"] = "-----BEGIN CERTIFICATE-----\nx\n"
    info = parse_info(raw)
    assert info.ca is not None and info.ca.root_expiry is None
    with pytest.raises(CertificateError):
        not_after("garbage")


def test_a_node_certificate_file_is_read_and_a_bad_one_logged_once(
    tmp_path: Path, sample: SampleSet
) -> None:
    root = sample.load("info.json")["Swarm"]["Cluster"]["TLSInfo"]["TrustRoot"]
    good = tmp_path / "swarm-node.crt"
    good.write_text(root)
    assert read_expiry(str(good)) == openssl_end(root)
    cert = NodeCertificate(str(tmp_path / "missing.crt"))
    with capture_logs() as logs:
        assert cert.expiry() is None
        assert cert.expiry() is None
    assert [e["event"] for e in logs] == ["node_certificate_unreadable"]
