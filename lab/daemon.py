"""One dockerd per node, run inside the node's network namespace under its own hostname."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import threading
import time
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import requests

from lab.config import LabConfig
from lab.dockerpy import docker_client
from lab.engines import daemon_env
from lab.errors import LabAborted, LabError
from lab.netns import netns_path
from lab.proc import cmdline, find_pids, kill, pid_alive, terminate

SHIM_SOCKET_DIR = Path("/run/containerd/s")
_START_MARKER = "--- lab: starting dockerd"

# Errors a docker-py call raises when the engine is down, slow or refuses: what
# the lab's polling loops treat as "not yet".
CALL_ERRORS = (docker.errors.DockerException, requests.exceptions.RequestException, OSError)


@dataclass(eq=False)
class Daemon:
    """A dockerd whose every path lives in `dir`, so several run side by side."""

    node: str
    dir: Path
    netns: str
    hostname: str
    bip: str
    cgroup_parent: str
    prefer_offline_image: bool = True
    engine: str = "debian"
    config: dict[str, Any] = field(default_factory=dict)
    """Content of the node's daemon.json (empty by default). The raft ticks are
    not among its options in 20.10, so quorum loss keeps its 10-25 s."""
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def for_node(cls, config: LabConfig, node: str) -> Daemon:
        """The daemon of `node` as `config` lays it out (also for a node that a
        previous run had and the config no longer names: teardown needs those)."""
        return cls(
            node=node,
            dir=config.node_dir(node),
            netns=config.netns(node),
            hostname=config.hostname(node),
            bip=config.bip(node) if node in config.node_names() else "",
            cgroup_parent=config.cgroup_parent(node),
            prefer_offline_image=node not in config.online_nodes,
            engine=config.engine,
            config={"metrics-addr": config.metrics_addr} if config.metrics_addr else {},
        )

    @property
    def data_root(self) -> Path:
        return self.dir / "data"

    @property
    def exec_root(self) -> Path:
        return self.dir / "exec"

    @property
    def socket(self) -> Path:
        return self.dir / "docker.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def pidfile(self) -> Path:
        return self.dir / "docker.pid"

    @property
    def log_file(self) -> Path:
        return self.dir / "dockerd.log"

    def command(self) -> list[str]:
        # `ip netns exec` would remount /sys, and dockerd then dies with "Devices
        # cgroup isn't mounted": enter only the network namespace with nsenter.
        # unshare --uts gives the node its own hostname, which swarm reports as
        # the node's name. Each step execs the next, so the pid we start is dockerd's.
        config_file = self.dir / "daemon.json"
        return [
            "nsenter", f"--net={netns_path(self.netns)}",
            "unshare", "--uts",
            "sh", "-c", 'hostname "$1" && shift && exec "$@"', "sh", self.hostname,
            "dockerd",
            "--data-root", str(self.data_root),
            "--exec-root", str(self.exec_root),
            "--host", self.url,
            "--pidfile", str(self.pidfile),
            "--bip", self.bip,
            # Our own config file: a host /etc/docker/daemon.json must not leak in.
            "--config-file", str(config_file),
            # Containers of this node in cgroups of their own: teardown finds
            # (and kills) them even after their shim died.
            "--cgroup-parent", "/" + self.cgroup_parent,
        ]  # fmt: skip

    def _environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("DOCKER_MIN_API_VERSION", None)
        env.update(daemon_env(self.engine))
        env.pop("DOCKER_HOST", None)
        if self.prefer_offline_image:
            # Without it every task waits ~15-20 s in `preparing` while the engine
            # tries to reach a registry that this machine cannot reach.
            env["DOCKER_SERVICE_PREFER_OFFLINE_IMAGE"] = "1"
        else:
            env.pop("DOCKER_SERVICE_PREFER_OFFLINE_IMAGE", None)
        return env

    def pid(self) -> int | None:
        """Pid of the running dockerd, from our child handle or else its pid file."""
        if self._proc is not None and self._proc.poll() is None:
            return self._proc.pid
        try:
            pid = int(self.pidfile.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        # Guard against a reused pid: the process must be a dockerd of this node.
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            return None
        if pid_alive(pid) and str(self.exec_root) in cmdline.split("\0"):
            return pid
        return None

    def running(self) -> bool:
        return self.pid() is not None

    def start(self) -> None:
        """Start dockerd (same command every time: a restarted node rejoins with its data)."""
        with self._lock:
            if self.running():
                raise LabError(f"dockerd of {self.node} is already running")
            self.dir.mkdir(parents=True, exist_ok=True)
            (self.dir / "daemon.json").write_text(json.dumps(self.config) + "\n")
            # dockerd refuses to start over a pid file naming a live process; after
            # a kill -9 the file names a dead one, or (rarely) someone else's.
            self.pidfile.unlink(missing_ok=True)
            # Same for its containerd: a killed containerd can linger as a zombie
            # until init reaps it, and dockerd (kill(pid, 0) says "alive") then waits
            # for it and fails with "timeout waiting for containerd to start".
            self._drop_stale_pidfile(self.exec_root / "containerd" / "containerd.pid")
            with self.log_file.open("ab") as log:
                log.write(f"{_START_MARKER} at {time.ctime()}\n".encode())
                log.flush()
                try:
                    self._proc = subprocess.Popen(
                        self.command(),
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        env=self._environment(),
                        # Own session: a Ctrl-C in the terminal of `python -m lab up`
                        # must not reach the daemons, and they outlive that command.
                        start_new_session=True,
                    )
                except FileNotFoundError as err:
                    raise LabError(f"cannot start dockerd of {self.node}: {err}") from err

    @staticmethod
    def _drop_stale_pidfile(path: Path) -> None:
        try:
            pid = int(path.read_text().strip())
        except (FileNotFoundError, ValueError):
            return
        if not pid_alive(pid):
            path.unlink(missing_ok=True)

    def log_tail(self, lines: int = 3) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        # Only this run's lines: the log keeps every earlier start of the node too.
        text = text.rsplit(_START_MARKER, 1)[-1].split("\n", 1)[-1]
        tail = [line.strip() for line in text.splitlines() if line.strip()][-lines:]
        return " | ".join(tail) or "(nothing logged)"

    def client(self, timeout: float = 10.0) -> docker.APIClient:
        """A docker-py client at the version negotiated with this dockerd (one /_ping
        per client: a node can be restarted as another engine in between)."""
        return docker_client(self.url, timeout=timeout)

    def wait_up(self, timeout: float, *, abort: threading.Event | None = None) -> None:
        """Wait until the API answers; a daemon that exits meanwhile is a LabError
        quoting the end of its log, which is where dockerd says why it failed."""
        deadline = time.monotonic() + timeout
        while True:
            if abort is not None and abort.is_set():
                raise LabAborted(f"start of {self.node} aborted")
            proc = self._proc
            if proc is not None and proc.poll() is not None:
                raise LabError(
                    f"dockerd of {self.node} exited with {proc.returncode} during "
                    f"start-up ({self.log_file}): {self.log_tail()}"
                )
            try:
                # Negotiating the client's version is itself a /_ping.
                with closing(self.client(timeout=2)) as client:
                    client.ping()
                return
            except CALL_ERRORS:
                pass
            if time.monotonic() >= deadline:
                raise LabError(
                    f"dockerd of {self.node} did not answer on {self.socket} within "
                    f"{timeout:.0f}s ({self.log_file}): {self.log_tail()}"
                )
            time.sleep(0.05)

    def stop(self, grace: float = 30.0) -> None:
        """SIGTERM dockerd and wait for it (SIGKILL after `grace` seconds).

        Without live-restore, dockerd stops its containers and its containerd on
        the way out, so a clean stop leaves no processes of this node.
        """
        with self._lock:
            pid = self.pid()
            if pid is not None:
                terminate([pid], grace=grace)
            self._proc = None

    def crash(self) -> None:
        """kill -9 dockerd, then everything of this node it would have left behind.

        The containerd shims (and so the containers) outlive a killed dockerd; a
        crashed machine keeps none of them, so they are killed too, found by the
        node's exec-root in their arguments and by the node's cgroup parent.
        """
        with self._lock:
            pid = self.pid()
            if pid is not None:
                kill([pid])
            self._proc = None
            end_processes(self.leftover_pids(), grace=0)

    def forget(self) -> None:
        """Drop the child handle once the process is known to be gone."""
        if self._proc is not None and self._proc.poll() is not None:
            self._proc = None

    def leftover_pids(self) -> list[int]:
        """Every live process belonging to this node: dockerd, containerd, shims, containers."""
        return find_pids(
            paths=[str(self.exec_root), str(self.data_root)],
            cgroup_parents=[self.cgroup_parent],
        )


def shim_socket(args: list[str]) -> Path | None:
    """The socket a containerd-shim-runc-v2 listens on, from its arguments.

    Shims of every containerd share /run/containerd/s and name their socket
    sha256(<containerd address>/<namespace>/<id>) (containerd 1.6,
    runtime/v2/shim/util_unix.go); a SIGKILLed shim leaves it behind.
    """
    if not args or not Path(args[0]).name.startswith("containerd-shim"):
        return None
    flags = dict(zip(args[1::2], args[2::2], strict=False))
    try:
        key = f"{flags['-address']}/{flags['-namespace']}/{flags['-id']}"
    except KeyError:
        return None
    return SHIM_SOCKET_DIR / hashlib.sha256(key.encode()).hexdigest()


def end_processes(pids: list[int], *, grace: float) -> None:
    """End `pids` (SIGTERM, SIGKILL after `grace`) and remove the sockets of shims among them."""
    sockets = [sock for sock in (shim_socket(cmdline(pid)) for pid in pids) if sock is not None]
    if grace > 0:
        terminate(pids, grace=grace)
    else:
        kill(pids)
    for sock in sockets:
        sock.unlink(missing_ok=True)


def stop_all(daemons: list[Daemon], grace: float) -> list[int]:
    """Stop several daemons at once: their shutdowns overlap instead of adding up.

    Then end whatever they left (shims whose dockerd was killed earlier, their
    containers): SIGTERM lets a shim tidy its socket, SIGKILL follows in 1 s.
    Returns the pids it ended.
    """
    pids = [pid for pid in (d.pid() for d in daemons) if pid is not None]
    terminate(pids, grace=grace)
    for daemon in daemons:
        daemon.forget()
    leftovers = [pid for d in daemons for pid in d.leftover_pids()]
    if leftovers:
        end_processes(leftovers, grace=1.0)
    return pids + leftovers
