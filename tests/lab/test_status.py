"""``swarm-sentinel status`` against the real lab swarm; every expectation has a deadline."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from healer.settings import LABEL_STATE
from healer.state import HealState
from lab import Lab
from lab.engines import ENGINES
from tests.support.sentinel import wait_for
from tests.support.swarm_services import Services

pytestmark = pytest.mark.lab
LAB_ENGINES = ENGINES  # every scenario here must hold on 20.10 and on Engine 29

EXE = str(Path(sys.executable).with_name("swarm-sentinel"))


def status(lab: Lab, *args: str, node: str = "m1") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EXE, "status", "--docker.host", lab.node(node).url, "--color", "never", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def status_json(lab: Lab) -> tuple[int, dict[str, Any]]:
    out = status(lab, "--output", "json")
    if out.returncode == 2:
        raise AssertionError(f"status exit 2: {out.stderr.strip()}")
    doc: dict[str, Any] = json.loads(out.stdout)
    return out.returncode, doc


def wait_exit(lab: Lab, code: int, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    seen: list[subprocess.CompletedProcess[str]] = []

    def probe() -> subprocess.CompletedProcess[str] | None:
        seen.append(status(lab))
        return seen[-1] if seen[-1].returncode == code else None

    try:
        return wait_for(probe, timeout, f"swarm-sentinel status to exit {code}")
    except AssertionError as exc:
        last = seen[-1] if seen else None
        detail = f"\n{last.stdout}{last.stderr}" if last is not None else ""
        raise AssertionError(f"{exc}{detail}") from None


def test_healthy_swarm_exits_0_with_quorum_line(lab: Lab) -> None:
    out = wait_exit(lab, 0)
    lines = out.stdout.splitlines()
    assert "3 managers, 3 reachable, quorum 2, can lose 1" in lines
    for name in ("m1", "m2", "m3", "w1"):
        host = lab.node(name).hostname
        row = next(line for line in lines if line.split()[:1] == [host])
        assert re.search(r"\bReady +Active\b", row), row
    assert lines[-1] == "HEALTHY"
    assert out.stderr == ""


def test_json_output_has_the_fields(lab: Lab) -> None:
    seen: list[tuple[int, dict[str, Any]]] = []

    def healthy() -> dict[str, Any] | None:
        seen.append(status_json(lab))
        return seen[-1][1] if seen[-1][0] == 0 else None

    try:
        doc = wait_for(healthy, 60, "swarm-sentinel status --output json to exit 0")
    except AssertionError as exc:
        problems = seen[-1][1].get("problems") if seen else None
        raise AssertionError(f"{exc}: problems {problems}") from None
    for key in ("nodes", "quorum", "services_not_converged", "stuck_tasks", "healer"):
        assert key in doc
    assert doc["healthy"] is True and doc["problems"] == []
    assert doc["quorum"]["managers"] == 3 and doc["quorum"]["can_lose"] == 1
    assert doc["quorum"]["state"] == "ok" and doc["quorum"]["has_leader"] is True
    hosts = {n["hostname"]: n for n in doc["nodes"]}
    assert set(hosts) == {lab.node(n).hostname for n in ("m1", "m2", "m3", "w1")}
    assert hosts[lab.node("m1").hostname]["self"] is True
    assert sum(1 for n in doc["nodes"] if n["manager_status"] == "leader") == 1


def test_crashing_service_and_healer_state(lab: Lab, made: Services) -> None:
    now = time.time()
    state = HealState(forces=(now - 120,), next_allowed=now + 600).encode()
    made.create("st-crashy", ["sh", "-c", "exit 3"], labels={LABEL_STATE: state})

    def probe() -> dict[str, Any] | None:
        code, doc = status_json(lab)
        rows = [s for s in doc["services_not_converged"] if s["name"] == "st-crashy"]
        if code == 1 and rows and rows[0]["reason"] == "nonzero_exit":
            return doc
        return None

    doc = wait_for(probe, 60, "st-crashy not converged with reason nonzero_exit")
    row = next(s for s in doc["services_not_converged"] if s["name"] == "st-crashy")
    assert row["desired"] == 1 and row["running"] == 0
    assert "non-zero exit (3)" in row["last_error"]
    assert any(p.startswith("service st-crashy: 0/1 running") for p in doc["problems"])
    heal = next(h for h in doc["healer"] if h["service"] == "st-crashy")
    assert (heal["attempts_24h"], heal["max_attempts"], heal["given_up"]) == (1, 5, False)
    text = status(lab).stdout
    assert re.search(r"^  st-crashy +1/5 +2m\d\ds ago +in (9|10)m\d\ds +cooling down$", text, re.M)


def test_manager_down_shows_it_and_exits_1(lab: Lab) -> None:
    wait_exit(lab, 0)
    m3 = lab.node("m3").hostname
    try:
        lab.stop_engine("m3")

        def probe() -> dict[str, Any] | None:
            code, doc = status_json(lab)
            node = next((n for n in doc["nodes"] if n["hostname"] == m3), None)
            if (
                code == 1
                and node
                and (node["status"], node["manager_status"])
                == (
                    "down",
                    "unreachable",
                )
            ):
                return doc
            return None

        # If m3 led, m1 answers "no leader" until the election: the probe waits.
        doc = wait_for(probe, 60, f"status to show {m3} down and unreachable")
        assert doc["quorum"]["state"] == "at_risk" and doc["quorum"]["can_lose"] == 0
        assert any(p.startswith(f"manager {m3} is down, unreachable") for p in doc["problems"])
        out = status(lab)
        assert out.returncode == 1
        lines = out.stdout.splitlines()
        assert "3 managers, 2 reachable, quorum 2, can lose 0" in lines
        assert any(line.startswith("QUORUM AT RISK") for line in lines)
        row = next(line for line in lines if line.split()[:1] == [m3])
        assert re.search(r"\bDown +Active +Unreachable\b", row), row
    finally:
        lab.restore()
    wait_exit(lab, 0)
