"""Shared fixtures. `lab` is a real 3-manager + 1-worker Docker Swarm (see lab/).

The test lab has its own name, bridge and subnet, so it runs beside a lab
brought up by hand with `python -m lab up` (name "default", sslab0,
10.123.0.0/24) without touching it.

Each engine (lab/engines.py) gets a lab of its own. A test module says
on which with ``LAB_ENGINES``, a test with ``@pytest.mark.engines(...)``;
without either, its lab tests run on Debian's 20.10.
Tests are grouped by engine: in one process one lab is up at a time. With
``--lab-engine`` a process runs one engine's lab tests only: ``scripts/test.sh``
runs one per engine, the two labs side by side (their names, bridges and
subnets differ).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from types import FrameType

import pytest

from lab import Lab, LabError
from lab.engines import ENGINES
from tests.support.labs import lab_config
from tests.unit.samples import SETS, SampleSet


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--lab-engine",
        choices=ENGINES,
        help="run only the lab tests of this engine (those on no engine's lab go with "
        "debian): scripts/test.sh runs one pytest per engine, side by side",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "lab_engine" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("engines")
        engines = marker.args if marker else getattr(metafunc.module, "LAB_ENGINES", ("debian",))
        metafunc.parametrize("lab_engine", engines, indirect=True, scope="session")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Whatever uses the lab is a lab test, marked or not: `-m "not lab"` skips it.
    for item in items:
        if "lab" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.lab)
    only = config.getoption("--lab-engine")
    if only is None:
        return
    kept, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        engine = callspec.params.get("lab_engine") if callspec is not None else None
        if item.get_closest_marker("lab") is not None and (engine or "debian") != only:
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


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


@pytest.fixture(params=SETS, ids=str)
def sample(request: pytest.FixtureRequest) -> SampleSet:
    """Each captured engine's answers in turn (engine-samples/<API version>/)."""
    chosen: SampleSet = request.param
    return chosen
