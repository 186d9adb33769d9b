"""Jobs, one-shots, secrets and configs on a real swarm: a job made to fail reads as
failed (and wants nothing more); a job that completes, and a one-shot, set their last
success; a secret and a config that no service uses are counted as unused, and those a
service mounts are not."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import closing

import docker
import pytest

from lab import Lab
from lab.engines import ENGINES
from tests.support.sentinel import Sentinel
from tests.support.swarm_services import Services

pytestmark = pytest.mark.lab
LAB_ENGINES = ENGINES

S = {"stack": ""}


def test_a_failed_job_and_last_successes(
    lab: Lab, made: Services, sentinels: list[Sentinel]
) -> None:
    proc = Sentinel(lab.wait_leader().url, ["--healer.dry-run"])
    sentinels.append(proc)
    proc.start()
    before = time.time()
    made.create("j-fail", ["false"], mode="replicated-job", replicas=1, restart_condition="none")
    made.create("j-ok", ["true"], mode="replicated-job", replicas=2)
    made.create("once", ["true"], replicas=1, restart_condition="none")
    state = "dockerswarm_service_job_state"
    proc.wait_value(state, 1, {"service_name": "j-fail", **S, "state": "failed"}, timeout=60)
    proc.wait_value("dockerswarm_service_replicas_desired", 0, {"service_name": "j-fail", **S})
    assert proc.value("dockerswarm_service_last_success_timestamp_seconds",
                      service_name="j-fail", **S) is None  # fmt: skip
    for name in ("j-ok", "once"):
        proc.wait_value(state, 1, {"service_name": name, **S, "state": "succeeded"}, timeout=60)
        at = proc.value("dockerswarm_service_last_success_timestamp_seconds", service_name=name,
                        **S)  # fmt: skip
        assert at is not None and before - 5 <= at <= time.time(), (name, at, before)
    page = json.loads(proc.get("/status.json")[1])
    assert any("j-fail" in p and "failed" in p for p in page["problems"]), page
    assert not any("j-ok" in p or "once" in p for p in page["problems"]), page


@pytest.fixture
def stored(lab: Lab, made: Services) -> Iterator[dict[str, str]]:
    """Two secrets and two configs by name -> ID; removed after the services made."""
    made_ids: dict[str, str] = {}
    with closing(lab.manager_client()) as client:
        for name in ("s-used", "s-unused"):
            made_ids[name] = client.create_secret(name, b"s3cret")["ID"]
        for name in ("c-used", "c-unused"):
            made_ids[name] = client.create_config(name, b"key=value")["ID"]
    try:
        yield made_ids
    finally:
        made.remove_all()
        deadline = time.monotonic() + 60
        with closing(lab.manager_client()) as client:
            for name, oid in made_ids.items():
                remove = client.remove_secret if name.startswith("s-") else client.remove_config
                while True:
                    try:
                        remove(oid)
                        break
                    except docker.errors.NotFound:
                        break
                    except docker.errors.APIError:  # still in use while its tasks go
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.5)


def test_unused_secrets_and_configs(
    lab: Lab, made: Services, stored: dict[str, str], sentinels: list[Sentinel]
) -> None:
    proc = Sentinel(lab.wait_leader().url, ["--healer.dry-run"])
    sentinels.append(proc)
    proc.start()
    made.create(
        "mounts",
        secrets=[(stored["s-used"], "s-used")],
        configs=[(stored["c-used"], "c-used")],
    )
    for kind, prefix in (("secret", "s"), ("config", "c")):
        for name, users in ((f"{prefix}-used", 1), (f"{prefix}-unused", 0)):
            labels = {f"{kind}_id": stored[name], f"{kind}_name": name}
            proc.wait_value(f"dockerswarm_{kind}_services", users, labels)
            created = proc.value(f"dockerswarm_{kind}_created_timestamp_seconds", **labels)
            assert created is not None and created <= time.time()
    page = json.loads(proc.get("/status.json")[1])
    inventory = page["inventory"]
    assert {"s-unused"} <= set(inventory["secrets"]["unused"]), inventory
    assert "s-used" not in inventory["secrets"]["unused"], inventory
    assert {"c-unused"} <= set(inventory["configs"]["unused"]), inventory
