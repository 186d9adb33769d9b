"""The spec the healer posts: the engine's own, changed in two places only.

POST /services/{id}/update replaces the whole spec. At API 1.44 and 1.46 the
engine learnt spec fields (Seccomp, AppArmor, OomScoreAdj ...) that an update at an
older version drops, and the top-level ``Networks`` became deprecated (not removed):
the healer sends everything it read, as it read it, at the negotiated version (the
lab test in test_api_version_lab.py checks the version part on a real engine).
"""

from __future__ import annotations

import copy
from typing import Any

from healer.forcer import forced_spec
from healer.settings import LABEL_STATE
from healer.state import HealState
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
