"""Which dockerd a lab runs: Debian bookworm's 20.10, or a modern one run as Engine 29.

- ``debian``: the host's ``docker.io`` (Engine 20.10, API 1.41).
- ``modern``: ``docker.io`` and ``containerd`` from Debian's unstable suite
  (Engine 28.5 when this was written, API 1.51), unpacked into a cache folder
  and put first on the daemons' PATH; bookworm's ``runc`` stays. Each daemon
  gets ``DOCKER_MIN_API_VERSION=1.44``, so it refuses older clients exactly as
  Engine 29.0 does. The packages are fetched once, with a private apt
  configuration that leaves the machine's own sources as they are.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from lab.errors import LabError
from lab.proc import HOST_PATH, run

log = logging.getLogger("lab")

ENGINES = ("debian", "modern")
MODERN_MIN_API = "1.44"
"""Engine 29.0's default minimum API version."""
MODERN_CACHE = Path(os.environ.get("SSLAB_MODERN_CACHE", "/var/cache/modern-engine"))
# Tried in order: unstable has the newest engine; if a newer upload there needs a
# newer libc than this host's, testing's (older, but still modern) is the fallback.
_SUITES = ("sid", "trixie")
_PACKAGES = ("docker.io", "containerd")
_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
_SOURCES_LIST = Path("/etc/apt/sources.list")


def daemon_path(engine: str) -> str:
    """PATH for a node's dockerd: the engine's own binaries first."""
    if engine == "modern":
        root = MODERN_CACHE / "root"
        return os.pathsep.join([str(root / "usr/sbin"), str(root / "usr/bin"), HOST_PATH])
    return HOST_PATH


def daemon_env(engine: str) -> dict[str, str]:
    """Environment a node's dockerd gets on top of the host's, for ``engine``."""
    env = {"PATH": daemon_path(engine)}
    if engine == "modern":
        env["DOCKER_MIN_API_VERSION"] = MODERN_MIN_API
    return env


def check_engine(engine: str) -> str:
    """Make ``engine`` ready to start (fetching the modern one once); returns its version."""
    if engine not in ENGINES:
        raise LabError(f"unknown engine {engine!r}: choose one of {', '.join(ENGINES)}")
    if engine == "debian":
        return _dockerd_version(HOST_PATH)
    with _locked(MODERN_CACHE / ".lock"):
        try:
            return _dockerd_version(daemon_path("modern"))
        except LabError:
            pass  # not fetched yet, or a broken earlier fetch: fetch it now
        problems = []
        for suite in _SUITES:
            try:
                _fetch(suite)
                version = _dockerd_version(daemon_path("modern"))
            except LabError as err:
                problems.append(f"{suite}: {err}")
                continue
            (MODERN_CACHE / "VERSION").write_text(f"{suite} {version}\n")
            log.info("modern engine from %s: %s", suite, version)
            return version
    raise LabError("no modern engine could be fetched: " + "; ".join(problems))


def _dockerd_version(path: str) -> str:
    dockerd = shutil.which("dockerd", path=path)
    if dockerd is None:
        raise LabError("dockerd is not installed (apt-get install docker.io)")
    if path != HOST_PATH and not dockerd.startswith(str(MODERN_CACHE)):
        raise LabError("the modern engine is not unpacked")
    try:
        out = subprocess.run(
            [dockerd, "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError) as err:
        raise LabError(f"{dockerd} --version failed: {err}") from err
    m = re.search(r"version (\S+?),", out)
    if m is None:
        raise LabError(f"{dockerd} --version said {out.strip()!r}")
    return m.group(1)


def _mirror() -> str:
    """The Debian mirror this machine already uses."""
    if _SOURCES.exists():
        m = re.search(r"^URIs:\s*(\S+)", _SOURCES.read_text(), re.M)
        if m:
            return m.group(1)
    if _SOURCES_LIST.exists():
        m = re.search(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s", _SOURCES_LIST.read_text(), re.M)
        if m:
            return m.group(1)
    return "http://deb.debian.org/debian"


def _fetch(suite: str) -> None:
    """``apt-get download`` the engine's packages from ``suite`` and unpack them."""
    cache = MODERN_CACHE
    shutil.rmtree(cache / "root", ignore_errors=True)
    for stale in cache.glob("*.deb"):
        stale.unlink()
    for sub in ("lists/partial", "archives/partial", "root"):
        (cache / sub).mkdir(parents=True, exist_ok=True)
    source = cache / f"{suite}.list"
    source.write_text(
        f"deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] {_mirror()} {suite} main\n"
    )
    private = [
        f"-o=Dir::Etc::sourcelist={source}",
        "-o=Dir::Etc::sourceparts=-",
        f"-o=Dir::State::Lists={cache / 'lists'}",
        f"-o=Dir::Cache={cache}",
        "-qq",
    ]
    log.info("fetching the modern engine from Debian %s into %s", suite, cache)
    run(["apt-get", *private, "update"])
    # apt-get download writes into the current directory.
    with contextlib.chdir(cache):
        run(["apt-get", *private, "download", *_PACKAGES])
    debs = sorted(cache.glob("*.deb"))
    if len(debs) != len(_PACKAGES):
        raise LabError(f"apt-get download gave {[d.name for d in debs]}")
    for deb in debs:
        run(["dpkg-deb", "-x", str(deb), str(cache / "root")])


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One fetch at a time across processes (two test sessions, or `make run` beside them)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
