"""A real multi-node Docker Swarm on this host: `Lab` and its `Node`s.

Each node is a dockerd in its own network namespace, cabled to one host bridge.
The lab brings them up in parallel, forms the swarm, and offers the faults a
test needs (engine stop/crash, partition, drain, labels) plus the waits that
follow them. Every wait polls a condition against a deadline.
"""

from __future__ import annotations

import fcntl
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import docker

from lab import netns
from lab.bringup import start_swarm
from lab.cleanup import leftovers, teardown
from lab.config import DEFAULT_ROOT_BASE, LabConfig
from lab.daemon import CALL_ERRORS, Daemon
from lab.errors import LabError
from lab.image import build_rootfs, rootfs_tar
from lab.node import Node, NodeRef
from lab.preflight import preflight
from lab.proc import wait_until
from lab.state import read_state, write_state

log = logging.getLogger("lab")

NO_LEADER = "does not have a leader"
"""What a manager's GET /info says in Swarm.Error once quorum is lost."""


_HELD: dict[Path, IO[str]] = {}
"""The locks of the labs this process has up, by lock file (``Lab._lock``)."""


class Lab:
    """N managers + M workers on one host. `up()` builds it, `down()` removes every trace.

    Usable as a context manager (`with Lab(cfg) as lab:`), from pytest fixtures,
    and from another process through the state file (`Lab.load()`).
    """

    def __init__(self, config: LabConfig | None = None) -> None:
        self.config = config or LabConfig()
        self.up_seconds: float | None = None
        self.engine_version = ""
        """What the nodes' dockerd says of itself, once `up()` checked it."""
        self.nodes: list[Node] = [self._make_node(name) for name in self.config.node_names()]
        self._last_leader: Node | None = None

    def _make_node(self, name: str) -> Node:
        c = self.config
        return Node(
            name=name,
            role=c.role(name),
            hostname=c.hostname(name),
            ip=c.ip(name),
            netns=c.netns(name),
            veth=c.veth(name),
            daemon=Daemon.for_node(c, name),
        )

    # ----------------------------------------------------------------- lookup

    @property
    def root(self) -> Path:
        return self.config.root

    @property
    def managers(self) -> list[Node]:
        return [n for n in self.nodes if n.is_manager]

    @property
    def workers(self) -> list[Node]:
        return [n for n in self.nodes if not n.is_manager]

    def node(self, ref: NodeRef) -> Node:
        if isinstance(ref, Node):
            return ref
        for node in self.nodes:
            if ref in (node.name, node.hostname, node.swarm_id):
                return node
        raise LabError(f"lab {self.config.name} has no node {ref!r}")

    def __getitem__(self, ref: str) -> Node:
        return self.node(ref)

    def _nodes(self, refs: Iterable[NodeRef] | None) -> list[Node]:
        return self.nodes if refs is None else [self.node(r) for r in refs]

    # -------------------------------------------------------------- lifecycle

    def up(self) -> float:
        """Build the lab; returns the seconds it took (not counting the removal of
        leftovers of a previous run with this config or its state file, done first)."""
        self.engine_version = preflight(self.config.engine)
        self._lock()
        self._clear_leftovers()
        started = time.monotonic()
        try:
            self.root.mkdir(parents=True)
            # Written before anything is created: an interrupted `up` can be undone
            # by `down` from another process.
            self._write_state("starting")
            self._build_network()
            tar = rootfs_tar(build_rootfs(self.root / "image" / "rootfs"))
            start_swarm(
                self.nodes,
                tar,
                start_timeout=self.config.start_timeout,
                heartbeat=self.config.heartbeat,
            )
            self.wait_ready(timeout=60)
            self.wait_leader(timeout=30)
        except LabError as err:
            kept = self._keep_logs()
            self._teardown_quietly()
            raise LabError(f"{err} [dockerd logs kept in {kept}]") from err
        except BaseException:
            # Also on KeyboardInterrupt: a half-built lab must not outlive us.
            self._teardown_quietly()
            raise
        self.up_seconds = time.monotonic() - started
        self._write_state("up")
        log.info("lab %s up in %.1fs", self.config.name, self.up_seconds)
        return self.up_seconds

    def down(self) -> None:
        """Remove everything: daemons, shims, containers, mounts, namespaces, links,
        the iptables rules, cgroups and the root dir. Raises LabError naming what stays,
        or that another process has the lab up (it is left alone)."""
        self._lock()
        try:
            for config in self._known_configs():
                teardown(config)
            self._last_leader = None
        finally:
            self._unlock()

    def _lock(self) -> None:
        """One process at a time builds and uses a lab of a name: a second one would
        take the first one's lab for leftovers and tear it down under it. (Within one
        process, any ``Lab`` of the name may: it can stand for an abandoned one.)"""
        path = self.config.root_base / f".{self.config.name}.lock"
        if path in _HELD:
            return
        self.config.root_base.mkdir(parents=True, exist_ok=True)
        handle = path.open("w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise LabError(
                f"lab {self.config.name} is in use by another process: give this one another "
                "name (for the tests: SSLAB_NAME, SSLAB_BRIDGE, SSLAB_SUBNET)"
            ) from None
        _HELD[path] = handle

    def _unlock(self) -> None:
        handle = _HELD.pop(self.config.root_base / f".{self.config.name}.lock", None)
        if handle is not None:
            handle.close()

    def _keep_logs(self) -> Path:
        """Copy the nodes' dockerd logs out of the root that teardown removes."""
        kept = Path(tempfile.gettempdir()) / f"swarm-sentinel-lab-{self.config.name}-logs"
        shutil.rmtree(kept, ignore_errors=True)
        kept.mkdir(parents=True)
        for node in self.nodes:
            if node.daemon.log_file.exists():
                shutil.copy(node.daemon.log_file, kept / f"{node.name}.log")
        return kept

    def _teardown_quietly(self) -> None:
        try:
            self.down()
        except LabError as err:
            log.error("teardown after a failed up: %s", err)

    def __enter__(self) -> Self:
        self.up()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.down()

    def _known_configs(self) -> list[LabConfig]:
        """Ours, preceded by the one in the state file when that differs (an earlier run
        under this name with another bridge or subnet: its leftovers are ours to remove)."""
        configs = [self.config]
        if self.config.state_file.exists():
            try:
                recorded = LabConfig.from_json(read_state(self.root)["config"])
            except (LabError, KeyError, TypeError) as err:
                log.warning("ignoring unreadable state file %s: %s", self.config.state_file, err)
            else:
                if recorded != self.config:
                    configs.insert(0, recorded)
        return configs

    def _clear_leftovers(self) -> None:
        for config in self._known_configs():
            found = leftovers(config)
            if found:
                log.warning("removing leftovers of lab %s: %s", config.name, found.describe())
                started = time.monotonic()
                teardown(config)
                log.info("leftovers removed in %.1fs", time.monotonic() - started)

    def _build_network(self) -> None:
        c = self.config
        netns.create_bridge(c.bridge, c.gateway)
        netns.allow_forward(c.bridge)
        for node in self.nodes:
            netns.create_node_net(
                netns=node.netns,
                veth=node.veth,
                bridge=c.bridge,
                cidr=f"{node.ip}/{c.network.prefixlen}",
                gateway=c.gateway.split("/")[0],
            )

    # ------------------------------------------------------------------ state

    def _write_state(self, status: str) -> None:
        write_state(self.config, self.nodes, status=status, up_seconds=self.up_seconds)

    @classmethod
    def load(cls, name: str = "default", root_base: Path = DEFAULT_ROOT_BASE) -> Lab:
        """The lab another process brought up, from its state file."""
        state = read_state(root_base / name)
        lab = cls(LabConfig.from_json(state["config"]))
        lab.up_seconds = state.get("up_seconds")
        ids = {n["name"]: n.get("swarm_id") for n in state.get("nodes", [])}
        for node in lab.nodes:
            node.swarm_id = ids.get(node.name)
        return lab

    def status(self) -> dict[str, Any]:
        """Machine-readable picture of the lab as it is now (cheap: short timeouts)."""
        leader = self.leader(timeout=2)
        nodes = []
        for node in self.nodes:
            entry = node.to_json()
            entry["pid"] = node.daemon.pid()
            entry["partitioned"] = self.is_partitioned(node)
            entry["leader"] = node is leader
            try:
                entry["swarm_state"] = node.info(timeout=2)["Swarm"].get("LocalNodeState")
            except CALL_ERRORS:
                entry["swarm_state"] = None
            nodes.append(entry)
        return {
            "name": self.config.name,
            "root": str(self.root),
            "state_file": str(self.config.state_file),
            "bridge": self.config.bridge,
            "subnet": self.config.subnet,
            "engine": self.config.engine,
            "up_seconds": self.up_seconds,
            "leader": leader.name if leader else None,
            "nodes": nodes,
        }

    # ----------------------------------------------------------------- faults

    def stop_engine(self, ref: NodeRef, grace: float = 30.0) -> None:
        """Clean stop: SIGTERM the node's dockerd and wait for it (SIGKILL after `grace`)."""
        self.node(ref).daemon.stop(grace=grace)

    def start_engine(self, ref: NodeRef, timeout: float | None = None) -> None:
        """Start the node's dockerd again with the same command and wait until its API
        answers. The node rejoins the swarm by itself; use wait_ready() for that."""
        node = self.node(ref)
        node.daemon.start()
        node.daemon.wait_up(timeout or self.config.start_timeout)

    def stop_engines(self, refs: Iterable[NodeRef], grace: float = 30.0) -> None:
        """stop_engine() for several nodes at once (their shutdowns overlap)."""
        self._each(lambda n: self.stop_engine(n, grace), refs)

    def start_engines(self, refs: Iterable[NodeRef], timeout: float | None = None) -> None:
        """start_engine() for several nodes at once."""
        self._each(lambda n: self.start_engine(n, timeout), refs)

    def _each(self, action: Callable[[Node], None], refs: Iterable[NodeRef]) -> None:
        nodes = self._nodes(refs)
        if not nodes:
            return
        with ThreadPoolExecutor(len(nodes), thread_name_prefix="lab") as pool:
            futures = [pool.submit(action, node) for node in nodes]
        for future in futures:
            future.result()

    def kill_engine(self, ref: NodeRef) -> None:
        """Crash: kill -9 dockerd, then its containerd, shims and containers."""
        self.node(ref).daemon.crash()

    def partition(self, ref: NodeRef) -> None:
        """Cut the node off the network (its host-side veth goes down)."""
        netns.set_link(self.node(ref).veth, up=False)

    def heal(self, ref: NodeRef) -> None:
        netns.set_link(self.node(ref).veth, up=True)

    def is_partitioned(self, ref: NodeRef) -> bool:
        return not netns.link_is_up(self.node(ref).veth)

    def drain(self, ref: NodeRef) -> None:
        self._update_node(ref, lambda spec: spec.update(Availability="drain"))

    def pause(self, ref: NodeRef) -> None:
        self._update_node(ref, lambda spec: spec.update(Availability="pause"))

    def activate(self, ref: NodeRef) -> None:
        self._update_node(ref, lambda spec: spec.update(Availability="active"))

    def add_node_label(self, ref: NodeRef, key: str, value: str = "true") -> None:
        self._update_node(ref, lambda spec: spec.setdefault("Labels", {}).update({key: value}))

    def remove_node_label(self, ref: NodeRef, key: str) -> None:
        self._update_node(ref, lambda spec: (spec.get("Labels") or {}).pop(key, None))

    def set_dispatcher_heartbeat(self, seconds: float) -> None:
        """How often workers report to the dispatcher; a node is declared down after a
        few missed periods, so shorter means faster failure detection in tests."""
        for _ in range(5):
            with closing(self.manager_client()) as client:
                swarm = client.inspect_swarm()
                spec = swarm["Spec"]
                spec.setdefault("Dispatcher", {})["HeartbeatPeriod"] = int(seconds * 1e9)
                try:
                    client.update_swarm(version=swarm["Version"]["Index"], swarm_spec=spec)
                    return
                except docker.errors.APIError as err:
                    if "out of sequence" not in str(err):
                        raise LabError(f"swarm update failed: {err.explanation}") from err
        raise LabError("swarm update kept racing other updates")

    def _update_node(self, ref: NodeRef, change: Callable[[dict[str, Any]], object]) -> None:
        """Read-modify-write of a node spec, retried when another update got in between."""
        node = self.node(ref)
        for _ in range(5):
            with closing(self.manager_client()) as client:
                current = client.inspect_node(self.swarm_id(node))
                spec = current["Spec"]
                change(spec)
                try:
                    client.update_node(self.swarm_id(node), current["Version"]["Index"], spec)
                    return
                except docker.errors.APIError as err:
                    if "out of sequence" not in str(err):
                        raise LabError(f"update of node {node.name} failed: {err}") from err
        raise LabError(f"update of node {node.name} kept racing other updates")

    # ------------------------------------------------------------- swarm view

    def swarm_id(self, ref: NodeRef) -> str:
        node = self.node(ref)
        if node.swarm_id is None:
            try:
                node.swarm_id = node.info()["Swarm"]["NodeID"] or None
            except CALL_ERRORS as err:
                raise LabError(f"cannot learn the swarm node ID of {node.name}: {err}") from err
        if node.swarm_id is None:
            raise LabError(f"{node.name} is not part of a swarm")
        return node.swarm_id

    def _by_swarm_id(self, swarm_id: str) -> Node | None:
        return next((n for n in self.nodes if n.swarm_id == swarm_id), None)

    def _candidate_managers(self) -> list[Node]:
        """Managers worth asking, the last known leader first."""
        managers = [m for m in self.managers if m.running() and not self.is_partitioned(m)]
        if self._last_leader in managers:
            managers.remove(self._last_leader)
            managers.insert(0, self._last_leader)
        return managers

    def swarm_nodes(self, timeout: float = 5.0) -> tuple[Node, list[dict[str, Any]]] | None:
        """GET /nodes from the first manager that answers it, with that manager."""
        for manager in self._candidate_managers():
            try:
                with closing(manager.client(timeout=timeout)) as client:
                    return manager, client.nodes()
            except CALL_ERRORS:
                continue
        return None

    def leader(self, timeout: float = 5.0) -> Node | None:
        """The current leader, confirmed by the leader itself, or None."""
        view = self.swarm_nodes(timeout)
        if view is None:
            return None
        leaders = [n["ID"] for n in view[1] if (n.get("ManagerStatus") or {}).get("Leader")]
        if len(leaders) != 1:
            return None
        leader = self._by_swarm_id(leaders[0])
        if leader is None or not leader.running() or self.is_partitioned(leader):
            return None
        # A cut-off manager can still name the leader it last heard of: ask the leader.
        try:
            with closing(leader.client(timeout=timeout)) as client:
                swarm = client.info()["Swarm"]
                if swarm.get("Error") or not swarm.get("ControlAvailable"):
                    return None
                own = next(n for n in client.nodes() if n["ID"] == leader.swarm_id)
        except (*CALL_ERRORS, StopIteration):
            return None
        if not (own.get("ManagerStatus") or {}).get("Leader"):
            return None
        self._last_leader = leader
        return leader

    def manager_client(self, timeout: float = 10.0, wait: float = 30.0) -> docker.APIClient:
        """Client of the leader, else of any manager answering /nodes (caller closes it).

        Waits up to `wait` seconds for one: right after the leader stops, the
        others answer only once they have elected a new one.
        """

        def probe() -> Node | None:
            leader = self.leader()
            if leader is not None:
                return leader
            view = self.swarm_nodes()
            return view[0] if view is not None else None

        try:
            manager = wait_until(probe, timeout=wait, what="a manager to answer", interval=0.2)
        except LabError as err:
            raise LabError(f"no manager of lab {self.config.name} answers: {err}") from err
        return manager.client(timeout=timeout)

    # ------------------------------------------------------------------ waits

    def wait_leader(self, timeout: float = 60.0) -> Node:
        return wait_until(self.leader, timeout=timeout, what="a swarm leader", interval=0.2)

    def wait_no_leader(self, ref: NodeRef, timeout: float = 60.0) -> dict[str, Any]:
        """Wait until the manager's GET /info reports that the swarm has no leader; returns
        that /info. (After quorum loss this takes 10-25 s: the leader steps down once
        it has not heard from a majority for an election timeout.)"""
        node = self.node(ref)
        last: list[str] = ["nothing"]

        def probe() -> dict[str, Any] | None:
            try:
                info = node.info(timeout=5)
            except CALL_ERRORS as err:
                last[0] = repr(err)
                return None
            last[0] = str(info["Swarm"].get("Error") or "no error")
            return info if NO_LEADER in str(info["Swarm"].get("Error")) else None

        return wait_until(
            probe,
            timeout=timeout,
            what=f"{node.name} to report no leader",
            interval=0.5,
            last_state=lambda: last[0],
        )

    def wait_ready(self, nodes: Iterable[NodeRef] | None = None, timeout: float = 60.0) -> None:
        """Wait until the nodes are Ready (managers also Reachable) in the leader's view
        AND each node itself says it is an active swarm member: the leader alone can
        still call a just-restarted node ready from before it went down."""
        targets = self._nodes(nodes)
        problems: list[str] = ["nothing asked yet"]

        def probe() -> bool:
            problems[:] = self._readiness_problems(targets)
            return not problems

        wait_until(
            probe,
            timeout=timeout,
            what=f"nodes {[t.name for t in targets]} ready",
            interval=0.2,
            last_state=lambda: "; ".join(problems),
        )

    def rejoin(self, nodes: Iterable[NodeRef] | None = None, timeout: float = 60.0) -> list[str]:
        """wait_ready(); the engines of nodes still not ready after ``timeout`` are
        restarted once, then waited for twice as long. Returns their names (none
        when every node came back by itself).

        The engine, not the lab, needs this. Seen with 20.10: a manager that stayed
        up through a quorum loss can go on reporting to the old dispatcher, and a
        worker restarted cleanly can, rarely, stay "down" in the leader's view,
        each for minutes while its engine runs. Restarting the engine makes it
        register afresh.
        """
        targets = self._nodes(nodes)
        try:
            self.wait_ready(targets, timeout=timeout)
            return []
        except LabError:
            stuck = [n for n in targets if self._readiness_problems([n])]
        log.warning("restarting engines of %s, still not ready", [n.name for n in stuck])
        for node in stuck:
            self.stop_engine(node, grace=10.0)
        self.start_engines(stuck)
        self.wait_leader(2 * timeout)
        self.wait_ready(targets, timeout=2 * timeout)
        return [n.name for n in stuck]

    def _readiness_problems(self, targets: Sequence[Node]) -> list[str]:
        view = self.swarm_nodes()
        if view is None:
            return ["no manager answers /nodes"]
        entries = {n["ID"]: n for n in view[1]}
        problems = []
        for node in targets:
            try:
                own = node.info(timeout=5)["Swarm"]
            except CALL_ERRORS:
                problems.append(f"{node.name}: engine not answering")
                continue
            node.swarm_id = own.get("NodeID") or node.swarm_id
            if own.get("LocalNodeState") != "active":
                problems.append(f"{node.name}: local state {own.get('LocalNodeState')}")
                continue
            if node.is_manager and (own.get("Error") or not own.get("ControlAvailable")):
                problems.append(f"{node.name}: {own.get('Error') or 'no control'}")
                continue
            entry = entries.get(node.swarm_id or "")
            if entry is None:
                problems.append(f"{node.name}: not listed by {view[0].name}")
                continue
            state = entry["Status"]["State"]
            reach = (entry.get("ManagerStatus") or {}).get("Reachability")
            if state != "ready" or (node.is_manager and reach != "reachable"):
                problems.append(f"{node.name}: {state}/{reach}")
        return problems

    # ---------------------------------------------------------------- restore

    def restore(self, timeout: float = 120.0) -> None:
        """Bring the lab back to how `up()` left it: links up, every engine running,
        a leader, all nodes ready, every node active and without labels."""
        for node in self.nodes:
            if self.is_partitioned(node):
                self.heal(node)
        self.start_engines([n for n in self.nodes if not n.running()])
        self.wait_leader(timeout)
        self.rejoin(timeout=timeout / 2)
        view = self.swarm_nodes()
        if view is None:
            raise LabError("no manager answers after restore")
        for entry in view[1]:
            member = self._by_swarm_id(entry["ID"])
            spec = entry["Spec"]
            if member is not None and (spec.get("Availability") != "active" or spec.get("Labels")):
                self._update_node(member, lambda s: s.update(Availability="active", Labels={}))
