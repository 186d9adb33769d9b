"""The command line and the process's behaviour on bad input (no swarm needed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.sentinel import Sentinel, wait_for

EXE = str(Path(sys.executable).with_name("swarm-sentinel"))


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EXE, *args], capture_output=True, text=True, timeout=30, check=False, env=env
    )


def test_help_and_version() -> None:
    out = run("--help")
    assert out.returncode == 0
    for flag in ("--web.listen-address", "--healer.dry-run", "--no-healer.enabled",
                 "--healer.rate-limit", "--watch.resync-interval", "--watch.task-history",
                 "--healer.crash-loop-restarts", "--healer.crash-loop-window",
                 "--healer.on-update-paused"):  # fmt: skip
        assert flag in out.stdout
    version = run("--version")
    assert version.returncode == 0 and version.stdout.startswith("swarm-sentinel ")


def test_bad_flags_give_one_line_and_exit_2() -> None:
    for args, needle in [
        (["--healer.threshold", "soon"], "is not a duration"),
        (["--healer.scope", "some"], "invalid choice"),
        (["--web.listen-address", "nowhere"], "expected host:port"),
        (["--web.config.file", "/nonexistent/web.yml"], "/nonexistent/web.yml"),
        # Zero would busy-loop (polls, healer passes) or fail every call (timeout).
        (["--watch.poll-interval", "0s"], "must be longer than 0s"),
        (["--healer.interval", "0s"], "must be longer than 0s"),
        (["--docker.timeout", "0ms"], "must be longer than 0s"),
        (["--docker.host", "garbage"], "is not an engine address"),
        (["--docker.host", "unix://relative.sock"], "needs an absolute path"),
        (["--healer.crash-loop-window", "2h"], "--healer.crash-loop-window: at most 1h"),
        (["--healer.crash-loop-restarts", "0"], "must be 1 or more"),
        (["--metric.service-labels", "team a"], "is not a label key or pattern"),
        (["--metric.max-series-per-family", "-1"], "must be 0 or more"),
        (["--healer.on-update-paused", "undo"], "invalid choice"),
        (["wait"], "one of the arguments --stack --service is required"),
        (["wait", "--stack", "a", "--service", "b"], "not allowed with argument --stack"),
        (["wait", "--stack", "a", "--timeout", "0s"], "must be longer than 0s"),
        (["wait", "--stack", "a", "--output", "yaml"], "invalid choice"),
    ]:
        out = run(*args)
        assert out.returncode == 2, (args, out.stderr)
        assert needle in out.stderr, (args, out.stderr)
        assert out.stdout == ""


def test_wait_without_a_view_of_the_swarm_says_why_in_one_line_and_exits_2(
    tmp_path: Path,
) -> None:
    for output in ("text", "json"):
        sock = f"unix://{tmp_path}/none.sock"
        out = run("wait", "--stack", "shop", "--docker.host", sock, "--output", output)
        assert out.returncode == 2, out
        assert out.stdout == ""
        (line,) = out.stderr.splitlines()
        assert line.startswith(f"swarm-sentinel wait: cannot talk to the Docker engine at {sock}")


def test_bad_environment_value_names_the_variable() -> None:
    out = run(env={**os.environ, "SWARM_SENTINEL_HEALER_MAX_ATTEMPTS": "many"})
    assert out.returncode == 2
    assert "SWARM_SENTINEL_HEALER_MAX_ATTEMPTS" in out.stderr


def test_unreachable_engine_keeps_serving_and_retrying(tmp_path: Path) -> None:
    proc = Sentinel(f"unix://{tmp_path}/no-engine.sock").start(wait_ready=False)
    try:
        wait_for(lambda: proc.get("/healthz")[0] == 200, 20, "/healthz")
        status, body = proc.get("/ready")
        assert status == 503 and "not synced" in body
        wait_for(lambda: proc.value("dockerswarm_up") == 0, 10, "dockerswarm_up 0")
        wait_for(
            lambda: sum(proc.series("dockerswarm_exporter_api_errors_total").values()) >= 2,
            15,
            "at least two failed attempts (it keeps retrying)",
        )
        status, page = proc.get("/")
        assert status == 200 and "swarm-sentinel" in page
        errors = [line for line in proc.logs().splitlines() if '"engine_error"' in line]
        assert len(errors) == 1, "one log event per distinct problem, not one per retry"
    finally:
        proc.stop()


def test_a_bad_docker_host_in_the_environment_names_the_variable() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWARM_SENTINEL_")}
    out = run(env={**env, "DOCKER_HOST": "garbage"})
    assert out.returncode == 2 and out.stdout == ""
    assert "environment DOCKER_HOST" in out.stderr and "not an engine address" in out.stderr
