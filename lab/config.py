"""What a lab is made of: its names, addresses and paths, derived from a few settings.

Everything a lab creates on the host is named from `LabConfig`, so a second
lab with another name, bridge and subnet can run beside the first, and a later
process can find (and remove) everything a lab left behind from the config alone.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from lab.engines import ENGINES
from lab.errors import LabError

Role = Literal["manager", "worker"]

DEFAULT_ROOT_BASE = Path("/var/lib/swarm-sentinel-lab")
IMAGE = "lab/busybox:1"

# Linux interface names hold at most 15 characters; the host-side veth is
# "<bridge><node>", e.g. "sslab0m1", so the bridge name must leave room.
_IFNAME_MAX = 15
# sun_path of a unix socket holds 108 bytes including the final NUL.
_SOCKET_PATH_MAX = 107


@dataclass(frozen=True)
class LabConfig:
    """Settings of one lab. Only `name`, `bridge` and `subnet` must differ between two labs."""

    name: str = "default"
    """Names the root dir, the network namespaces and the cgroups: sslab-<name>-m1."""
    managers: int = 3
    workers: int = 1
    bridge: str = "sslab0"
    """Host bridge all nodes are plugged into."""
    subnet: str = "10.123.0.0/24"
    """Private network of the nodes: the bridge is .1, node i (m1 first, then w1...) is .10+i.
    Keep it out of 10.0.0.0/16: swarm hands out overlay subnets (ingress 10.0.0.0/24) there."""
    root_base: Path = DEFAULT_ROOT_BASE
    heartbeat: float | None = 1.0
    """Dispatcher heartbeat in seconds set at `swarm init` (engine default 5 s): a dead
    node is then noticed in a few seconds instead of ~15. None keeps the default."""
    online_nodes: frozenset[str] = field(default_factory=frozenset)
    """Nodes started WITHOUT DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1, which try a registry
    for every task. Measured here: a task whose image is on the node still starts at
    once (the pull runs beside it), but one whose image is missing sits in `preparing`
    ~20 s (the registry lookup times out: the host drops the node's off-lab traffic)
    before it is rejected; on the other nodes it is rejected at once."""
    hostname_prefix: str = "lab-"
    start_timeout: float = 30.0
    """Seconds a dockerd may take to answer on its socket."""
    engine: str = "debian"
    """Which dockerd the nodes run (lab/engines.py): ``debian`` (20.10, API 1.41)
    or ``modern`` (Engine 28.5 from Debian unstable, refusing API < 1.44 as Engine 29)."""
    metrics_addr: str = ""
    """Each dockerd's daemon.json ``metrics-addr`` (e.g. ``0.0.0.0:9323``: the engine's
    Prometheus metrics on the node's address, in its own network namespace); empty: none."""

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,19}", self.name):
            raise LabError(f"lab name {self.name!r} must be 1-20 of [a-z0-9-]")
        if self.managers < 1 or self.workers < 0 or self.managers + self.workers > 99:
            raise LabError(f"need 1+ managers and 0+ workers, got {self.managers}+{self.workers}")
        longest_node = max(len(n) for n in self.node_names())
        if not re.fullmatch(r"[a-zA-Z0-9_-]+", self.bridge) or (
            len(self.bridge) + longest_node > _IFNAME_MAX
        ):
            raise LabError(f"bridge name {self.bridge!r} too long or odd for veth names")
        network = self.network
        if network.num_addresses < 16 + self.managers + self.workers:
            raise LabError(f"subnet {self.subnet} too small for {self.node_names()}")
        if self.engine not in ENGINES:
            raise LabError(f"unknown engine {self.engine!r}: choose one of {', '.join(ENGINES)}")
        unknown = set(self.online_nodes) - set(self.node_names())
        if unknown:
            raise LabError(f"online_nodes names unknown nodes {sorted(unknown)}")
        probe = self.node_dir(self.node_names()[-1]) / "exec/containerd/containerd.sock.ttrpc"
        if len(str(probe)) > _SOCKET_PATH_MAX:
            raise LabError(f"root {self.root} too long for unix socket paths")

    @property
    def network(self) -> ipaddress.IPv4Network:
        try:
            return ipaddress.IPv4Network(self.subnet)
        except ValueError as err:
            raise LabError(f"bad subnet {self.subnet!r}: {err}") from err

    @property
    def root(self) -> Path:
        return self.root_base / self.name

    @property
    def state_file(self) -> Path:
        return self.root / "lab.json"

    @property
    def prefix(self) -> str:
        """Prefix of the network namespaces and cgroup parents of this lab's nodes."""
        return f"sslab-{self.name}-"

    @property
    def gateway(self) -> str:
        """The bridge's own address (lets the host reach the nodes, e.g. published ports)."""
        return f"{self.network.network_address + 1}/{self.network.prefixlen}"

    def node_names(self) -> list[str]:
        return [f"m{i}" for i in range(1, self.managers + 1)] + [
            f"w{i}" for i in range(1, self.workers + 1)
        ]

    def role(self, node: str) -> Role:
        return "manager" if node.startswith("m") else "worker"

    def index(self, node: str) -> int:
        """1-based position of `node` in node_names(): m1 is 1, the first worker follows m<N>."""
        return self.node_names().index(node) + 1

    def ip(self, node: str) -> str:
        return str(self.network.network_address + 10 + self.index(node))

    def node_dir(self, node: str) -> Path:
        return self.root / node

    def netns(self, node: str) -> str:
        return self.prefix + node

    def veth(self, node: str) -> str:
        return self.bridge + node

    def cgroup_parent(self, node: str) -> str:
        return self.prefix + node

    def hostname(self, node: str) -> str:
        return self.hostname_prefix + node

    def bip(self, node: str) -> str:
        # Each daemon gets its own docker0 subnet so no two bridges look alike.
        return f"172.31.{self.index(node)}.1/24"

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["root_base"] = str(self.root_base)
        data["online_nodes"] = sorted(self.online_nodes)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LabConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        kwargs["root_base"] = Path(kwargs.get("root_base", DEFAULT_ROOT_BASE))
        kwargs["online_nodes"] = frozenset(kwargs.get("online_nodes", ()))
        return cls(**kwargs)
