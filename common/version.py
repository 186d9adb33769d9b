"""swarm-sentinel's version: pyproject.toml's, as the installed package says it; and the
git commit it was built from (``REVISION``), when that can be known."""

from __future__ import annotations

import json
import os
from importlib import metadata
from pathlib import Path

try:
    VERSION = metadata.version("swarm-sentinel")
except metadata.PackageNotFoundError:  # run from a source tree that was never installed
    VERSION = "0+unknown"

REVISION_ENV = "SWARM_SENTINEL_REVISION"
"""Set by the Dockerfile from its build argument REVISION
(``docker build --build-arg REVISION=$(git rev-parse HEAD) .``)."""

_SOURCE = Path(__file__).resolve().parents[1]


def revision(environ: dict[str, str] | None = None, source: Path = _SOURCE) -> str:
    """The git commit swarm-sentinel was built from, the first that says it of:

    - ``SWARM_SENTINEL_REVISION`` (the image's, from its build argument);
    - the package's ``direct_url.json`` (``pip install git+https://...`` records the
      commit it installed);
    - the git checkout it runs from (an editable install, ``make run``, the tests);

    else ``unknown``: a wheel built from a tarball cannot know it.
    """
    env = os.environ if environ is None else environ
    given = env.get(REVISION_ENV, "").strip()
    if given and given != "unknown":
        return given
    return _installed_commit() or _checkout_commit(source) or "unknown"


def _installed_commit() -> str:
    try:
        text = metadata.distribution("swarm-sentinel").read_text("direct_url.json")
        info = json.loads(text or "{}").get("vcs_info", {})
    except (metadata.PackageNotFoundError, ValueError, AttributeError, OSError):
        return ""
    commit = info.get("commit_id") if isinstance(info, dict) else None
    return commit if isinstance(commit, str) else ""


def _checkout_commit(source: Path) -> str:
    """HEAD of the git checkout at ``source``, read from its files (no git needed); ""
    when ``source`` is no checkout (an installed package) or it cannot be read."""
    try:
        git = source / ".git"
        if git.is_file():  # a worktree: "gitdir: <path>"
            git = (source / git.read_text().partition(":")[2].strip()).resolve()
        common = git
        if (git / "commondir").is_file():  # a worktree's refs live in the main checkout
            common = git / (git / "commondir").read_text().strip()
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref:"):
            return _commit(head)  # detached
        ref = head.partition(":")[2].strip()
        for base in (git, common):
            if (base / ref).is_file():
                return _commit((base / ref).read_text())
        for line in (common / "packed-refs").read_text().splitlines():
            commit, _, name = line.partition(" ")
            if name == ref:
                return _commit(commit)
    except OSError:
        pass
    return ""


def _commit(text: str) -> str:
    text = text.strip()
    return text if len(text) in (40, 64) and all(c in "0123456789abcdef" for c in text) else ""


REVISION = revision()
