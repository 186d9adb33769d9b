"""Checks made before a lab touches the host, each failing with a one-line cause."""

from __future__ import annotations

import os
import shutil

from lab.engines import check_engine
from lab.errors import LabError
from lab.image import find_static_busybox
from lab.proc import HOST_PATH

TOOLS = {
    "dockerd": "docker.io",
    "containerd": "docker.io",
    "runc": "docker.io",
    "nsenter": "util-linux",
    "unshare": "util-linux",
    "hostname": "hostname",
    "ip": "iproute2",
    "iptables": "iptables",
    "umount": "mount",
}


def preflight(engine: str = "debian") -> str:
    """Checks the host, readies ``engine``; returns the engine's version."""
    if os.geteuid() != 0:
        raise LabError(
            f"the swarm lab needs root (running as uid {os.geteuid()}): it creates network "
            "namespaces, a bridge, an iptables rule and dockerds"
        )
    missing = [tool for tool in TOOLS if shutil.which(tool, path=HOST_PATH) is None]
    if missing:
        packages = sorted({TOOLS[tool] for tool in missing})
        raise LabError(
            f"missing {', '.join(missing)} on this host: apt-get install {' '.join(packages)}"
        )
    find_static_busybox()
    return check_engine(engine)
