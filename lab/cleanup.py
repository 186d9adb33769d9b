"""Complete removal of a lab, from what its config names and what its root dir holds.

Used by `Lab.down()` and, before anything is created, by `Lab.up()` to clear
what a crashed or interrupted earlier run left. It relies on nothing held in
memory, so another process (the CLI) can do it too.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from lab.config import LabConfig
from lab.daemon import Daemon, end_processes, stop_all
from lab.errors import LabError
from lab.netns import (
    bridge_ports,
    delete_link,
    delete_netns,
    forward_rule_present,
    link_exists,
    list_netns,
    remove_forward,
)
from lab.proc import find_pids, mounts_under, unmount_all_under, wait_gone

_CGROUP_ROOT = Path("/sys/fs/cgroup")
_SYS_NET = Path("/sys/class/net")


def node_names_on_disk(config: LabConfig) -> list[str]:
    """Nodes a previous run created under the root, even if the config now has fewer."""
    if not config.root.is_dir():
        return []
    return sorted(
        p.name for p in config.root.iterdir() if p.is_dir() and re.fullmatch(r"[mw]\d+", p.name)
    )


def _ours(name: str, prefix: str) -> bool:
    """`name` is <prefix><node>: lab "a" must not claim "sslab-a-b-m1" of lab "a-b"."""
    return re.fullmatch(re.escape(prefix) + r"[mw]\d+", name) is not None


def lab_netns(config: LabConfig) -> list[str]:
    return [ns for ns in list_netns(config.prefix) if _ours(ns, config.prefix)]


def all_node_names(config: LabConfig) -> list[str]:
    found = set(config.node_names()) | set(node_names_on_disk(config))
    found |= {ns.removeprefix(config.prefix) for ns in lab_netns(config)}
    return sorted(found)


def _cgroup_dirs(prefix: str) -> list[Path]:
    """Container cgroup parents of the lab in every hierarchy (v1 has one per controller)."""
    hierarchies = [_CGROUP_ROOT, *(p for p in _CGROUP_ROOT.iterdir() if p.is_dir())]
    return [
        parent
        for hierarchy in hierarchies
        for parent in hierarchy.glob(prefix + "*")
        if _ours(parent.name, prefix) and (parent / "cgroup.procs").is_file()
    ]


def _remove_cgroups(prefix: str) -> None:
    # A cgroup dir is removed with rmdir (its control files go with it), children first.
    for parent in _cgroup_dirs(prefix):
        for sub in sorted(parent.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if sub.is_dir():
                sub.rmdir()
        parent.rmdir()


def _lab_links(config: LabConfig, nodes: list[str]) -> list[str]:
    """Host-side veths of the lab: ports of its bridge and anything named like one."""
    names = set(bridge_ports(config.bridge)) | {config.veth(n) for n in nodes}
    pattern = re.compile(re.escape(config.bridge) + r"[mw]\d+")
    if _SYS_NET.is_dir():
        names |= {p.name for p in _SYS_NET.iterdir() if pattern.fullmatch(p.name)}
    return sorted(n for n in names if link_exists(n))


@dataclass
class Leftovers:
    """What of a lab still exists on the host; empty after a complete teardown."""

    pids: list[int] = field(default_factory=list)
    netns: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    forward_rules: bool = False
    mounts: list[str] = field(default_factory=list)
    cgroups: list[str] = field(default_factory=list)
    root_exists: bool = False

    def __bool__(self) -> bool:
        return bool(
            self.pids or self.netns or self.links or self.forward_rules or self.mounts
            or self.cgroups or self.root_exists
        )  # fmt: skip

    def describe(self) -> str:
        """One short line: counts, with the first item of each kind as an example."""
        parts = []
        for key, value in vars(self).items():
            if isinstance(value, list) and value:
                parts.append(f"{len(value)} {key} (e.g. {value[0]})")
            elif value is True:
                parts.append(key)
        return ", ".join(parts) or "nothing"


def leftovers(config: LabConfig) -> Leftovers:
    nodes = all_node_names(config)
    daemons = [Daemon.for_node(config, n) for n in nodes]
    pids = sorted({pid for d in daemons for pid in d.leftover_pids()})
    links = _lab_links(config, nodes)
    if link_exists(config.bridge):
        links.append(config.bridge)
    return Leftovers(
        pids=pids,
        netns=lab_netns(config),
        links=links,
        forward_rules=forward_rule_present(config.bridge),
        mounts=mounts_under(config.root),
        cgroups=[str(p) for p in _cgroup_dirs(config.prefix)],
        root_exists=config.root.exists(),
    )


def teardown(config: LabConfig, *, grace: float = 5.0) -> None:
    """Remove every trace of the lab; a LabError lists what could not be removed.

    Daemons get `grace` seconds after SIGTERM: a swarm dockerd usually stops in
    1-3 s, but can spend 5 s and more waiting for peers that are stopping too
    ("timeout while waiting for ingress network removal"), and nothing it would
    save is kept, so it is SIGKILLed then and its leftovers are removed below.

    Order matters: processes first (they hold mounts and namespaces), then
    mounts, namespaces, links, the firewall rule, cgroups, and the files last.
    """
    nodes = all_node_names(config)
    daemons = [Daemon.for_node(config, n) for n in nodes]
    # Containers first: a dockerd stopping gives each container its stop grace
    # period (10 s for a `sleep` that ignores SIGTERM as pid 1); nothing of theirs
    # is worth keeping, so they are killed and the daemons then stop in ~1 s.
    containers = find_pids(cgroup_parents=[d.cgroup_parent for d in daemons])
    if containers:
        end_processes(containers, grace=0)
    ended = containers + stop_all(daemons, grace=grace)
    # Anything still carrying a node path or in a node cgroup (e.g. a container
    # whose shim was killed) has nothing left worth a grace period.
    stray = find_pids(
        paths=[str(p) for d in daemons for p in (d.exec_root, d.data_root)],
        cgroup_parents=[d.cgroup_parent for d in daemons],
    )
    if stray:
        end_processes(stray, grace=0)
        ended += stray
    unmount_all_under(config.root)
    for ns in lab_netns(config):
        delete_netns(ns)
    for link in _lab_links(config, nodes):
        delete_link(link)
    remove_forward(config.bridge)
    delete_link(config.bridge)
    _remove_cgroups(config.prefix)
    if config.root.exists():
        shutil.rmtree(config.root)
    # Daemons of an earlier process were adopted by init, which reaps them a
    # moment later; wait so that `pgrep dockerd` right after `down` is empty.
    wait_gone(ended, timeout=5.0)
    left = leftovers(config)
    if left:
        raise LabError(f"teardown of lab {config.name} left: {left.describe()}")
