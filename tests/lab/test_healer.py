"""The healer against the real lab swarm.

The broken service of these tests fails until a flag file exists, with a
restart policy that gives up after 2 attempts: once it gave up, Swarm leaves
it at 0/1 even after the flag appears. Only a force brings it back.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from healer.settings import LABEL_HEAL, LABEL_REBALANCE, LABEL_STATE
from healer.state import HealState
from lab import Lab
from lab.engines import ENGINES
from tests.support.sentinel import Sentinel, wait_for
from tests.support.swarm_services import Services

pytestmark = pytest.mark.lab
LAB_ENGINES = ENGINES  # every scenario here must hold on 20.10 and on Engine 29

FAST = [
    "--healer.threshold",
    "3s",
    "--healer.interval",
    "1s",
    "--healer.cooldown",
    "10m",
]


def leader(lab: Lab) -> str:
    """Only the healer whose engine is the leader acts; earlier tests may have moved it."""
    return lab.wait_leader().name


def start(lab: Lab, sentinels: list[Sentinel], node: str, *args: str) -> Sentinel:
    proc = Sentinel(lab.node(node).url, [*FAST, *args]).start()
    sentinels.append(proc)
    return proc


def broken_service(
    made: Services, tmp_path: Path, name: str, wait: bool = True, **labels: str
) -> str:
    """A service that has given up (restart policy exhausted), and whose cause is not fixed."""
    flagdir = tmp_path / name
    flagdir.mkdir()
    sid = made.create(
        name,
        ["sh", "-c", "test -f /flag/ok || exit 1; exec sleep 3600"],
        labels={LABEL_HEAL: "true", **labels},
        restart_condition="on-failure",
        restart_max_attempts=2,
        restart_delay=0.2,
        binds=[f"{flagdir}:/flag"],
    )
    if wait:
        wait_given_up(made, sid)
    return sid


def wait_given_up(made: Services, sid: str) -> None:
    wait_for(lambda: gave_up(made, sid), 60, f"{sid}'s restart policy to give up")
    stays(lambda: gave_up(made, sid), 3, f"{sid} given up")


def gave_up(made: Services, sid: str) -> bool:
    # A restarted task is created with desired state "ready" and only promoted
    # to "running" after the restart delay: "gave up" means every task is
    # meant to be shut down and has stopped.
    tasks = made.tasks(sid)
    return len(tasks) >= 3 and all(
        t["DesiredState"] in ("shutdown", "remove")
        and t["Status"]["State"] in ("failed", "rejected", "shutdown", "complete")
        for t in tasks
    )


def fix(tmp_path: Path, name: str) -> None:
    (tmp_path / name / "ok").write_text("fixed\n")


def running(made: Services, sid: str) -> int:
    # Tasks on a node that went down still say "running"; the orchestrator
    # sets their desired state to shutdown and starts replacements.
    return sum(
        1
        for t in made.tasks(sid)
        if t["Status"]["State"] == "running" and t["DesiredState"] == "running"
    )


def stays(probe: object, seconds: float, what: str) -> None:
    """Assert ``probe()`` holds at every check for ``seconds`` (an absence, not a hope)."""
    assert callable(probe)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert probe(), f"{what} stopped holding"
        time.sleep(0.5)


def actions(proc: Sentinel, name: str, result: str) -> float:
    return sum(proc.series("dockerswarm_healer_actions_total", service_name=name,
                           result=result).values())  # fmt: skip


def test_heals_a_service_whose_restart_policy_gave_up(
    lab: Lab, made: Services, sentinels: list[Sentinel], tmp_path: Path
) -> None:
    healthy = made.create("steady", labels={LABEL_HEAL: "true"})
    sid = broken_service(made, tmp_path, "flaky")
    fix(tmp_path, "flaky")
    # Without the healer Swarm leaves it down although the cause is gone.
    stays(lambda: running(made, sid) == 0, 8, "flaky staying at 0/1 without the healer")
    before = made.force_update_counter(sid)
    steady_before = made.force_update_counter(healthy)
    proc = start(lab, sentinels, leader(lab))
    wait_for(lambda: running(made, sid) == 1, 60, "flaky to run after the healer forced it")
    assert made.force_update_counter(sid) == before + 1
    assert actions(proc, "flaky", "forced") == 1
    state = HealState.decode(made.labels(sid)[LABEL_STATE])
    assert len(state.forces) == 1 and state.next_allowed > time.time()
    assert proc.value("dockerswarm_healer_acting") == 1
    assert made.force_update_counter(healthy) == steady_before


def test_dry_run_reports_and_writes_nothing(
    lab: Lab, made: Services, sentinels: list[Sentinel], tmp_path: Path
) -> None:
    sid = broken_service(made, tmp_path, "dry")
    before = made.force_update_counter(sid)
    proc = start(lab, sentinels, leader(lab), "--healer.dry-run")
    wait_for(lambda: actions(proc, "dry", "dry_run") >= 1, 30, "a dry_run decision")
    stays(lambda: made.force_update_counter(sid) == before, 5, "no write in dry run")
    assert LABEL_STATE not in made.labels(sid)


def test_rate_limit_across_the_swarm(
    lab: Lab, made: Services, sentinels: list[Sentinel], tmp_path: Path
) -> None:
    sids = [broken_service(made, tmp_path, f"rl{i}", wait=False) for i in range(5)]
    for sid in sids:
        wait_given_up(made, sid)
    before = {sid: made.force_update_counter(sid) for sid in sids}
    start(lab, sentinels, leader(lab), "--healer.rate-limit", "2")

    def forced() -> int:
        return sum(1 for sid in sids if made.force_update_counter(sid) > before[sid])

    wait_for(lambda: forced() == 2, 30, "two forces")
    stays(lambda: forced() == 2, 20, "no third force within the minute")


def test_two_instances_force_once(
    lab: Lab, made: Services, sentinels: list[Sentinel], tmp_path: Path
) -> None:
    sid = broken_service(made, tmp_path, "twice")
    before = made.force_update_counter(sid)
    first = leader(lab)
    other = next(m.name for m in lab.managers if m.name != first)
    a = start(lab, sentinels, first)
    b = start(lab, sentinels, other)
    wait_for(lambda: made.force_update_counter(sid) == before + 1, 30, "one force")
    stays(lambda: made.force_update_counter(sid) == before + 1, 10, "exactly one force")
    acting = [a.value("dockerswarm_healer_acting"), b.value("dockerswarm_healer_acting")]
    assert sorted(v or 0 for v in acting) == [0, 1]


def test_back_off_survives_a_restart(
    lab: Lab, made: Services, sentinels: list[Sentinel], tmp_path: Path
) -> None:
    sid = broken_service(made, tmp_path, "again")
    cooldown = ["--healer.cooldown", "10s"]
    first = start(lab, sentinels, leader(lab), *cooldown)
    wait_for(lambda: LABEL_STATE in made.labels(sid), 30, "the first force")
    s1 = HealState.decode(made.labels(sid)[LABEL_STATE])
    first.stop()
    # Forced, still broken (the cause is not fixed): a new healer process must
    # wait out the stored cooldown, then double it.
    start(lab, sentinels, leader(lab), *cooldown)
    wait_for(
        lambda: len(HealState.decode(made.labels(sid).get(LABEL_STATE)).forces) == 2,
        60,
        "the second force",
    )
    s2 = HealState.decode(made.labels(sid)[LABEL_STATE])
    assert s2.forces[1] >= s1.next_allowed - 1
    assert s2.next_allowed - s2.forces[1] == pytest.approx(20, abs=1)


def test_no_force_without_quorum(
    lab: Lab, made: Services, sentinels: list[Sentinel], tmp_path: Path
) -> None:
    sid = broken_service(made, tmp_path, "noquorum")
    before = made.force_update_counter(sid)
    # A long threshold: the service is not due before quorum is gone.
    keep = leader(lab)
    proc = start(lab, sentinels, keep, "--healer.threshold", "45s")
    try:
        for m in lab.managers:
            if m.name != keep:
                lab.stop_engine(m.name)
        proc.wait_value("dockerswarm_cluster_has_leader", 0, timeout=90)
        wait_for(
            lambda: actions(proc, "noquorum", "skipped_no_quorum") >= 1,
            60,
            "the healer to report skipped_no_quorum",
        )
        assert actions(proc, "noquorum", "forced") == 0
        # Stopped before quorum returns: once it does, forcing is right again.
        proc.stop()
    finally:
        lab.restore()
    assert made.force_update_counter(sid) == before


def test_rebalance_after_node_returns(lab: Lab, made: Services, sentinels: list[Sentinel]) -> None:
    nodes = ["m2", "m3", "w1"]
    for n in nodes:
        lab.add_node_label(n, "rb", "yes")
    try:
        on = made.create("spread-on", replicas=6, constraints=["node.labels.rb==yes"],
                         labels={LABEL_HEAL: "true", LABEL_REBALANCE: "true"})  # fmt: skip
        off = made.create("spread-off", replicas=6, constraints=["node.labels.rb==yes"],
                          labels={LABEL_HEAL: "true"})  # fmt: skip
        wait_for(lambda: running(made, on) == 6 and running(made, off) == 6, 60, "12 running")
        lab.stop_engine("w1")
        wait_for(lambda: running(made, on) == 6 and running(made, off) == 6 and
                 on_node(lab, made, on, "w1") == 0, 90, "tasks moved off w1")  # fmt: skip
        lab.start_engine("w1")
        lab.rejoin(["w1"], timeout=60)
        before_off = made.force_update_counter(off)
        start(lab, sentinels, leader(lab))
        wait_for(
            lambda: sorted(per_node(lab, made, on, nodes)) == [2, 2, 2],
            120,
            "spread-on spread again to 2/2/2",
        )
        assert made.force_update_counter(off) == before_off
        assert on_node(lab, made, off, "w1") == 0
    finally:
        for n in nodes:
            lab.remove_node_label(n, "rb")


def per_node(lab: Lab, made: Services, sid: str, nodes: list[str]) -> list[int]:
    return [on_node(lab, made, sid, n) for n in nodes]


def on_node(lab: Lab, made: Services, sid: str, node: str) -> int:
    nid = lab.swarm_id(node)
    return sum(
        1
        for t in made.tasks(sid)
        if t.get("NodeID") == nid
        and t["Status"]["State"] == "running"
        and t["DesiredState"] == "running"
    )
