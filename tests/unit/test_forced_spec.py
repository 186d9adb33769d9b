"""The spec the healer posts: the engine's own, changed in two places only.

POST /services/{id}/update replaces the whole spec. At API 1.44 and 1.46 the
engine learnt spec fields (Seccomp, AppArmor, OomScoreAdj ...) that an update at an
older version drops, and the top-level ``Networks`` became deprecated (not removed):
the healer sends everything it read, as it read it, at the negotiated version (the
lab test in test_api_version_lab.py checks the version part on a real engine).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from exporter.client import EngineMetrics
from exporter.engine import Engine
from healer.forcer import Forcer, Outcome, forced_spec
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
