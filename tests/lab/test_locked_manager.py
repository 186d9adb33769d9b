"""A manager of a swarm with autolock, restarted, stays locked until `docker swarm unlock`:
only its own engine can say so, so only the instance on it does. It reads locked, the
alert fires against a real Prometheus evaluating the real rules, its status page says
what to run, and after the unlock it is active again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import closing, suppress

import docker
import pytest

from lab import Lab
from lab.engines import ENGINES
from tests.lab.test_prometheus import matching, target, wait_alerts, wait_firing
from tests.support.prometheus_proc import running_prometheus
from tests.support.sentinel import Sentinel, wait_for

pytestmark = pytest.mark.lab
LAB_ENGINES = ENGINES


def set_autolock(lab: Lab, on: bool) -> None:
    for _ in range(5):
        with closing(lab.manager_client()) as client:
            swarm = client.inspect_swarm()
            spec = swarm["Spec"]
            spec.setdefault("EncryptionConfig", {})["AutoLockManagers"] = on
            try:
                client.update_swarm(version=swarm["Version"]["Index"], swarm_spec=spec)
                return
            except docker.errors.APIError as err:
                if "out of sequence" not in str(err):
                    raise
    raise AssertionError("the swarm update kept racing others")


@pytest.fixture
def autolocked(restored_lab: Lab) -> Iterator[tuple[Lab, str]]:
    """The lab with autolock on, and its unlock key; afterwards every locked manager is
    unlocked and autolock is off again (before the lab is restored)."""
    lab = restored_lab
    set_autolock(lab, True)
    with closing(lab.manager_client()) as client:
        key: str = client.get_unlock_key()["UnlockKey"]
    try:
        yield lab, key
    finally:
        for node in lab.managers:
            with suppress(Exception), closing(node.client()) as client:
                if client.info()["Swarm"]["LocalNodeState"] == "locked":
                    client.unlock_swarm(key)
        lab.wait_leader()
        set_autolock(lab, False)


def test_a_locked_manager_reads_locked_fires_and_unlocks(
    autolocked: tuple[Lab, str], sentinels: list[Sentinel]
) -> None:
    lab, key = autolocked
    leader = lab.wait_leader()
    locked = next(m for m in lab.managers if m is not leader)
    procs = [Sentinel(n.url, ["--healer.dry-run"]) for n in (leader, locked)]
    sentinels.extend(procs)
    for p in procs:
        p.start()
    on_locked = procs[1]
    state = "dockerswarm_node_local_state"
    node = {"node_id": lab.swarm_id(locked), "hostname": locked.hostname}
    on_locked.wait_value(state, 1, {**node, "state": "active"})

    with running_prometheus([target(p) for p in procs], for_override="1s") as prom:
        lab.stop_engine(locked, grace=10)
        lab.start_engine(locked)
        # The engine answers again, locked: its /info has no node ID, the one seen is kept.
        on_locked.wait_value(state, 1, {**node, "state": "locked"})
        wait_firing(prom, "SwarmManagerLocked", 60, hostname=locked.hostname)
        fired = [
            a for a in prom.api_get("alerts")["alerts"]
            if a["labels"]["alertname"] == "SwarmManagerLocked"
        ]  # fmt: skip
        assert "docker swarm unlock" in fired[0]["annotations"]["description"], fired
        page = json.loads(on_locked.get("/status.json")[1])
        assert any("locked" in p and "docker swarm unlock" in p for p in page["problems"]), page

        with closing(locked.client()) as client:
            client.unlock_swarm(key)
        on_locked.wait_value(state, 1, {**node, "state": "active"}, timeout=60)
        wait_alerts(
            prom,
            lambda a: not matching(a, "SwarmManagerLocked"),
            60,
            "SwarmManagerLocked resolved",
        )
        wait_for(
            lambda: not json.loads(on_locked.get("/status.json")[1])["problems"],
            60,
            "the unlocked manager's page without problems",
        )
