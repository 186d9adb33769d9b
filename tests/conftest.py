"""Shared fixtures. `lab` is a real 3-manager + 1-worker Docker Swarm (see tests/lab/).

The test lab has its own name, bridge and subnet, so it runs beside a lab
brought up by hand with `python -m tests.lab up` (name "default", sslab0,
10.123.0.0/24) without touching it.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from types import FrameType

import pytest

from tests.lab import Lab, LabConfig, LabError

# SSLAB_NAME / SSLAB_BRIDGE / SSLAB_SUBNET let two test sessions run side by side.
LAB_CONFIG = LabConfig(
    name=os.environ.get("SSLAB_NAME", "pytest"),
    managers=3,
    workers=1,
    bridge=os.environ.get("SSLAB_BRIDGE", "sslab1"),
    subnet=os.environ.get("SSLAB_SUBNET", "10.123.1.0/24"),
    # A dead node is declared down after a few missed heartbeats: 1 s instead of
    # the default 5 s brings that from ~15 s to ~3-5 s.
    heartbeat=1.0,
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Whatever uses the lab is a lab test, marked or not: `-m "not lab"` skips it.
    for item in items:
        if "lab" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.lab)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    """The session's swarm, torn down at the end of the session, pass, fail or Ctrl-C.

    A lab that cannot come up fails every test needing it with the one-line cause
    (never a skip: a missing lab must not look like a green run).
    """
    the_lab = Lab(LAB_CONFIG)
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
