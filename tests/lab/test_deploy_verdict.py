"""Did my deploy work? ``swarm-sentinel wait``, the update metrics, SwarmServiceRolledBack
and the healer's rollback, against real deploys on the lab swarm.

Each deploy is a real update of a real service (its command changed, as ``docker
service update --args`` does), with a short monitor window, no delay between batches
and a stop grace of 1 s, so that the whole module stays well under two minutes per
engine. ``wait`` runs as the installed console script, as a pipeline runs it.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from exporter.parse import parse_time
from healer.settings import LABEL_HEAL, LABEL_UPDATE_PAUSED
from lab import Lab
from lab.engines import ENGINES
from tests.support.prometheus_proc import running_prometheus
from tests.support.sentinel import Sentinel, wait_for
from tests.support.swarm_services import Services

pytestmark = pytest.mark.lab
LAB_ENGINES = ENGINES  # Debian's 20.10 and Engine 28.5 refusing API < 1.44 (as 29)

GOOD = ("sleep", "3600")
NEW_GOOD = ("sleep", "3601")
BAD = ("sh", "-c", "echo the new version fails; exit 3")
MONITOR = 2.0
POLL = 1.0
THRESHOLD = 3.0
"""The healer's: a service paused for this long is rolled back."""


@dataclass(frozen=True)
class Waited:
    code: int
    seconds: float
    out: str
    err: str
    ended: float
    """When it exited (epoch seconds, the lab's engines share the host's clock)."""


def run_wait(lab: Lab, *args: str, timeout: str = "60s") -> Waited:
    exe = Path(sys.executable).with_name("swarm-sentinel")
    cmd = [
        str(exe), "wait", "--docker.host", lab.node("m1").url,
        "--poll-interval", f"{POLL:g}s", "--timeout", timeout, *args,
    ]  # fmt: skip
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    seconds = time.monotonic() - started
    return Waited(proc.returncode, seconds, proc.stdout, proc.stderr, time.time())


@dataclass
class States:
    """When the test first saw each update state of a service (epoch seconds)."""

    seen: dict[str, float] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)


@contextmanager
def watching(made: Services, sid: str) -> Iterator[States]:
    """Each update state the service goes through, seen every 0.2 s from beside ``wait``:
    when the engine changed it, to within a fraction of a second."""
    states = States()

    def watch() -> None:
        while not states.stop.is_set():
            state = update_status(made, sid).get("State", "")
            states.seen.setdefault(state, time.time())
            states.stop.wait(0.2)

    thread = threading.Thread(target=watch, daemon=True, name="update-states")
    thread.start()
    try:
        yield states
    finally:
        states.stop.set()
        thread.join(10)


def first_failure(made: Services, sid: str) -> float:
    """When the first task of the failing version failed (what pauses or rolls back the
    update), by the engine's clock."""
    failed = [
        t
        for t in made.tasks(sid)
        if t["Status"]["State"] == "failed" and t["Spec"]["ContainerSpec"]["Command"] == list(BAD)
    ]
    assert failed, "no task of the new version failed"
    return min(parse_time(t["Status"]["Timestamp"]) for t in failed)


def deployable(made: Services, name: str, action: str, **kw: object) -> str:
    """A running service with a short update monitor window; its deploy fails by ``action``."""
    sid = made.create(
        name,
        GOOD,
        replicas=2,
        stop_grace=1,
        restart_delay=1,
        update_failure_action=action,
        update_monitor=MONITOR,
        **kw,  # type: ignore[arg-type]
    )
    wait_for(lambda: running(made, sid) == 2, 30, f"{name} running")
    return sid


def running(made: Services, sid: str) -> int:
    return sum(
        1
        for t in made.tasks(sid)
        if t["Status"]["State"] == "running" and t["DesiredState"] == "running"
    )


def update_status(made: Services, sid: str) -> dict[str, str]:
    return dict(made.inspect(sid).get("UpdateStatus") or {})


def start_sentinel(lab: Lab, sentinels: list[Sentinel], *args: str) -> Sentinel:
    """On the leader's engine: only its healer acts (earlier tests may have moved it)."""
    proc = Sentinel(lab.wait_leader().url, list(args)).start()
    sentinels.append(proc)
    return proc


def test_a_good_deploy_converges_and_its_progress_reaches_every_task(
    lab: Lab, made: Services, sentinels: list[Sentinel]
) -> None:
    sid = deployable(made, "verdict-good", "rollback")
    proc = start_sentinel(lab, sentinels, "--no-healer.enabled")
    labels = {"service_name": "verdict-good", "stack": ""}
    proc.wait_value("dockerswarm_service_replicas_updated", 2, labels)
    made.set_command(sid, NEW_GOOD)
    # The exporter sees the new spec's tasks as they come: fewer than all at first (the
    # old ones do not run the new spec; each new one is watched for 2 s), then every one.
    updated = "dockerswarm_service_replicas_updated"
    wait_for(lambda: (proc.value(updated, **labels) or 0) < 2, 10, "the update under way")

    def progress() -> bool:
        state = proc.series("dockerswarm_service_update_state", **labels)
        completed = state.get(frozenset({*labels.items(), ("state", "completed")}))
        return proc.value(updated, **labels) == 2 and completed == 1

    done = run_wait(lab, "--service", "verdict-good")
    assert done.code == 0, done
    assert "verdict-good: converged, 2/2 on its current spec" in done.out
    assert "1 service converged" in done.out and done.err == ""
    wait_for(progress, 30, "replicas_updated 2 of 2 with the update completed")
    assert made.command(sid) == list(NEW_GOOD)
    assert proc.value("dockerswarm_service_replicas_desired", **labels) == 2
    # The service did not change since: done at once.
    again = run_wait(lab, "--service", "verdict-good")
    assert again.code == 0 and again.seconds < 5, again
    print(f"good deploy: wait took {done.seconds:.1f}s; again {again.seconds:.1f}s")


def test_a_failing_deploy_is_rolled_back_wait_says_so_and_the_alert_fires(
    lab: Lab, made: Services, sentinels: list[Sentinel]
) -> None:
    sid = deployable(made, "verdict-rollback", "rollback")
    proc = start_sentinel(lab, sentinels, "--no-healer.enabled")
    with running_prometheus([f"127.0.0.1:{proc.port}"]) as prom:
        with watching(made, sid) as states:
            made.set_command(sid, BAD)
            failed = run_wait(lab, "--service", "verdict-rollback")
        # The engine sees the new task fail within the monitor window and starts the
        # rollback (the node's report of the failure takes up to a few seconds to reach
        # the managers on a busy machine); wait says so at its next poll. Before that,
        # the old task stops (1 s) and the new one starts.
        assert failed.code == 1, failed
        lag = failed.ended - states.seen["rollback_started"]
        assert lag <= POLL + 1.5, f"wait ended {lag:.1f}s after the rollback started"
        after_failure = failed.ended - first_failure(made, sid)
        # The engine's share (its report of the failure reaching the managers) grows on a
        # busy machine: a bound for sanity only, wait's own share is ``lag``.
        assert after_failure <= MONITOR + POLL + 10, f"{after_failure:.1f}s after the failure"
        line = failed.err.strip()
        assert line.startswith("verdict-rollback: rolled back: "), failed
        assert "update rolled back due to failure" in line or "rollback" in line, line
        assert "non-zero exit (3)" in line, line
        wait_for(
            lambda: update_status(made, sid).get("State") == "rollback_completed",
            30,
            "the engine's rollback to complete",
        )
        assert made.command(sid) == list(GOOD)

        def fires() -> bool:
            return any(
                a.name == "SwarmServiceRolledBack"
                and a.state == "firing"
                and a.labels.get("service_name") == "verdict-rollback"
                for a in prom.alerts()
            )

        wait_for(fires, 30, "SwarmServiceRolledBack firing")
    labels = {"service_name": "verdict-rollback", "stack": ""}
    info = proc.series("dockerswarm_service_update_info", **labels)
    assert [dict(k)["message"] for k in info] == ["rollback completed"]
    assert proc.value("dockerswarm_service_update_completed_timestamp_seconds", **labels)
    # A service whose last update was rolled back fails at once: its deploy failed.
    assert run_wait(lab, "--service", "verdict-rollback").code == 1
    print(f"rolled back: wait exited 1 after {failed.seconds:.1f}s, {lag:.1f}s after the "
          f"rollback started, {after_failure:.1f}s after the task failed: {line}")  # fmt: skip


def test_a_paused_deploy_and_the_healer_rolls_it_back_once(
    lab: Lab, made: Services, sentinels: list[Sentinel]
) -> None:
    sid = deployable(
        made,
        "verdict-paused",
        "pause",
        labels={LABEL_HEAL: "true", LABEL_UPDATE_PAUSED: "rollback"},
    )
    proc = start_sentinel(
        lab, sentinels, "--healer.threshold", f"{THRESHOLD:g}s", "--healer.interval", "1s"
    )
    with watching(made, sid) as states:
        made.set_command(sid, BAD)
        paused = run_wait(lab, "--service", "verdict-paused")
    assert paused.code == 3, paused
    lag = paused.ended - states.seen["paused"]
    assert lag <= POLL + 1.5, f"wait ended {lag:.1f}s after the update paused"
    after_failure = paused.ended - first_failure(made, sid)
    assert after_failure <= MONITOR + POLL + 10, f"{after_failure:.1f}s after the failure"
    assert paused.err.startswith("verdict-paused: update paused: update paused due to"), paused
    assert "non-zero exit (3)" in paused.err
    # The healer rolls it back once it has been paused for its threshold: the engine
    # puts the previous spec back.
    wait_for(
        lambda: update_status(made, sid).get("State") == "rollback_completed",
        THRESHOLD + 30,
        "the healer's rollback to complete",
    )
    status = update_status(made, sid)
    assert status["Message"] == "rollback completed"
    assert made.command(sid) == list(GOOD)
    # A rollback asked for starts anew: its start is when the healer asked, once the
    # service had been paused for its threshold.
    asked = parse_time(status["StartedAt"]) - states.seen["paused"]
    assert THRESHOLD - 0.5 <= asked <= THRESHOLD + 4, f"rolled back {asked:.1f}s after the pause"
    labels = {"service_name": "verdict-paused", "stack": ""}
    actions = proc.series("dockerswarm_healer_actions_total", **labels)
    writes = {
        (dict(k)["reason"], dict(k)["result"], dict(k)["action"]): v
        for k, v in actions.items()
        if dict(k)["action"] != "none"
    }
    assert writes == {("update_paused", "rolled_back", "rollback"): 1}
    # Once: never rolled back again (that would put the failed spec back), nor forced.
    version = made.inspect(sid)["Version"]["Index"]
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline:
        assert made.command(sid) == list(GOOD)
        assert made.inspect(sid)["Version"]["Index"] == version
        time.sleep(0.5)
    assert made.force_update_counter(sid) == 0
    assert wait_for(lambda: running(made, sid) == 2, 30, "both tasks on the old spec")
    done = run_wait(lab, "--service", "verdict-paused")
    assert done.code == 1 and "rolled back: rollback completed" in done.err, done
    print(f"paused: wait exited 3 after {paused.seconds:.1f}s ({lag:.1f}s after the pause, "
          f"{after_failure:.1f}s after the task failed); the healer rolled it back "
          f"{asked:.1f}s after (threshold {THRESHOLD:g}s)")  # fmt: skip


def test_a_service_that_cannot_be_placed_times_out_naming_no_suitable_node(
    lab: Lab, made: Services
) -> None:
    made.create("verdict-nowhere", GOOD, constraints=["node.labels.nowhere==true"])
    late = run_wait(lab, "--service", "verdict-nowhere", timeout="5s")
    assert late.code == 5, late
    line = late.err.strip()
    assert line.startswith("verdict-nowhere: not converged in time: after 5s, 0/1"), line
    assert "a task pending: no suitable node" in line, line
    assert "node.labels.nowhere==true excludes 4" in line, line
    assert 5 <= late.seconds < 5 + POLL + 4, late
    print(f"cannot be placed: {line}")
