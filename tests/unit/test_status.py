"""``swarm-sentinel status`` without a swarm: the report from the real engine samples,
its text and JSON, the exit codes, and the console script against a fake engine."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from socketserver import ThreadingUnixStreamServer
from typing import Any

import pytest

from common import address
from common.durations import short_duration
from exporter.model import SwarmModel
from exporter.parse import parse_info, parse_list, parse_node, parse_service, parse_task, parse_time
from exporter.quorum import quorum_of
from exporter.types import Node
from healer.settings import LABEL_MAX_ATTEMPTS, LABEL_STATE
from healer.state import HealState
from swarm_sentinel.status.command import main as status_main
from swarm_sentinel.status.json import to_json
from swarm_sentinel.status.report import (
    EXIT_HEALTHY,
    EXIT_NO_VIEW,
    EXIT_UNHEALTHY,
    STUCK_AFTER,
    QuorumLine,
    Report,
    build_report,
    no_leader_report,
)
from swarm_sentinel.status.text import render_text, use_color
from tests.unit.samples import SampleSet

EXE = str(Path(sys.executable).with_name("swarm-sentinel"))
ANSI = re.compile(r"\033\[[0-9;]*m")


def build(
    sample: SampleSet,
    nodes: str = "nodes.json",
    only: set[str] | None = None,
    labels: Mapping[str, str] | None = None,
) -> SwarmModel:
    """The model one resync of the sampled swarm gives; ``only``: keep these services;
    ``labels``: added to every kept service."""
    model = SwarmModel(clock=lambda: sample.now)
    model.set_info(parse_info(sample.load("info.json")))
    model.replace_nodes(parse_list(sample.load(nodes), parse_node, "n")[0])
    services = parse_list(sample.load("services-status.json"), parse_service, "s")[0]
    if only is not None:
        services = [s for s in services if s.name in only]
    if labels:
        services = [replace(s, labels=(*s.labels, *sorted(labels.items()))) for s in services]
    model.replace_services(services)
    model.replace_tasks(parse_list(sample.load("tasks.json"), parse_task, "t")[0], None, whole=True)
    return model


def report(sample: SampleSet, **kwargs: Any) -> Report:
    model = build(sample, **kwargs)
    return build_report(model, now=sample.now, engine="unix:///sample.sock")


def section(text: str, title: str) -> list[str]:
    """The lines of one section of the text view, title excluded."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    out = []
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        out.append(line)
    return out


# ---- the report -------------------------------------------------------------


def test_nodes_and_quorum_from_samples(sample: SampleSet) -> None:
    r = report(sample)
    assert [n.hostname for n in r.nodes] == ["lab-m1", "lab-m2", "lab-m3", "lab-w1"]
    m1, m2, m3, w1 = r.nodes
    assert m1.is_self and m1.manager_status == "Leader"
    assert (m2.availability, m2.manager_status) == ("Drain", "Reachable")
    m3_id = next(
        n["ID"] for n in sample.load("nodes.json") if n["Description"]["Hostname"] == "lab-m3"
    )
    assert m3.running_tasks == sum(
        1
        for t in sample.load("tasks.json")
        if t.get("NodeID") == m3_id and t["Status"]["State"] == t["DesiredState"] == "running"
    )
    assert w1.role == "worker" and w1.manager_status == ""
    assert r.quorum.summary == "3 managers, 3 reachable, quorum 2, can lose 1"
    assert r.quorum.state == "ok" and r.quorum.leader == "lab-m1" and not r.quorum.alarm


def test_services_not_converged_with_reasons(sample: SampleSet) -> None:
    r = report(sample)
    rows = {s.name: s for s in r.services}
    # agent (global, converged) and oneshot (a job: runs nothing once done) are fine.
    assert set(rows) == {"badimage", "crashy", "hungry", "pinned", "web"}
    assert rows["crashy"].running < rows["crashy"].desired == 2
    # crashy's current tasks are fresh restarts without error: the reason comes
    # from the newest failed task in the history.
    assert rows["crashy"].reason == "nonzero_exit"
    assert rows["crashy"].last_error == "task: non-zero exit (3)"
    failed = [t for t in sample.raw_tasks("crashy") if t["Status"]["State"] == "failed"]
    assert rows["crashy"].failures == {"nonzero_exit": len(failed)} and failed
    assert rows["badimage"].reason == "image"
    assert rows["hungry"].reason == "insufficient_resources"
    assert rows["pinned"].reason == "no_suitable_node"
    assert rows["pinned"].last_error.startswith("no suitable node (scheduling constraints")
    assert rows["web"].reason == "updating" and rows["web"].update_state == "updating"
    assert r.exit_code == EXIT_UNHEALTHY
    crashy = rows["crashy"]
    assert any(
        p.text.startswith(f"service crashy: {crashy.running}/2 running (nonzero_exit")
        and p.service == "crashy"
        for p in r.problems
    )


def test_stuck_tasks_say_how_long_and_why(sample: SampleSet) -> None:
    stuck = {(s.service, s.state): s for s in report(sample).stuck}
    pinned = stuck[("pinned", "pending")]
    assert pinned.reason == "no_suitable_node"
    (raw,) = sample.raw_tasks("pinned")
    assert pinned.seconds == pytest.approx(sample.now - parse_time(raw["Status"]["Timestamp"]))
    assert "scheduling constraints not satisfied" in pinned.detail
    assert stuck[("hungry", "pending")].reason == "insufficient_resources"
    assert all(s.seconds >= STUCK_AFTER for s in stuck.values())


def test_healthy_swarm_exits_0(sample: SampleSet) -> None:
    r = report(sample, only={"agent"})
    assert r.healthy and r.problems == [] and r.exit_code == EXIT_HEALTHY
    text = render_text(r)
    assert text.rstrip().endswith("HEALTHY")
    assert "none: every service runs as desired" in text


def test_manager_down_is_unhealthy_and_quorum_at_risk(sample: SampleSet) -> None:
    r = report(sample, nodes="nodes-one-manager-down.json", only={"agent"})
    m3 = next(n for n in r.nodes if n.hostname == "lab-m3")
    assert (m3.status, m3.manager_status, m3.running_tasks) == ("Down", "Unreachable", None)
    assert r.quorum.summary == "3 managers, 2 reachable, quorum 2, can lose 0"
    assert r.quorum.state == "at_risk"
    assert [p.text for p in r.problems] == [
        r.quorum.alarm,
        "manager lab-m3 is down, unreachable (heartbeat failure)",
    ]
    assert r.exit_code == EXIT_UNHEALTHY
    text = render_text(r)
    assert "QUORUM AT RISK: 2 of 3 managers reachable" in text
    assert re.search(r"^  lab-m3 +manager +Down +Active +Unreachable .* -$", text, re.M)


def manager(name: str, reachable: bool = True, leader: bool = False) -> Node:
    return Node(
        id=name, hostname=name, role="manager", availability="active",
        state="ready" if reachable else "down", address="", engine_version="", os="", arch="",
        labels=(), engine_labels=(), is_manager=True, leader=leader,
        reachability="reachable" if reachable else "unreachable",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("up", "down", "leader", "state", "can_lose"),
    [
        (1, 0, True, "ok", 0),  # one manager has no tolerance by design: not "at risk"
        (2, 0, True, "at_risk", 0),  # two managers: losing either stops the swarm
        (3, 0, True, "ok", 1),
        (2, 1, True, "at_risk", 0),
        (1, 2, True, "lost", 0),  # a leader that has not stepped down yet
        (3, 0, False, "lost", 1),  # no leader named (an election)
        (4, 1, True, "ok", 1),
        (5, 0, True, "ok", 2),
    ],
)
def test_quorum_states(up: int, down: int, leader: bool, state: str, can_lose: int) -> None:
    managers = [manager(f"m{i}", leader=leader and i == 0) for i in range(up)]
    managers += [manager(f"d{i}", reachable=False) for i in range(down)]
    q = quorum_of(managers, has_leader=leader)
    assert (q.state, q.can_lose, q.needed) == (state, can_lose, (up + down) // 2 + 1)
    assert bool(QuorumLine.of(q).alarm) == (state != "ok")


def test_healer_state_labels(sample: SampleSet) -> None:
    now = sample.now
    forces = (now - 90000, now - 3000, now - 600, now - 60)  # the first is older than 24h
    state = HealState(forces=forces, next_allowed=now + 540).encode()
    r = report(sample, only={"crashy", "agent"}, labels={LABEL_STATE: state})
    rows = {h.service: h for h in r.healer}
    crashy = rows["crashy"]
    assert (crashy.attempts, crashy.max_attempts, crashy.given_up) == (3, 5, False)
    assert crashy.last_force == pytest.approx(now - 60, abs=1)
    text = render_text(r)
    line = next(x for x in section(text, "HEALER") if x.startswith("  crashy"))
    assert re.search(r"3/5 +1m00s ago +in 9m00s +cooling down", line), line
    # The service's own max-attempts label wins; given up on a broken service is
    # said in the problem line too.
    r = report(sample, only={"crashy"}, labels={LABEL_STATE: state, LABEL_MAX_ATTEMPTS: "3"})
    assert r.healer[0].given_up
    # Three of the three counted forces: it may force again when the oldest of
    # them (now - 3000) leaves the 24 h window.
    assert r.healer[0].resumes_at == pytest.approx(now - 3000 + 86400, abs=1)
    assert "the healer gave up after 3 forces" in r.problems[0].text
    line = next(x for x in section(render_text(r), "HEALER") if x.startswith("  crashy"))
    assert re.search(r"3/3 +1m00s ago +in 23h10m \(attempts age out\) +GAVE UP$", line), line
    # A converged service the healer gave up on is no problem, but is shown.
    r = report(sample, only={"agent"}, labels={LABEL_STATE: state, LABEL_MAX_ATTEMPTS: "2"})
    assert r.healthy and r.healer[0].given_up
    assert "gave up (service converged since)" in render_text(r)


def test_forces_before_ten_healthy_minutes_no_longer_count(sample: SampleSet) -> None:
    # As the healer counts them: "agent" converged and its task has been running
    # since before `later` - 10 min, so the forces before that are history.
    model = build(sample, only={"agent"})
    since = next(iter(model.views.values())).running_since
    forces = (since - 3000, since - 600, since - 60)
    state = HealState(forces=forces, next_allowed=since + 500).encode()
    model = build(sample, only={"agent"}, labels={LABEL_STATE: state, LABEL_MAX_ATTEMPTS: "2"})
    soon = build_report(model, now=since + 300).healer[0]
    assert (soon.attempts, soon.given_up) == (3, True)
    later = build_report(model, now=since + 601).healer[0]
    assert (later.attempts, later.given_up) == (0, False)


def test_unreadable_healer_state_is_shown_not_fatal(sample: SampleSet) -> None:
    r = report(sample, only={"agent"}, labels={LABEL_STATE: "v9;whatever"})
    assert r.healer[0].error.startswith("unknown state format")
    assert "state label unreadable" in render_text(r)
    assert r.healthy


# ---- text and JSON ------------------------------------------------------------


def test_text_columns_are_aligned(sample: SampleSet) -> None:
    text = render_text(report(sample))
    nodes = section(text, "NODES")
    assert nodes[0].split() == [
        "HOSTNAME", "ROLE", "STATUS", "AVAILABILITY", "MANAGER", "STATUS", "ENGINE", "RUNNING",
        "TASKS",
    ]  # fmt: skip
    for header in ("ROLE", "STATUS", "AVAILABILITY", "ENGINE"):
        col = nodes[0].index(header)
        for line in nodes[1:5]:
            assert line[col - 2 : col] == "  " and line[col] != " ", (header, line)
    assert nodes[1].startswith("  lab-m1 *  ")
    assert nodes[5] == "3 managers, 3 reachable, quorum 2, can lose 1"
    services = section(text, "SERVICES NOT CONVERGED")
    col = services[0].index("REASON")
    assert {line[col:].split()[0] for line in services[1:]} == {
        "image", "nonzero_exit", "insufficient_resources", "no_suitable_node", "updating",
    }  # fmt: skip
    assert not any(line != line.rstrip() for line in text.splitlines())
    assert "\033" not in text


def test_colour_only_adds_escape_codes(sample: SampleSet) -> None:
    r = report(sample, nodes="nodes-one-manager-down.json")
    plain, coloured = render_text(r, color=False), render_text(r, color=True)
    assert "\033[1;31mQUORUM AT RISK" in coloured
    assert "\033[1;31mDown\033[0m" in coloured
    assert ANSI.sub("", coloured) == plain


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_when_to_colour() -> None:
    tty, pipe = _Stream(True), _Stream(False)
    assert use_color("auto", tty, {}) and not use_color("auto", pipe, {})
    assert not use_color("auto", tty, {"NO_COLOR": "1"})
    assert use_color("auto", tty, {"NO_COLOR": ""})  # no-color.org: empty does not count
    assert not use_color("auto", tty, {"TERM": "dumb"})
    assert use_color("always", pipe, {"NO_COLOR": "1"})  # an explicit flag wins
    assert not use_color("never", tty, {})


def test_json_document(sample: SampleSet) -> None:
    doc = json.loads(json.dumps(to_json(report(sample))))
    assert set(doc) >= {
        "nodes", "quorum", "services_not_converged", "stuck_tasks", "healer", "healthy",
        "problems",
    }  # fmt: skip
    assert doc["healthy"] is False and len(doc["problems"]) == 5
    assert doc["quorum"] == {
        "managers": 3,
        "reachable": 3,
        "quorum": 2,
        "can_lose": 1,
        "has_leader": True,
        "leader": "lab-m1",
        "state": "ok",
        "summary": "3 managers, 3 reachable, quorum 2, can lose 1",
    }
    m2 = next(n for n in doc["nodes"] if n["hostname"] == "lab-m2")
    assert (m2["availability"], m2["manager_status"], m2["status"]) == (
        "drain",
        "reachable",
        "ready",
    )
    crashy = next(s for s in doc["services_not_converged"] if s["name"] == "crashy")
    assert crashy["reason"] == "nonzero_exit" and crashy["last_error_at"].endswith("Z")
    pinned = next(t for t in doc["stuck_tasks"] if t["service"] == "pinned")
    (raw,) = sample.raw_tasks("pinned")
    since = parse_time(raw["Status"]["Timestamp"])
    assert pinned["state"] == "pending"
    assert pinned["seconds"] == pytest.approx(sample.now - since, abs=0.1)
    assert doc["healer"] == []


def test_no_leader_report(sample: SampleSet) -> None:
    info = parse_info(sample.load("info-quorum-lost.json"))
    r = no_leader_report(info, info.error, now=sample.now, engine="unix:///sample.sock")
    assert r.exit_code == EXIT_UNHEALTHY and not r.complete
    text = render_text(r)
    assert "QUORUM LOST: the swarm has no leader" in text
    assert "does not have a leader" in text
    doc = to_json(r)
    assert doc["quorum"]["state"] == "lost" and doc["quorum"]["has_leader"] is False
    assert doc["nodes"] == [] and doc["healthy"] is False


def test_short_duration() -> None:
    assert [short_duration(s) for s in (0, 42, 192, 7500, 97200)] == [
        "0s", "42s", "3m12s", "2h05m", "1d03h",
    ]  # fmt: skip


# ---- the console script ---------------------------------------------------------


def run(*args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EXE, "status", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize("output", ["text", "json"])
def test_unreachable_engine_exits_2_with_one_line(output: str) -> None:
    out = run("--docker.host", "unix:///nonexistent.sock", "--output", output)
    assert out.returncode == EXIT_NO_VIEW
    assert out.stdout == ""
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("swarm-sentinel status: cannot talk to the Docker engine at ")
    assert "/nonexistent.sock" in lines[0]


def test_engine_host_from_environment() -> None:
    out = run(env={"SWARM_SENTINEL_DOCKER_HOST": "unix:///nonexistent-env.sock"})
    assert out.returncode == EXIT_NO_VIEW and "nonexistent-env.sock" in out.stderr


def test_bad_flag_exits_2() -> None:
    out = run("--output", "xml")
    assert out.returncode == 2 and "invalid choice" in out.stderr


def test_main_help_mentions_status() -> None:
    out = subprocess.run([EXE, "--help"], capture_output=True, text=True, timeout=30, check=False)
    assert out.returncode == 0 and "swarm-sentinel status" in out.stdout


class _FakeEngine(BaseHTTPRequestHandler):
    """Answers the Engine API paths the status reads with the captured samples."""

    answers: Mapping[str, tuple[int, bytes]] = {}
    api_version = "1.41"
    server_hangs = threading.Event()  # set at the end of a test: stop hanging

    def do_GET(self) -> None:
        path = re.sub(r"^/v[0-9.]+/", "/", self.path.split("?", 1)[0])
        if path == "/_ping":
            status, body = 200, b"OK"
        else:
            status, body = self.answers.get(path, (404, b'{"message": "page not found"}'))
        if status == HANG:
            self.server_hangs.wait(10)  # as a manager stalls while losing quorum
            return
        self.send_response(status)
        self.send_header("Api-Version", self.api_version)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a unix socket has no client address to log, and pytest has the output


HANG = -1  # an answer status: give no answer at all


@dataclass
class FakeSwarm:
    url: str
    answers: dict[str, tuple[int, bytes]]
    sample: SampleSet

    def answer(self, name: str) -> tuple[int, bytes]:
        """200 with the sample file ``name``, as an answer."""
        return 200, self.sample.path(name).read_bytes()

    @property
    def no_leader_body(self) -> bytes:
        return self.sample.path("nodes-quorum-lost.txt").read_text().splitlines()[0].encode()


@pytest.fixture
def fake_engine(tmp_path: Path, sample: SampleSet) -> Iterator[FakeSwarm]:
    """The sampled swarm behind a unix socket (change its answers per test)."""
    swarm = FakeSwarm("", {}, sample)
    for path, name in (
        ("/info", "info.json"),
        ("/nodes", "nodes.json"),
        ("/services", "services-status.json"),
        ("/tasks", "tasks.json"),
    ):
        swarm.answers[path] = swarm.answer(name)
    release = threading.Event()
    handler = type(
        "Handler",
        (_FakeEngine,),
        {"answers": swarm.answers, "server_hangs": release, "api_version": sample.api},
    )
    sock = tmp_path / "engine.sock"
    swarm.url = f"unix://{sock}"
    server = ThreadingUnixStreamServer(str(sock), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield swarm
    finally:
        release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_console_script_on_sampled_swarm(
    fake_engine: FakeSwarm,
) -> None:
    url = fake_engine.url
    out = run("--docker.host", url, "--color", "never")
    assert out.returncode == EXIT_UNHEALTHY, out.stderr
    assert "3 managers, 3 reachable, quorum 2, can lose 1" in out.stdout
    assert "UNHEALTHY: 5 problems" in out.stdout and out.stderr == ""
    doc = json.loads(run("--docker.host", url, "--output", "json").stdout)
    assert {s["name"] for s in doc["services_not_converged"]} == {
        "badimage", "crashy", "hungry", "pinned", "web",
    }  # fmt: skip
    # Not a terminal: no colour unless asked for.
    assert "\033" not in run("--docker.host", url).stdout
    assert "\033[" in run("--docker.host", url, "--color", "always").stdout


def test_console_script_no_leader_exits_1(
    fake_engine: FakeSwarm,
) -> None:
    url, answers = fake_engine.url, fake_engine.answers
    answers["/info"] = fake_engine.answer("info-quorum-lost.json")
    no_leader = (500, fake_engine.no_leader_body)
    answers["/nodes"] = answers["/services"] = answers["/tasks"] = no_leader
    out = run("--docker.host", url)
    assert out.returncode == EXIT_UNHEALTHY, out.stderr
    assert "QUORUM LOST: the swarm has no leader" in out.stdout
    doc = json.loads(run("--docker.host", url, "--output", "json").stdout)
    assert doc["healthy"] is False and doc["quorum"]["state"] == "lost"
    assert doc["problems"] == ["the swarm has no leader (quorum lost), says lab-m1"]
    assert "does not have a leader" in doc["error"]
    # The leader stepped down between /info and /nodes: the same answer.
    answers["/info"] = fake_engine.answer("info.json")
    out = run("--docker.host", url)
    assert out.returncode == EXIT_UNHEALTHY and "QUORUM LOST" in out.stdout, out.stderr


def test_console_script_worker_exits_2(
    fake_engine: FakeSwarm,
) -> None:
    url, answers = fake_engine.url, fake_engine.answers
    info = fake_engine.sample.load("info.json")
    info["Swarm"]["ControlAvailable"] = False
    answers["/info"] = (200, json.dumps(info).encode())
    out = run("--docker.host", url)
    assert out.returncode == EXIT_NO_VIEW and out.stdout == ""
    assert len(out.stderr.splitlines()) == 1 and "is a swarm worker" in out.stderr


def test_console_script_engine_that_hangs_exits_2(
    fake_engine: FakeSwarm,
) -> None:
    url, answers = fake_engine.url, fake_engine.answers
    answers["/info"] = (HANG, b"")
    out = run("--docker.host", url, "--docker.timeout", "500ms")
    assert out.returncode == EXIT_NO_VIEW and out.stdout == ""
    assert len(out.stderr.splitlines()) == 1
    assert "gave no answer within 0.5s (info)" in out.stderr


def test_no_socket_and_no_docker_host_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Where aiodocker, left to find the socket itself, failed an assert (exit 1).
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("SWARM_SENTINEL_DOCKER_HOST", raising=False)
    monkeypatch.setattr(address, "DEFAULT_HOST", f"unix://{tmp_path}/docker.sock")
    assert status_main([]) == EXIT_NO_VIEW
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err.startswith(
        f"swarm-sentinel status: cannot talk to the Docker engine at unix://{tmp_path}"
    )
