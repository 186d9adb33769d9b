"""Engine API version negotiation against real engines: Debian's 20.10 (API 1.41) and
Engine 28.5 run as Engine 29 (API 1.51, refusing clients below 1.44)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from common.apiversion import NEWEST, ApiVersion
from exporter.client import EngineMetrics
from exporter.engine import Engine
from healer.forcer import Forcer, ForceResult, Outcome
from healer.state import HealState
from lab import Lab
from lab.dockerpy import docker_client
from lab.engines import ENGINES, MODERN_MIN_API, check_engine
from tests.support.labs import lab_config
from tests.support.sentinel import Sentinel, wait_for
from tests.support.swarm_services import services

pytestmark = pytest.mark.lab
LAB_ENGINES = ENGINES

EXE = str(Path(sys.executable).with_name("swarm-sentinel"))
INFO = "dockerswarm_exporter_api_version_info"


def offered(url: str) -> str:
    """The engine's own API-Version, read the way the docker CLI reads it."""
    with closing(docker_client(url, timeout=10, pinned=ApiVersion(1, 44))) as client:
        header: str = client.get(f"{client.base_url}/_ping").headers["API-Version"]
        return header


def speaks(proc: Sentinel) -> dict[str, str]:
    """The labels of the exporter's api_version info series, once there is one."""
    series = proc.series(INFO)
    assert len(series) <= 1, series
    return dict(next(iter(series))) if series else {}


def test_negotiates_the_lower_of_the_engines_and_its_own(lab: Lab) -> None:
    engine = offered(lab.node("m1").url)
    expected = str(min(ApiVersion.parse(engine), NEWEST))
    assert expected == {"debian": "1.41", "modern": "1.51"}[lab.config.engine]
    proc = Sentinel(lab.node("m1").url, ["--no-healer.enabled"]).start()
    try:
        assert speaks(proc) == {"api_version": expected, "engine_api_version": engine}
        assert proc.value("dockerswarm_up") == 1
        assert '"event": "engine_api_version"' in proc.logs()
    finally:
        proc.stop()


def test_docker_api_version_is_honoured_or_refused_in_one_line(lab: Lab) -> None:
    url = lab.node("m1").url
    if lab.config.engine == "debian":
        proc = Sentinel(url, ["--no-healer.enabled"], env={"DOCKER_API_VERSION": "1.41"}).start()
        try:
            assert speaks(proc)["api_version"] == "1.41"
        finally:
            proc.stop()
        return
    # The modern engine speaks 1.44 and newer: a pin inside that range is used as it is.
    proc = Sentinel(url, ["--no-healer.enabled"], env={"DOCKER_API_VERSION": "1.44"}).start()
    try:
        assert speaks(proc) == {"api_version": "1.44", "engine_api_version": offered(url)}
    finally:
        proc.stop()
    # 1.41 is refused by Engine 29: said plainly, and the exporter keeps serving.
    proc = Sentinel(url, ["--no-healer.enabled"], env={"DOCKER_API_VERSION": "1.41"})
    proc.start(wait_ready=False)
    try:
        why = (
            "the engine refuses Engine API 1.41 (pinned by --docker.api-version or "
            "DOCKER_API_VERSION): client version 1.41 is too old. Minimum supported API "
            f"version is {MODERN_MIN_API}"
        )
        wait_for(lambda: why in proc.get("/ready")[1], 30, "/ready naming the refusal")
        assert proc.get("/ready")[0] == 503 and proc.value("dockerswarm_up") == 0
        assert why in proc.logs()
    finally:
        proc.stop()
    out = subprocess.run(
        [EXE, "status", "--docker.host", url],
        env={"DOCKER_API_VERSION": "1.41", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and why in out.stderr, out.stderr


def _oom_score_adj(spec: dict[str, Any]) -> int:
    return int(spec["TaskTemplate"]["ContainerSpec"].get("OomScoreAdj") or 0)


@pytest.mark.engines("modern")  # OomScoreAdj (API 1.46) does not exist on Engine 20.10
def test_a_force_keeps_spec_fields_newer_than_its_pin(lab: Lab) -> None:
    url = lab.node("m1").url
    with services(lab) as made:
        sid = made.create("oomadj", replicas=0)
        with closing(docker_client(url, timeout=10)) as api:
            svc = api.inspect_service(sid)
            spec = svc["Spec"]
            spec["TaskTemplate"]["ContainerSpec"]["OomScoreAdj"] = 500
            api.update_service(
                sid,
                svc["Version"]["Index"],
                task_template=spec["TaskTemplate"],
                fetch_current_spec=True,
            )
        assert _oom_score_adj(made.inspect(sid)["Spec"]) == 500
        # The healer's write at the negotiated version keeps the field ...
        forced = asyncio.run(_force(url, None, sid, HealState(forces=(1.0,)), HealState()))
        assert forced.outcome == Outcome.FORCED, forced.detail
        after = made.inspect(sid)["Spec"]
        assert after["TaskTemplate"]["ForceUpdate"] == forced.force_update
        assert _oom_score_adj(after) == 500
        # ... where one at an older version (1.44, as a pin would have it) drops it: the
        # reason the healer never writes at a fixed version.
        again = asyncio.run(
            _force(
                url, ApiVersion(1, 44), sid, HealState(forces=(1.0, 2.0)), HealState(forces=(1.0,))
            )
        )
        assert again.outcome == Outcome.FORCED, again.detail
        assert _oom_score_adj(made.inspect(sid)["Spec"]) == 0


async def _force(
    url: str, pinned: ApiVersion | None, sid: str, state: HealState, seen: HealState
) -> ForceResult:
    """One force by the healer's forcer, through an engine client of its own."""
    engine = Engine(url, EngineMetrics(CollectorRegistry()), timeout=10, api_version=pinned)
    try:
        return await Forcer(engine).force(sid, state, seen)
    finally:
        await engine.close()


def test_an_engine_upgraded_under_the_exporter_is_negotiated_again() -> None:
    """A one-node swarm of 20.10 whose engine is replaced by the modern one, data kept,
    as an operator upgrades Docker: the running exporter speaks the new version."""
    check_engine("modern")
    with Lab(lab_config("debian", scratch="upgrade", managers=1, workers=0)) as scratch:
        proc = Sentinel(scratch.node("m1").url, ["--no-healer.enabled"]).start()
        try:
            assert speaks(proc)["api_version"] == "1.41"
            scratch.stop_engine("m1")
            scratch.node("m1").daemon.engine = "modern"
            scratch.start_engine("m1")
            scratch.wait_leader(60)
            wait_for(
                lambda: speaks(proc).get("api_version") == "1.51",
                60,
                "the exporter to speak 1.51 after the upgrade",
            )
            proc.wait_value("dockerswarm_up", 1, timeout=30)
            assert proc.value("dockerswarm_managers") == 1
        finally:
            proc.stop()
