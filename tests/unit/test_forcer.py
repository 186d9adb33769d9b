"""The healer's one write: the spec it posts (the engine's own, changed in two places
only), through the engine client, across an engine upgrade and a conflict.

POST /services/{id}/update replaces the whole spec. At API 1.44 and 1.46 the
engine learnt spec fields (Seccomp, AppArmor, OomScoreAdj ...) that an update at an
older version drops, and the top-level ``Networks`` became deprecated (not removed):
the healer sends everything it read, as it read it, at the negotiated version (the
lab test in test_api_version_lab.py checks the version part on a real engine).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from common.apiversion import OLDEST, ApiVersion
from exporter.client import EngineMetrics
from exporter.engine import Engine
from healer.forcer import Forcer, ForceResult, Outcome, forced_spec
from healer.settings import LABEL_STATE
from healer.state import HealState
from tests.support.fake_engine import fake_engine
from tests.unit.samples import SampleSet

STATE = HealState(forces=(1795713000.0,), next_allowed=1795713300.0)


def _without_our_changes(spec: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(spec)
    out["TaskTemplate"].pop("ForceUpdate", None)
    out.get("Labels", {}).pop(LABEL_STATE, None)
    if out.get("Labels") == {}:
        out.pop("Labels")
    return out


def test_only_force_update_and_the_state_label_change(sample: SampleSet) -> None:
    for svc in sample.load("services-status.json"):
        spec = svc["Spec"]
        before = copy.deepcopy(spec)
        posted, counter = forced_spec(spec, STATE)
        assert spec == before, "the spec as read is left alone"
        assert counter == int(spec["TaskTemplate"].get("ForceUpdate") or 0) + 1
        assert posted["TaskTemplate"]["ForceUpdate"] == counter
        assert posted["Labels"][LABEL_STATE] == STATE.encode()
        assert _without_our_changes(posted) == _without_our_changes(spec)
        # Key order too: the engine's JSON, not a rebuilt one.
        assert list(posted) == list(spec) + [k for k in posted if k not in spec]


def test_fields_newer_than_1_41_and_deprecated_ones_are_posted_as_read(
    sample: SampleSet,
) -> None:
    spec = copy.deepcopy(sample.load("services-status.json")[0]["Spec"])
    container = spec["TaskTemplate"]["ContainerSpec"]
    container["OomScoreAdj"] = 500  # API 1.46
    container["Privileges"] = {"NoNewPrivileges": True, "Seccomp": {"Mode": "default"}}  # 1.44
    spec["Networks"] = [{"Target": "abc123"}]  # deprecated at 1.44
    posted, _ = forced_spec(spec, STATE)
    assert posted["TaskTemplate"]["ContainerSpec"]["OomScoreAdj"] == 500
    assert posted["TaskTemplate"]["ContainerSpec"]["Privileges"] == container["Privileges"]
    assert posted["Networks"] == [{"Target": "abc123"}]


@dataclass
class UpgradingEngine:
    """A manager holding one service, whose engine is upgraded under the healer: it then
    offers 1.51 and refuses the 1.41 spoken so far, as Engine 29 does. ``conflicts``:
    updates answered "update out of sequence" (409) before one is taken."""

    offered: str = "1.41"
    minimum: ApiVersion = OLDEST
    conflicts: int = 0
    posted: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def ping(self, _: web.Request) -> web.Response:
        return web.Response(text="OK", headers={"API-Version": self.offered})

    def _refused(self, request: web.Request) -> web.Response | None:
        used = ApiVersion.parse(request.match_info["version"])
        if used < self.minimum:
            message = (
                f"client version {used} is too old. Minimum supported API version is "
                f"{self.minimum}, please upgrade your client to a newer version"
            )
            return web.json_response({"message": message}, status=400)
        return None

    async def inspect(self, request: web.Request) -> web.Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        spec = {"Name": "web", "TaskTemplate": {"ContainerSpec": {"Image": "x"}}}
        return web.json_response({"ID": "s1", "Version": {"Index": 7}, "Spec": spec})

    async def update(self, request: web.Request) -> web.Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        if self.conflicts:
            self.conflicts -= 1
            return web.json_response(
                {"message": "rpc error: code = Unknown desc = update out of sequence"}, status=409
            )
        self.posted.append((request.match_info["version"], await request.json()))
        return web.json_response({"Warnings": None})


async def _force(tmp_path: Path, fake: UpgradingEngine, upgrade: bool) -> ForceResult:
    routes = {
        "/_ping": fake.ping,
        r"/v{version:[0-9.]+}/services/s1": fake.inspect,
        r"/v{version:[0-9.]+}/services/s1/update": fake.update,
    }
    async with fake_engine(tmp_path, routes) as url:
        engine = Engine(url, EngineMetrics(CollectorRegistry()), timeout=5)
        try:
            await engine.client.version()  # spoken before the upgrade: 1.41
            if upgrade:
                fake.offered, fake.minimum = "1.51", ApiVersion(1, 44)
            return await Forcer(engine).force("s1", HealState(forces=(1.0,)), HealState())
        finally:
            await engine.close()


async def test_after_an_engine_upgrade_the_first_force_succeeds(tmp_path: Path) -> None:
    """The healer's client kept the old version: its next force was refused and counted
    as an attempt. Now the refusal is negotiated again and the force tried once more."""
    fake = UpgradingEngine()
    result = await _force(tmp_path, fake, upgrade=True)
    assert result.outcome == Outcome.FORCED, result.detail
    assert [version for version, _ in fake.posted] == ["1.51"]  # at the new version


async def test_a_conflict_is_a_conflict(tmp_path: Path) -> None:
    fake = UpgradingEngine(conflicts=1)
    result = await _force(tmp_path, fake, upgrade=False)
    assert result.outcome == Outcome.CONFLICT and "update out of sequence" in result.detail
    assert fake.posted == []


# -- The rollback: the current spec posted back as read, with rollback=previous, only
# while the update read is still paused. A real engine's rollback is tested on the lab
# (tests/lab/test_deploy_verdict.py); here, what it cannot be made to do on cue: change
# between the healer's decision and its read, or turn the write away.


def _paused_service(sample: SampleSet, state: str) -> dict[str, Any]:
    svc: dict[str, Any] = copy.deepcopy(sample.load("services-status.json")[0])
    svc["UpdateStatus"] = {"State": state, "Message": "update paused due to failure"}
    return svc


@pytest.mark.parametrize(
    ("state", "answer", "outcome", "posted"),
    [
        ("paused", 200, Outcome.ROLLED_BACK, True),
        ("paused", 409, Outcome.CONFLICT, True),
        ("rollback_started", 200, Outcome.RACED, False),
        ("rollback_completed", 200, Outcome.RACED, False),
        ("updating", 200, Outcome.RACED, False),
    ],
)
async def test_a_rollback_only_of_an_update_still_paused(
    sample: SampleSet, tmp_path: Path, state: str, answer: int, outcome: Outcome, posted: bool
) -> None:
    svc = _paused_service(sample, state)
    seen: list[tuple[dict[str, str], Any]] = []

    async def service(request: web.Request) -> web.Response:
        if request.method == "POST":
            seen.append((dict(request.query), await request.json()))
            if answer != 200:
                return web.json_response({"message": "update out of sequence"}, status=answer)
            return web.json_response({"Warnings": None})
        return web.json_response(svc)

    async def ping(_: web.Request) -> web.Response:
        return web.Response(text="OK", headers={"API-Version": sample.api})

    routes = {"/_ping": ping, "/{v}/services/{id}": service, "/{v}/services/{id}/update": service}
    async with fake_engine(tmp_path, routes) as url:
        engine = Engine(url, EngineMetrics(CollectorRegistry()))
        try:
            result = await Forcer(engine).rollback(svc["ID"])
        finally:
            await engine.close()
    assert result.outcome == outcome, result
    if not posted:
        assert seen == [] and state in result.detail
        return
    ((query, body),) = seen
    assert query == {"version": str(svc["Version"]["Index"]), "rollback": "previous"}
    assert body == svc["Spec"]  # the current spec, as read: the engine keeps none of it
