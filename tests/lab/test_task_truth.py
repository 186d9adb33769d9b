"""Task truth from every engine, on the lab: one swarm-sentinel per node (as the global
stack runs it), each counting its own node's task containers, checked against each
node's own ``docker events`` (tests/support/node_events.py).

- Exits of tasks dying after 3 s and after 60 s: every one counted, with its reason
  and exit code, and the p99 delay from the container's death to the counter.
- An OOM kill (16 MiB limit, a shell doubling a string) and a failing health check,
  each reported as such; the managers' task says only ``non-zero exit (137)``.
- A removed service's series go from every node, a running one's stay.
- A worker's engine restarted under a crash loop: no exit lost, none counted twice.
- A task that fails once and comes back after its restart delay: the manager's
  instance counts the failure, confirms the recovery by fetching the replacement by
  ID (not listing the service's tasks again), and shows what the engine says.
- A replicated job, a one-shot service and a crash-looping service side by side: the
  job and the one-shot want nothing once done and are never forced; the crash loop is
  forced for what it is. Their completions are exact, unless the engine itself ran
  more than asked (both lab engines at times overrun a replicated job): then the run's warnings
  say so, and the job must still be left be.
"""

from __future__ import annotations

import statistics
import time
import warnings
from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack, closing
from functools import partial
from pathlib import Path

import pytest

from healer.settings import LABEL_HEAL
from lab import Lab
from tests.support.node_events import CounterSampler, Seen, node_events
from tests.support.sentinel import Sentinel, wait_for
from tests.support.swarm_services import EngineOverrun, Services

LAB_ENGINES = ("debian", "modern")
EXITS = "dockerswarm_container_exits_total"


def every_node(lab: Lab, stack: ExitStack, args: Sequence[str] = ()) -> list[Sentinel]:
    """One instance per node, each on its own engine, the healer off unless ``args``."""
    out = []
    for node in lab.nodes:
        proc = Sentinel(node.url, ["--no-healer.enabled", *args])
        stack.callback(proc.stop)
        out.append(proc.start())
    return out


def instance_of(lab: Lab, instances: Sequence[Sentinel], hostname: str) -> Sentinel:
    (node,) = [n for n in lab.nodes if n.hostname == hostname]
    return instances[lab.nodes.index(node)]


def series(
    lab: Lab, instances: Sequence[Sentinel], name: str, service: str
) -> dict[tuple[str, str], float]:
    """``name`` for ``service`` across the instances: (hostname, reason) -> value."""
    out: dict[tuple[str, str], float] = {}
    for inst in instances:
        for labels, value in inst.series(name, service_name=service).items():
            d = dict(labels)
            out[(d["hostname"], d.get("reason", ""))] = value
    return out


def delays(
    lab: Lab, truth: list[Seen], sampler: CounterSampler, service: str
) -> tuple[list[float], int]:
    """Seconds from each death to the counter of its node reaching it, and the deaths
    whose count never came."""
    out: list[float] = []
    missed = 0
    for node in lab.nodes:
        deaths = [e.at for e in truth if e.node == node.name and e.service == service]
        reached = sampler.moves.reached.get((node.hostname, service), [])
        for i, died in enumerate(sorted(deaths)):
            if i < len(reached):
                out.append(reached[i] - died)
            else:
                missed += 1
    return out, missed


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def test_every_exit_counted_with_reason_and_code_within_2s(lab: Lab, made: Services) -> None:
    fast, slow = "truth-fast", "truth-slow"
    with ExitStack() as stack:
        instances = every_node(lab, stack)
        truth = stack.enter_context(node_events(lab, [fast, slow]))
        sampler = stack.enter_context(CounterSampler(instances, EXITS))
        made.create(fast, ["sh", "-c", "sleep 3; exit 3"], replicas=4, restart_delay=1)
        made.create(slow, ["sh", "-c", "sleep 60; exit 7"], replicas=4, restart_delay=1)
        started = time.time()
        # Past the slow tasks' first deaths, with the fast ones dying all along.
        wait_for(lambda: len(truth.events("die", slow)) >= 4 or None, 120, "4 slow deaths")
        end = time.time()
        fast_deaths = [e for e in truth.events("die", fast) if e.at <= end]
        slow_deaths = [e for e in truth.events("die", slow) if e.at <= end]

        def caught_up() -> bool:
            return all(
                sampler.count(n.hostname, svc) >= sum(1 for e in deaths if e.node == n.name)
                for n in lab.nodes
                for svc, deaths in ((fast, fast_deaths), (slow, slow_deaths))
            )

        wait_for(caught_up, 10, "every death counted")
        fast_delays, fast_missed = delays(lab, fast_deaths, sampler, fast)
        slow_delays, slow_missed = delays(lab, slow_deaths, sampler, slow)
        by_reason = series(lab, instances, EXITS, fast)
        codes = series(lab, instances, "dockerswarm_container_last_exit_code", slow)
    print(
        f"\n{lab.config.engine}: {len(fast_deaths)} deaths after 3 s, {len(slow_deaths)} after "
        f"60 s over {end - started:.0f} s; delay p50/p99/max: fast "
        f"{statistics.median(fast_delays):.2f}/{p99(fast_delays):.2f}/{max(fast_delays):.2f} s, "
        f"slow {statistics.median(slow_delays):.2f}/{p99(slow_delays):.2f}/"
        f"{max(slow_delays):.2f} s; missed {fast_missed + slow_missed}"
    )
    assert len(fast_deaths) >= 40
    assert fast_missed + slow_missed == 0  # 99 % or more of at least 44: all of them
    assert p99(fast_delays) <= 2.0 and p99(slow_delays) <= 2.0
    assert {e.exit_code for e in fast_deaths} == {3}
    assert {reason for _, reason in by_reason} == {"nonzero_exit"}
    assert set(codes.values()) == {7.0}
    # Nothing counted twice: each node's counter is its own deaths, no more.
    for node in lab.nodes:
        counted = sum(v for (host, _), v in by_reason.items() if host == node.hostname)
        died = sum(1 for e in truth.events("die", fast) if e.node == node.name)
        assert counted <= died, (node.name, counted, died)
    assert not sampler.errors and not [f.errors for f in truth.followers if f.errors]


def test_oom_kill_and_failing_health_check_are_named(lab: Lab, made: Services) -> None:
    hog, sick = "truth-hog", "truth-sick"
    with ExitStack() as stack:
        instances = every_node(lab, stack)
        truth = stack.enter_context(node_events(lab, [hog, sick]))
        made.create(
            hog,
            ["sh", "-c", "x=aaaaaaaa; while true; do x=$x$x; done"],
            memory_limit=16 * 1024 * 1024,
            restart_delay=5,
        )
        made.create(sick, ["sleep", "3600"], health_cmd="exit 1", restart_delay=5)
        oom = wait_for(lambda: truth.events("oom", hog) or None, 60, "the hog's oom event")
        wait_for(lambda: truth.events("health_status: unhealthy", sick) or None, 60, "unhealthy")

        Found = tuple[dict[tuple[str, str], float], dict[tuple[str, str], float]]

        def reported() -> Found | None:
            hogs = series(lab, instances, EXITS, hog)
            sicks = series(lab, instances, "dockerswarm_container_unhealthy_total", sick)
            return (hogs, sicks) if any(r == "oom" for _, r in hogs) and sicks else None

        hogs, sicks = wait_for(reported, 10, "oom and unhealthy reported")
        host = next(n.hostname for n in lab.nodes if n.name == oom[0].node)
        code = instance_of(lab, instances, host).value(
            "dockerswarm_container_last_exit_code",
            node_id=lab.swarm_id(oom[0].node),
            hostname=host,
            service_name=hog,
            stack="",
        )
        # The managers' task says only what any exit 137 would say.
        task = next(t for t in made.tasks(made.ids[0]) if t["Status"].get("Err"))
    assert hogs[(host, "oom")] >= 1 and code == 137
    assert "137" in task["Status"]["Err"] and "oom" not in task["Status"]["Err"].lower()
    assert sum(sicks.values()) >= 1


def test_a_removed_services_container_series_go_and_a_live_ones_stay(
    lab: Lab, made: Services
) -> None:
    """Removed, a service's containers are destroyed on every node: its series go from
    every instance once --watch.containers-forget-after has passed, while those of a
    service still running stay."""
    gone, stays = "truth-gone", "truth-stays"
    with ExitStack() as stack:
        instances = every_node(lab, stack, ["--watch.containers-forget-after", "3s"])
        sid = made.create(gone, replicas=3, stop_grace=1)
        made.create(stays, replicas=3, stop_grace=1)
        starts = "dockerswarm_container_starts_total"

        def started(name: str) -> float | None:
            return sum(series(lab, instances, starts, name).values()) >= 3 or None

        wait_for(lambda: started(gone) and started(stays), 60, "both services' starts")
        before = series(lab, instances, starts, stays)
        made.remove(sid)
        wait_for(lambda: not series(lab, instances, starts, gone) or None, 60, "series gone")
        after = series(lab, instances, starts, stays)
    assert after == before


@pytest.mark.engines("debian")
def test_a_worker_engine_restart_loses_and_doubles_no_exit(
    restored_lab: Lab, made: Services
) -> None:
    lab = restored_lab
    (worker,) = lab.workers
    flappy = "truth-flappy"
    with ExitStack() as stack:
        proc = Sentinel(worker.url, ["--no-healer.enabled"])
        stack.callback(proc.stop)
        proc.start()
        truth = stack.enter_context(node_events(lab, [flappy]))
        sampler = stack.enter_context(CounterSampler([proc], EXITS))
        made.create(
            flappy,
            ["sh", "-c", "sleep 2; exit 5"],
            replicas=2,
            constraints=["node.role == worker"],
            restart_delay=1,
        )

        def on_worker() -> int | None:
            n = sum(1 for e in truth.events("die", flappy) if e.node == worker.name)
            return n if n >= 4 else None

        wait_for(on_worker, 60, "4 deaths on the worker")
        lab.stop_engine(worker)
        lab.start_engine(worker)
        again = lab.rejoin([worker], timeout=30)  # a second restart, if the engine needs it
        before = len(truth.events("die", flappy))
        wait_for(lambda: len(truth.events("die", flappy)) >= before + 4 or None, 60, "4 more")
        made.remove_all()  # no more deaths: the counts can settle

        def settled() -> tuple[int, int] | None:
            died = sum(1 for e in truth.events("die", flappy) if e.node == worker.name)
            counted = sampler.count(worker.hostname, flappy)
            return (died, counted) if died == counted else None

        try:
            died, counted = wait_for(settled, 15, "the worker's count equal to its deaths")
        except AssertionError:
            died = sum(1 for e in truth.events("die", flappy) if e.node == worker.name)
            raise AssertionError(
                f"{died} deaths on the worker, {sampler.count(worker.hostname, flappy)} "
                f"counted; reconnects: "
                f"{proc.series('dockerswarm_exporter_stream_reconnects_total')}"
            ) from None
        reconnects = proc.value("dockerswarm_exporter_stream_reconnects_total", stream="containers")
    print(
        f"\nworker engine restarted ({1 + len(again)} times): {died} deaths seen by its "
        f"engine, {counted} counted"
    )
    assert reconnects is not None and reconnects >= 1


def test_a_recovery_the_counts_prove_is_not_listed_and_shows_what_the_engine_says(
    lab: Lab, made: Services, tmp_path: Path
) -> None:
    name = "truth-recovers"
    flagdir = tmp_path / name
    flagdir.mkdir()
    ident = {"service_name": name, "stack": ""}
    with ExitStack() as stack:
        manager = lab.managers[0]
        proc = Sentinel(manager.url, ["--no-healer.enabled", "--watch.poll-interval", "1s"])
        stack.callback(proc.stop)
        proc.start()
        # The first task to make the flag fails 2 s in; its replacement waits out a
        # 6 s restart delay on a node (desired "ready"), seen by the polls in between.
        sid = made.create(
            name,
            ["sh", "-c", "if mkdir /flag/failed; then sleep 2; exit 3; fi; exec sleep 3600"],
            replicas=2,
            restart_delay=6,
            binds=[f"{flagdir}:/flag"],
        )

        def settled() -> bool:
            return (
                proc.value("dockerswarm_exporter_recoveries_unlisted_total") == 1
                and proc.value("dockerswarm_service_replicas_running", **ident) == 2
                and proc.value(
                    "dockerswarm_service_task_failures_total", **ident, reason="nonzero_exit"
                )
                == 1
            )

        try:
            wait_for(settled, 60, "the failure counted and the recovery confirmed, not listed")
        except AssertionError as exc:
            seen = {
                m: proc.series(m, service_name=name)
                for m in ("dockerswarm_service_replicas_running", "dockerswarm_service_tasks")
            }
            recoveries = proc.value("dockerswarm_exporter_recoveries_unlisted_total")
            raise AssertionError(f"{exc}: recoveries {recoveries}, {seen}") from None
        # What the engine says of the running tasks, per node, is what the instance shows
        # (every service's: the lab may run others).
        tasks = [t for t in made.tasks(sid) if t["DesiredState"] == "running"]
        assert sorted(t["Status"]["State"] for t in tasks) == ["running", "running"]
        with closing(lab.manager_client()) as api:
            current = api.tasks(filters={"desired-state": "running"})
        truth = Counter(t["NodeID"] for t in current if t["Status"]["State"] == "running")
        shown = {
            dict(labels)["node_id"]: value
            for labels, value in proc.series("dockerswarm_node_tasks", state="running").items()
            if value
        }
        assert proc.value("dockerswarm_service_tasks", **ident, state="running") == 2
        assert shown == dict(truth)


@pytest.mark.engines("debian", "modern")
def test_jobs_and_one_shots_are_left_be_and_a_crash_loop_is_forced(
    lab: Lab, made: Services
) -> None:
    job, once, loop = "truth-job", "truth-once", "truth-loop"
    with ExitStack() as stack:
        leader = lab.leader()
        assert leader is not None
        proc = Sentinel(
            leader.url,  # the leader's instance is the one that acts
            [
                "--healer.scope", "all",
                # Longer than the loop's tasks take to start under load (the modern
                # engine beside the other lab's tests): broken that long at the start,
                # the loop would be forced for its stuck tasks before it had failed.
                "--healer.threshold", "20s",
                "--healer.interval", "1s",
                "--healer.crash-loop-restarts", "3",
                "--healer.crash-loop-window", "2m",
                "--watch.poll-interval", "2s",
            ],
        )  # fmt: skip
        stack.callback(proc.stop)
        proc.start()
        job_id = made.create(
            job, ["sh", "-c", "sleep 2"], mode="replicated-job", replicas=4, max_concurrent=2
        )
        once_id = made.create(once, ["sh", "-c", "sleep 2"], replicas=2, restart_condition="none")
        loop_id = made.create(
            loop, ["sh", "-c", "sleep 4; exit 1"], replicas=2, labels={LABEL_HEAL: "true"}
        )

        def ident(name: str) -> dict[str, str]:
            return {"service_name": name, "stack": ""}

        def done(name: str, wanted: int) -> bool:
            # At least: the engine (both lab engines) at times runs a replicated job past its
            # completions (a swarmkit jobs bug, cf. moby/moby#53632), and the count
            # follows the engine's. Whether it is exact is checked below.
            succeeded = proc.value("dockerswarm_service_completions_succeeded", **ident(name))
            return (
                proc.value("dockerswarm_service_replicas_desired", **ident(name)) == 0
                and succeeded is not None
                and succeeded >= wanted
                and proc.value("dockerswarm_service_completions_desired", **ident(name)) == wanted
            )

        def completed(service_id: str) -> int:
            """The service's tasks the engine lists as complete."""
            return sum(t["Status"]["State"] == "complete" for t in made.tasks(service_id))

        def exact_unless_overrun(name: str, service_id: str, wanted: int) -> bool:
            """The count is what was asked, unless the engine completed more."""
            succeeded = proc.value("dockerswarm_service_completions_succeeded", **ident(name))
            return succeeded == wanted or completed(service_id) > wanted

        def values() -> str:
            return ", ".join(
                f"{name} {metric}={proc.value('dockerswarm_service_' + metric, **ident(name))}"
                for name in (job, once)
                for metric in (
                    "replicas_desired",
                    "completions_succeeded",
                    "completions_desired",
                )
            )

        try:
            wait_for(lambda: done(job, 4) and done(once, 2), 60, "the job and the one-shot done")
        except AssertionError as exc:
            tasks = [
                (
                    t["ServiceID"][:6],
                    t["Status"]["State"],
                    t["DesiredState"],
                    t["Status"].get("Err"),
                    (t.get("JobIteration") or {}).get("Index"),
                )
                for sid in (job_id, once_id)
                for t in made.tasks(sid)
            ]
            raise AssertionError(
                f"{exc}: {values()}; forced job {made.force_update_counter(job_id)} "
                f"times, one-shot {made.force_update_counter(once_id)}; "
                f"healer actions {proc.series('dockerswarm_healer_actions_total')}; tasks {tasks}"
            ) from None
        # Exact where the engine ran what was asked; an overrun is the engine's, and
        # said, while the rest of the test still holds the job left be.
        for name, sid, wanted in ((job, job_id, 4), (once, once_id, 2)):
            check = partial(exact_unless_overrun, name, sid, wanted)
            wait_for(check, 10, f"{name}'s completions exact")
            if (ran := completed(sid)) > wanted:
                warnings.warn(
                    f"the engine completed {ran} tasks of {name} for {wanted} wanted",
                    EngineOverrun,
                    stacklevel=1,
                )
        wait_for(lambda: made.force_update_counter(loop_id) >= 1 or None, 90, "the loop forced")
        actions = proc.series("dockerswarm_healer_actions_total")
        # Done, they stay done: desired 0, not down, over the next polls too.
        until = time.monotonic() + 5
        while time.monotonic() < until:
            assert done(job, 4) and done(once, 2)
            time.sleep(0.5)
    reasons = {dict(k)["reason"] for k in actions if dict(k)["service_name"] == loop}
    touched = {dict(k)["service_name"] for k in actions}
    assert "crash_looping" in reasons, actions
    assert not touched & {job, once}, actions
    assert made.force_update_counter(job_id) == 0
    assert made.force_update_counter(once_id) == 0
