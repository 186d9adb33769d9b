"""What every test session shares: the ``--lab-engine`` option, and which lab each lab
test runs on. The fixtures are in tests/unit/conftest.py (the engine samples) and
tests/lab/conftest.py (the labs). A lab is a real 3-manager + 1-worker Docker Swarm
(see lab/).

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

import pytest

from lab.engines import ENGINES


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
