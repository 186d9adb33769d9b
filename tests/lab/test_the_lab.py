"""The lab itself: a real swarm that behaves like one, and a teardown that leaves nothing."""

from __future__ import annotations

import re
import subprocess
from contextlib import closing
from pathlib import Path
from typing import Any

import docker
import docker.types
import pytest

from lab import IMAGE, NO_LEADER, Lab, LabConfig, LabError
from lab.cleanup import leftovers
from lab.daemon import Daemon
from lab.preflight import preflight
from lab.proc import mounts_under, pid_alive, wait_until
from tests.support.labs import lab_config

pytestmark = pytest.mark.lab


def nodes_of(lab: Lab) -> list[dict[str, Any]]:
    with closing(lab.manager_client()) as api:
        found: list[dict[str, Any]] = api.nodes()
        return found


def swarm_view(lab: Lab, name: str) -> dict[str, Any]:
    """The leader's entry for node `name`."""
    node_id = lab.swarm_id(name)
    return next(n for n in nodes_of(lab) if n["ID"] == node_id)


def test_three_managers_exactly_one_leader(lab: Lab) -> None:
    nodes = nodes_of(lab)
    assert sorted(n["Description"]["Hostname"] for n in nodes) == [
        "lab-m1", "lab-m2", "lab-m3", "lab-w1",
    ]  # fmt: skip
    assert all(n["Status"]["State"] == "ready" for n in nodes)
    managers = [n for n in nodes if n["Spec"]["Role"] == "manager"]
    assert len(managers) == 3
    assert all(m["ManagerStatus"]["Reachability"] == "reachable" for m in managers)
    assert sum(bool(m["ManagerStatus"].get("Leader")) for m in managers) == 1
    leader = lab.leader()
    assert leader is not None and leader.is_manager
    # Every node answers on its own socket, has the image and its own address.
    for node in lab.nodes:
        assert node.url == f"unix://{node.socket}"
        with closing(node.client()) as api:
            assert api.inspect_image(IMAGE)["RepoTags"] == [IMAGE]
            assert api.info()["Swarm"]["NodeAddr"] == node.ip


def test_one_manager_down_keeps_a_leader(restored_lab: Lab) -> None:
    lab = restored_lab
    lab.stop_engine("m3")
    wait_until(
        lambda: swarm_view(lab, "m3")["ManagerStatus"]["Reachability"] == "unreachable",
        timeout=30,
        what="m3 unreachable",
    )
    leader = lab.wait_leader(timeout=30)
    assert leader.name != "m3"
    assert sum(bool((n.get("ManagerStatus") or {}).get("Leader")) for n in nodes_of(lab)) == 1


def test_two_managers_down_lose_the_leader_and_restart_restores_it(restored_lab: Lab) -> None:
    lab = restored_lab
    lab.stop_engines(["m2", "m3"])
    # The survivor's leader steps down once it has missed a majority for an
    # election timeout: 10-25 s.
    info = lab.wait_no_leader("m1", timeout=60)
    assert NO_LEADER in info["Swarm"]["Error"]
    with closing(lab["m1"].client()) as api, pytest.raises(docker.errors.APIError) as err:
        api.nodes()
    assert err.value.status_code == 500 and NO_LEADER in str(err.value)
    assert lab.leader() is None

    lab.start_engines(["m2", "m3"])
    lab.wait_leader(timeout=60)
    lab.wait_ready(timeout=60)
    assert all(n["Status"]["State"] == "ready" for n in nodes_of(lab))


def test_crashed_worker_is_seen_down_and_rejoins(restored_lab: Lab) -> None:
    lab = restored_lab
    w1 = lab["w1"]
    lab.kill_engine("w1")
    assert not w1.running()
    assert w1.daemon.leftover_pids() == []  # no containerd/shim of w1 survives
    wait_until(
        lambda: swarm_view(lab, "w1")["Status"]["State"] == "down",
        timeout=30,
        what="w1 down",
    )
    lab.start_engine("w1")
    lab.wait_ready(["w1"], timeout=60)


def test_partitioned_worker_is_seen_down_and_heals(restored_lab: Lab) -> None:
    lab = restored_lab
    lab.partition("w1")
    assert lab.is_partitioned("w1")
    wait_until(
        lambda: swarm_view(lab, "w1")["Status"]["State"] == "down",
        timeout=30,
        what="w1 down",
    )
    lab.heal("w1")
    lab.wait_ready(["w1"], timeout=60)


def test_drain_and_labels(restored_lab: Lab) -> None:
    lab = restored_lab
    lab.drain("w1")
    lab.add_node_label("w1", "zone", "blue")
    spec = swarm_view(lab, "w1")["Spec"]
    assert spec["Availability"] == "drain" and spec["Labels"] == {"zone": "blue"}
    lab.remove_node_label("w1", "zone")
    lab.activate("w1")
    spec = swarm_view(lab, "w1")["Spec"]
    assert spec["Availability"] == "active" and not spec.get("Labels")


def test_replicated_service_converges(lab: Lab) -> None:
    template = docker.types.TaskTemplate(
        # `sleep` as pid 1 ignores SIGTERM: 1 s grace instead of 10 s at removal.
        container_spec=docker.types.ContainerSpec(
            IMAGE, command=["sleep", "3600"], stop_grace_period=1_000_000_000
        )
    )
    with closing(lab.manager_client()) as api:
        service = api.create_service(
            template, name="lab-selftest", mode=docker.types.ServiceMode("replicated", 2)
        )["ID"]
        try:

            def running() -> bool:
                tasks = api.tasks(filters={"service": service, "desired-state": "running"})
                return [t["Status"]["State"] for t in tasks] == ["running"] * 2

            wait_until(running, timeout=60, what="2 running tasks", interval=0.5)
            status = next(
                s["ServiceStatus"] for s in api.services(status=True) if s["ID"] == service
            )
            assert status["RunningTasks"] == status["DesiredTasks"] == 2
        finally:
            api.remove_service(service)
        # (Filtering /tasks by a removed service is a 404: filter here instead.)
        wait_until(
            lambda: not [t for t in api.tasks() if t["ServiceID"] == service],
            timeout=60,
            what="the service's tasks to go",
        )


def test_preflight_names_missing_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    with pytest.raises(LabError, match=r"needs root \(running as uid 1000\)"):
        preflight()


def test_daemon_failing_to_start_is_one_line_with_its_log(tmp_path: Path) -> None:
    # nsenter into a namespace that does not exist: the process dies at once.
    daemon = Daemon(
        node="x1",
        dir=tmp_path / "x1",
        netns="sslab-no-such-ns",
        hostname="lab-x1",
        bip="172.31.99.1/24",
        cgroup_parent="sslab-test-x1",
    )
    daemon.start()
    with pytest.raises(LabError) as err:
        daemon.wait_up(10)
    message = str(err.value)
    assert "\n" not in message
    assert "dockerd of x1 exited" in message and "sslab-no-such-ns" in message


def _host_view(config: LabConfig) -> dict[str, object]:
    """What the host shows of a lab, asked with the usual tools rather than the lab code."""
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True)
    rules = subprocess.run(
        ["iptables", "-S", "FORWARD"], capture_output=True, text=True, check=True
    )
    return {
        "netns": re.findall(rf"^({re.escape(config.prefix)}\S+)", netns.stdout, re.M),
        "links": re.findall(rf"^\d+: ({re.escape(config.bridge)}\S*?)[@:]", links.stdout, re.M),
        "rules": [r for r in rules.stdout.splitlines() if f"-i {config.bridge} " in r],
        "mounts": mounts_under(config.root),
        "root": config.root.exists(),
    }


def test_teardown_leaves_nothing() -> None:
    """A second, small lab beside the session's: up with a running task, up again over
    those leftovers (as after a crashed run), then down; nothing of it may remain."""
    # A scratch lab's own name, bridge and subnet: the engines' labs may be up beside it.
    config = lab_config("debian", scratch="leakcheck", managers=1, workers=0)
    first = Lab(config)
    try:
        first.up()
        with closing(first.manager_client()) as api:
            api.create_service(
                docker.types.TaskTemplate(
                    container_spec=docker.types.ContainerSpec(IMAGE, command=["sleep", "3600"])
                ),
                name="leak",
            )
        m1 = first["m1"]
        # A running task: a shim, a container process, overlay and netns mounts.
        pids = wait_until(
            lambda: p if len(p := m1.daemon.leftover_pids()) >= 4 else None,
            timeout=60,
            what="dockerd, containerd, a shim and a container on m1",
        )
        assert _host_view(config)["mounts"]

        # Up over a lab that is still there: it is removed first, then rebuilt.
        second = Lab(config)
        second.up()
        assert not any(pid_alive(pid) for pid in pids)
        assert second["m1"].running()
        pids = second["m1"].daemon.leftover_pids()
        with closing(second.manager_client()) as api:
            assert api.services() == []  # a new swarm, not the old one
    finally:
        Lab(config).down()

    assert not any(pid_alive(pid) for pid in pids)
    assert not leftovers(config)
    assert _host_view(config) == {
        "netns": [], "links": [], "rules": [], "mounts": [], "root": False,
    }  # fmt: skip
    cgroups = list(Path("/sys/fs/cgroup").glob(f"*/{config.prefix}*"))
    assert cgroups == []
