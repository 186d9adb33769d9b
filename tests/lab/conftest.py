"""The lab tests' fixtures: the labs (one per engine, tests/conftest.py says which a
test runs on), and the services and processes a test makes on them."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from types import FrameType

import pytest

from lab import Lab, LabError
from tests.support.labs import lab_config
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


@pytest.fixture(scope="session")
def lab_engine(request: pytest.FixtureRequest) -> str:
    """The engine of the lab a test runs on (see ``LAB_ENGINES``)."""
    engine: str = request.param
    return engine


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session")
def lab(lab_engine: str) -> Iterator[Lab]:
    """The engine's swarm, torn down after its last test (pass, fail or Ctrl-C).

    A lab that cannot come up fails every test needing it with the one-line cause
    (never a skip: a missing lab must not look like a green run).
    """
    the_lab = Lab(lab_config(lab_engine))
    # A `kill <pytest pid>` becomes a KeyboardInterrupt, after which pytest still
    # finalizes session fixtures, so the daemons go with it.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        try:
            the_lab.up()
        except LabError as err:
            pytest.fail(f"swarm lab unavailable: {err}", pytrace=False)
        yield the_lab
    finally:
        signal.signal(signal.SIGTERM, previous)
        the_lab.down()


@pytest.fixture
def restored_lab(lab: Lab) -> Iterator[Lab]:
    """The lab, for a test that disrupts it: afterwards every node is brought back
    (engines running, links up, active, no labels) and a leader exists."""
    yield lab
    lab.restore()
