"""Fixtures shared by the lab tests (the labs themselves are in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lab import Lab
from tests.support.sentinel import Sentinel
from tests.support.swarm_services import Services, services


@pytest.fixture
def made(lab: Lab) -> Iterator[Services]:
    """Services a test creates, removed after it (pass or fail). Asked for before
    ``restored_lab``, they are removed after the lab is whole again: a swarm without
    quorum refuses to remove a service."""
    with services(lab) as s:
        yield s


@pytest.fixture
def sentinels() -> Iterator[list[Sentinel]]:
    """swarm-sentinel processes a test starts, stopped after it (pass or fail)."""
    running: list[Sentinel] = []
    try:
        yield running
    finally:
        for s in running:
            s.stop()
