"""One node of a lab: a dockerd with its own namespace, hostname, IP and socket."""

from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker

from lab.config import Role
from lab.daemon import Daemon


@dataclass(eq=False)
class Node:
    """One swarm node: a dockerd with its own namespace, hostname, IP and socket."""

    name: str
    """m1, m2, ... for managers, w1, ... for workers."""
    role: Role
    hostname: str
    ip: str
    netns: str
    veth: str
    """Host side of the node's cable: down = partitioned."""
    daemon: Daemon
    swarm_id: str | None = None

    @property
    def url(self) -> str:
        """Docker API URL of this node, e.g. unix:///var/lib/swarm-sentinel-lab/default/m1/docker.sock."""
        return self.daemon.url

    @property
    def socket(self) -> Path:
        return self.daemon.socket

    @property
    def is_manager(self) -> bool:
        return self.role == "manager"

    def client(self, timeout: float = 10.0) -> docker.APIClient:
        """A new docker-py low-level client for this node; close it when done."""
        return self.daemon.client(timeout=timeout)

    def info(self, timeout: float = 5.0) -> dict[str, Any]:
        """GET /info of this node (raises docker/requests errors when it does not answer)."""
        with closing(self.client(timeout=timeout)) as client:
            answer: dict[str, Any] = client.info()
            return answer

    def running(self) -> bool:
        return self.daemon.running()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "hostname": self.hostname,
            "ip": self.ip,
            "socket": str(self.socket),
            "url": self.url,
            "netns": self.netns,
            "veth": self.veth,
            "dir": str(self.daemon.dir),
            "log": str(self.daemon.log_file),
            "pidfile": str(self.daemon.pidfile),
            "prefer_offline_image": self.daemon.prefer_offline_image,
            "swarm_id": self.swarm_id,
        }


NodeRef = Node | str
"""A node, or its name (m1), hostname (lab-m1) or swarm node ID."""
