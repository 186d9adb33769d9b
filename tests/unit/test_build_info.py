"""dockerswarm_build_info: the build (version, git revision, Python) and the Engine API
version spoken; where the revision comes from."""

from __future__ import annotations

import platform
from pathlib import Path

from prometheus_client import CollectorRegistry

from common.version import REVISION, VERSION, revision
from exporter.client import EngineMetrics

COMMIT = "0123456789abcdef0123456789abcdef01234567"
OTHER = "fedcba9876543210fedcba9876543210fedcba98"


def test_build_info_follows_the_negotiated_api_version() -> None:
    registry = CollectorRegistry()
    metrics = EngineMetrics(registry)
    build = {"version": VERSION, "revision": REVISION, "python_version": platform.python_version()}

    def info(api_version: str) -> float | None:
        labels = {**build, "api_version": api_version}
        return registry.get_sample_value("dockerswarm_build_info", labels)

    assert info("") == 1  # from the start: before the engine answered
    metrics.speaking("1.44")
    assert info("") is None
    assert info("1.44") == 1


def test_this_checkout_knows_its_revision() -> None:
    # The tests run from a git checkout (an editable install): its HEAD.
    assert len(REVISION) == 40 and int(REVISION, 16) >= 0


def test_the_image_says_its_revision_in_the_environment(tmp_path: Path) -> None:
    assert revision({"SWARM_SENTINEL_REVISION": COMMIT}, tmp_path) == COMMIT
    # Not given (docker build without --build-arg), and no checkout: unknown.
    # (An editable install records no commit: a `pip install git+...` would.)
    for env in ({}, {"SWARM_SENTINEL_REVISION": ""}, {"SWARM_SENTINEL_REVISION": "unknown"}):
        assert revision(env, tmp_path) == "unknown"


def test_a_checkout_is_read_without_git(tmp_path: Path) -> None:
    git = tmp_path / "src" / ".git"
    (git / "refs" / "heads").mkdir(parents=True)
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    (git / "packed-refs").write_text(f"# pack-refs with: peeled\n{COMMIT} refs/heads/main\n")
    assert revision({}, tmp_path / "src") == COMMIT  # packed
    (git / "refs" / "heads" / "main").write_text(OTHER + "\n")
    assert revision({}, tmp_path / "src") == OTHER  # loose ref wins
    (git / "HEAD").write_text(COMMIT + "\n")
    assert revision({}, tmp_path / "src") == COMMIT  # detached

    # A worktree: .git is a file naming its own git dir, whose commondir has the refs.
    wt = git / "worktrees" / "wt"
    wt.mkdir(parents=True)
    (wt / "HEAD").write_text("ref: refs/heads/main\n")
    (wt / "commondir").write_text("../..\n")
    (tmp_path / "wt").mkdir()
    (tmp_path / "wt" / ".git").write_text(f"gitdir: {wt}\n")
    assert revision({}, tmp_path / "wt") == OTHER

    (git / "refs" / "heads" / "main").write_text("not a commit\n")
    assert revision({}, tmp_path / "src") == COMMIT  # HEAD is still detached there
    (git / "HEAD").write_text("garbage\n")
    assert revision({}, tmp_path / "src") == "unknown"
