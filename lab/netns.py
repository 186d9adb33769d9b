"""Host networking of a lab: one bridge, and per node a network namespace and a veth pair.

Everything goes through `ip`/`iptables` on the host. The node side of each veth
is renamed eth0 inside the namespace; the host side ("<bridge><node>") is the
lever for partitions: taking it down cuts the node off like a pulled cable.
"""

from __future__ import annotations

from pathlib import Path

from lab.errors import LabError
from lab.proc import run

NETNS_DIR = Path("/var/run/netns")
_SYS_NET = Path("/sys/class/net")
_IFF_UP = 0x1


def netns_path(name: str) -> Path:
    return NETNS_DIR / name


def list_netns(prefix: str) -> list[str]:
    if not NETNS_DIR.is_dir():
        return []
    return sorted(p.name for p in NETNS_DIR.iterdir() if p.name.startswith(prefix))


def link_exists(name: str) -> bool:
    return (_SYS_NET / name).exists()


def bridge_ports(bridge: str) -> list[str]:
    brif = _SYS_NET / bridge / "brif"
    return sorted(p.name for p in brif.iterdir()) if brif.is_dir() else []


def create_bridge(bridge: str, gateway_cidr: str) -> None:
    run(["ip", "link", "add", bridge, "type", "bridge"])
    run(["ip", "addr", "add", gateway_cidr, "dev", bridge])
    run(["ip", "link", "set", bridge, "up"])


def _forward_rules(bridge: str) -> list[list[str]]:
    return [
        # With br_netfilter loaded, frames crossing the bridge go through the host's
        # FORWARD chain, and a dockerd on the host sets its policy to DROP: swarm
        # joins then time out ("Timeout was reached before node joined").
        ["FORWARD", "-i", bridge, "-o", bridge, "-j", "ACCEPT"],
        # Nothing from the lab is routed off this host, even if the host forwards:
        # the nodes' default route (to 10.x.y.1) exists only so that a registry
        # lookup hangs, as it would on an offline machine, instead of failing at once.
        ["FORWARD", "-i", bridge, "!", "-o", bridge, "-j", "DROP"],
    ]


def forward_rule_present(bridge: str) -> bool:
    """True while any of the lab's FORWARD rules is in place."""
    return any(
        run(["iptables", "-C", *rule], check=False).returncode == 0
        for rule in _forward_rules(bridge)
    )


def allow_forward(bridge: str) -> None:
    for rule in _forward_rules(bridge):
        if run(["iptables", "-C", *rule], check=False).returncode != 0:
            run(["iptables", "-I", *rule])


def remove_forward(bridge: str) -> None:
    # A rule may have been inserted more than once by crashed runs: remove all copies.
    for rule in _forward_rules(bridge):
        for _ in range(20):
            if run(["iptables", "-C", *rule], check=False).returncode != 0:
                break
            run(["iptables", "-D", *rule])
        else:
            raise LabError(f"iptables rule {' '.join(rule)} keeps coming back")


def create_node_net(*, netns: str, veth: str, bridge: str, cidr: str, gateway: str) -> None:
    """A namespace with lo up and eth0 at `cidr`, cabled to `bridge` through `veth`,
    default route via the bridge's `gateway` address (where the host drops it)."""
    run(["ip", "netns", "add", netns])
    run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns])
    run(["ip", "link", "set", veth, "master", bridge, "up"])
    run(["ip", "-n", netns, "addr", "add", cidr, "dev", "eth0"])
    run(["ip", "-n", netns, "link", "set", "eth0", "up"])
    run(["ip", "-n", netns, "link", "set", "lo", "up"])
    run(["ip", "-n", netns, "route", "add", "default", "via", gateway])


def set_link(name: str, *, up: bool) -> None:
    run(["ip", "link", "set", name, "up" if up else "down"])


def link_is_up(name: str) -> bool:
    try:
        return bool(int((_SYS_NET / name / "flags").read_text(), 16) & _IFF_UP)
    except FileNotFoundError:
        return False


def delete_link(name: str) -> None:
    if link_exists(name):
        run(["ip", "link", "delete", name], check=False)


def delete_netns(name: str) -> None:
    run(["ip", "netns", "delete", name], check=False)
    # `ip netns delete` leaves the file if the bind mount was already gone.
    path = netns_path(name)
    if path.exists():
        run(["umount", "-l", str(path)], check=False)
        path.unlink(missing_ok=True)
