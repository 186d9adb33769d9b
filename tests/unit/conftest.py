"""The offline tests' fixtures: each captured engine's answers (engine-samples/), and
structlog as a test found it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog

from tests.unit.samples import SETS, SampleSet


@pytest.fixture(params=SETS, ids=str)
def sample(request: pytest.FixtureRequest) -> SampleSet:
    """Each captured engine's answers in turn (engine-samples/<API version>/)."""
    chosen: SampleSet = request.param
    return chosen


@pytest.fixture(autouse=True)
def _structlog_reset() -> Iterator[None]:
    """A test that configures logging (a CLI run at --log.level error) leaves its level
    filter behind, and a later test's ``capture_logs`` then sees no warning at all."""
    yield
    structlog.reset_defaults()
