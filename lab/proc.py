"""Processes, mounts and polling: the host-side plumbing every other module uses."""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TypeVar

from lab.errors import LabError

T = TypeVar("T")

_MNT_DETACH = 2

# Root's tools live in sbin dirs, which a non-login PATH may lack.
HOST_PATH = os.pathsep.join(
    dict.fromkeys([*os.environ.get("PATH", "").split(os.pathsep), "/usr/sbin", "/sbin"])
).strip(os.pathsep)


def run(cmd: Sequence[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a short host command; on failure raise a LabError quoting its stderr."""
    try:
        return subprocess.run(
            list(cmd),
            check=check,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PATH": HOST_PATH},
        )
    except FileNotFoundError as err:
        raise LabError(f"`{cmd[0]}` is not installed: {err}") from err
    except subprocess.TimeoutExpired as err:
        raise LabError(f"`{' '.join(cmd)}` hung for {err.timeout:.0f}s") from err
    except subprocess.CalledProcessError as err:
        detail = (err.stderr or err.stdout or "").strip().splitlines()
        raise LabError(
            f"`{' '.join(cmd)}` failed with exit {err.returncode}: "
            + (detail[-1] if detail else "no output")
        ) from err


def wait_until(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    interval: float = 0.1,
    last_state: Callable[[], str] | None = None,
) -> T:
    """Poll `probe` until it returns something other than None/False.

    Never a bare sleep: the lab waits for a condition with a deadline, and a
    missed deadline is a LabError saying what was awaited (plus, when given,
    what the last observation was, which is what one needs to debug it).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None and value is not False:
            return value
        if time.monotonic() >= deadline:
            seen = f"; last seen: {last_state()}" if last_state is not None else ""
            raise LabError(f"timed out after {timeout:.0f}s waiting for {what}{seen}")
        time.sleep(interval)


def pid_alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    # The state letter follows the ")" closing the command name.
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def wait_gone(pids: Sequence[int], timeout: float) -> bool:
    """Best effort: wait until dead `pids` have left /proc, zombies included.

    A daemon started by another process (`python -m lab up`) was adopted by
    init when that process exited, and init reaps it only a moment after it
    dies; until then `pgrep dockerd` still lists it as <defunct>.
    """
    deadline = time.monotonic() + timeout
    while True:
        for pid in pids:
            _reap(pid)
        if not any(Path(f"/proc/{pid}").exists() for pid in pids):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def _reap(pid: int) -> None:
    """Collect `pid` if it is our child, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def signal_pids(pids: Iterable[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def terminate(pids: Sequence[int], *, grace: float) -> None:
    """SIGTERM `pids`, wait up to `grace` seconds, then SIGKILL the survivors."""
    signal_pids(pids, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        for pid in pids:
            _reap(pid)
        if not any(pid_alive(pid) for pid in pids):
            return
        time.sleep(0.05)
    kill(pids)


def kill(pids: Sequence[int]) -> None:
    """SIGKILL `pids` and wait until the kernel has removed them."""
    signal_pids(pids, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for pid in pids:
            _reap(pid)
        if not any(pid_alive(pid) for pid in pids):
            return
        time.sleep(0.02)
    alive = [pid for pid in pids if pid_alive(pid)]
    raise LabError(f"processes {alive} survived SIGKILL for 10s")


def cmdline(pid: int | str) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return raw.decode(errors="replace").split("\0")


def _cgroups(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return ""


def find_pids(*, paths: Sequence[str] = (), cgroup_parents: Sequence[str] = ()) -> list[int]:
    """Pids whose command line names one of `paths` or that live in one of the cgroups.

    A lab's processes are told apart from anything else on the host only this
    way: dockerd, its containerd and the shims all carry the node's exec-root in
    an argument, and container processes sit below the node's --cgroup-parent.
    Matching a whole argument or a path prefix ending in "/" keeps lab "a"
    from matching lab "ab"; our own process is never a match.
    """
    prefixes = [p.rstrip("/") for p in paths]
    parents = [f"/{c.strip('/')}/" for c in cgroup_parents]
    found: list[int] = []
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        args = cmdline(entry.name)
        hit = any(
            arg == p or arg.endswith("=" + p) or p + "/" in arg for arg in args for p in prefixes
        )
        if not hit and parents:
            # Each line of /proc/PID/cgroup is "id:controllers:/path"; compare the path.
            hit = any(
                (line.split(":", 2)[-1] + "/").startswith(parent)
                for line in _cgroups(entry.name).splitlines()
                for parent in parents
            )
        if hit and pid_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def _unescape_mount_path(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo octal.
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def mounts_under(root: Path) -> list[str]:
    """Mount points at or below `root`, in the order they were mounted."""
    prefix = str(root).rstrip("/")
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = _unescape_mount_path(line.split()[4])
        if point == prefix or point.startswith(prefix + "/"):
            points.append(point)
    return points


def unmount_all_under(root: Path) -> None:
    """Lazily unmount everything below `root`, newest first.

    Reverse order unmounts children before parents; MNT_DETACH lets the kernel
    finish later if something still holds a file open, so cleanup never blocks.
    Repeated because a lazily detached parent can leave nothing, or new
    entries can show up once a shadowing mount is gone.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    for _ in range(5):
        points = mounts_under(root)
        if not points:
            return
        for point in reversed(points):
            if libc.umount2(point.encode(), _MNT_DETACH) != 0:
                errno = ctypes.get_errno()
                # EINVAL: no longer a mount point (a parent went first); ENOENT: gone.
                if errno not in (22, 2):
                    raise LabError(f"cannot unmount {point}: {os.strerror(errno)}")
    left = mounts_under(root)
    if left:
        raise LabError(f"{len(left)} mounts stay under {root} after unmounting, e.g. {left[0]}")
