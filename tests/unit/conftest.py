"""The offline tests' fixtures: each captured engine's answers (engine-samples/)."""

from __future__ import annotations

import pytest

from tests.unit.samples import SETS, SampleSet


@pytest.fixture(params=SETS, ids=str)
def sample(request: pytest.FixtureRequest) -> SampleSet:
    """Each captured engine's answers in turn (engine-samples/<API version>/)."""
    chosen: SampleSet = request.param
    return chosen
