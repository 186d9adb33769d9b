"""Recording rules the dashboards read, so that every panel query fits on a screen.

They ride in grafana/alerts/swarm-sentinel.rules.yml, before the alerts: wherever the
alerts are loaded, the dashboards find them. Names follow Prometheus' convention,
``level:metric:operations`` (the labels kept, the metric, what was done to it); the
constants below are their one home, the dashboard modules import them.

Counter increments (``instance:<counter>:increase1m``): per series, what the counter
counted since the previous evaluation, exactly, a minute apart (the group's interval is
pinned): ``x - x offset 1m``; after a reset, the new value (as increase() counts it);
for a series born within the minute, its whole value, where its exporter was scraped a
minute before or started within it (the alert file's header says why). Evaluations a
minute apart tile time, so ``sum_over_time(r[W])`` is what the counter counted within W,
for any W a panel asks ($__range included), where increase() over W would be needed
otherwise, each time with the born series and their guard: the queries 1,000 characters
long. Per series, ``instance`` kept: a panel takes the max over the instances (cluster
series, every manager reports them) or their sum (per-node series) of the sums over
time, as the queries did of increase(). The alerts keep their own increase(): they do
not depend on these rules' evaluation.
"""

from __future__ import annotations

from grafana.config import Config
from grafana.rules import Group, Record

WINDOW = "1m"

HEALER_ACTIONS = "instance:dockerswarm_healer_actions:increase1m"
TASK_FAILURES = "instance:dockerswarm_service_task_failures:increase1m"
CONTAINER_EXITS = "instance:dockerswarm_container_exits:increase1m"
CONTAINER_STARTS = "instance:dockerswarm_container_starts:increase1m"
CONTAINER_UNHEALTHY = "instance:dockerswarm_container_unhealthy:increase1m"
COUNTERS = {
    HEALER_ACTIONS: "dockerswarm_healer_actions_total",
    TASK_FAILURES: "dockerswarm_service_task_failures_total",
    CONTAINER_EXITS: "dockerswarm_container_exits_total",
    CONTAINER_STARTS: "dockerswarm_container_starts_total",
    CONTAINER_UNHEALTHY: "dockerswarm_container_unhealthy_total",
}
# Exits that are failures: not exit 0 (a finished task), nor a container the engine
# stopped (a rolling update, a scale down, a drain, a removal, a force).
FAILED_EXITS = 'reason!~"completed|stopped"'

SCHEDULABLE = "cluster_node:dockerswarm_node_schedulable:max"
NODE_KINDS = ("cpus", "memory_bytes", "reserved_cpus", "reserved_memory_bytes")

SERVICE_KEY = "cluster, service_name, stack"
DESIRED = "cluster_service:dockerswarm_service_replicas_desired:max"
RUNNING = "cluster_service:dockerswarm_service_replicas_running:max"
UPDATED = "cluster_service:dockerswarm_service_replicas_updated:max"
MISSING = "cluster_service:dockerswarm_service_replicas:missing"
UPDATE_STATE = "cluster_service_state:dockerswarm_service_update_state:max"
UPDATE_BEHIND = "cluster_service:dockerswarm_service_update_behind:max"
IN_PROGRESS = 'state=~"updating|rollback_started|paused|rollback_paused"'


def on_schedulable(kind: str) -> str:
    """The record of a node's `kind` (NODE_KINDS) on the ready, active nodes."""
    return f"cluster_node:dockerswarm_node_{kind}:schedulable"


def crash_loop_exits(config: Config) -> str:
    """The record of the failed exits per service and node within the crash-loop window,
    of the services crash looping (as the services dashboard counts them)."""
    return (
        "cluster_service_node:dockerswarm_container_crash_loop_exits:"
        f"increase{config.thresholds.crash_loop_window}"
    )


def increments(counter: str) -> str:
    """What `counter` counted in the minute before each evaluation, per series."""
    return f"""\
(
  ({counter} - {counter} offset {WINDOW}) >= 0
)
or
(
  {counter} < {counter} offset {WINDOW}
)
or
(
  ({counter} unless {counter} offset {WINDOW})
  and on (cluster, instance, job) (
    up offset {WINDOW} == 1
    or process_start_time_seconds > time() - 60
  )
)
"""


def _crash_loop(config: Config) -> Record:
    t = config.thresholds
    node = "cluster, service_name, stack, hostname"
    failed = f"sum_over_time({CONTAINER_EXITS}{{{FAILED_EXITS}}}[{t.crash_loop_window}])"
    return Record(
        crash_loop_exits(config),
        why=f"The services dashboard's crash loops: {t.dashboard_crash_loop_exits} failed "
        f"exits or more within {t.crash_loop_window} over all nodes (the alert waits for "
        f"{t.crash_loop_exits}), on each node they ended on.",
        expr=f"""\
sum by ({node}) ({failed}) > 0
and on ({SERVICE_KEY})
sum by ({SERVICE_KEY}) ({failed}) >= {t.dashboard_crash_loop_exits}
""",
    )


def _schedulable() -> list[Record]:
    node = "max by (cluster, node_id, hostname)"
    records = [
        Record(
            SCHEDULABLE,
            why="1 for the nodes the scheduler places tasks on: ready and active.",
            expr=f"""\
{node} (dockerswarm_node_state{{state="ready"}}) == 1
and on (cluster, node_id)
max by (cluster, node_id) (dockerswarm_node_availability{{availability="active"}}) == 1
""",
        )
    ]
    records.extend(
        Record(
            on_schedulable(kind),
            expr=f"{node} (dockerswarm_node_{kind}) and on (cluster, node_id) {SCHEDULABLE}",
        )
        for kind in NODE_KINDS
    )
    return records


def _services() -> list[Record]:
    per_service = f"max by ({SERVICE_KEY})"
    return [
        Record(DESIRED, f"{per_service} (dockerswarm_service_replicas_desired)"),
        Record(RUNNING, f"{per_service} (dockerswarm_service_replicas_running)"),
        Record(UPDATED, f"{per_service} (dockerswarm_service_replicas_updated)"),
        Record(MISSING, f"{DESIRED} - {RUNNING} > 0", why="The services short of replicas."),
        Record(
            UPDATE_STATE,
            f"max by ({SERVICE_KEY}, state) (dockerswarm_service_update_state)",
        ),
        Record(
            UPDATE_BEHIND,
            why="1 for the services not where their deploy meant them to be: updating, "
            "rolling back or paused in either, or with fewer tasks on their current spec "
            "than they want (an update the engine has not started yet, a service short of "
            "tasks).",
            expr=f"""\
max by ({SERVICE_KEY}) ({UPDATE_STATE}{{{IN_PROGRESS}}} == 1)
or on ({SERVICE_KEY})
({UPDATED} < on ({SERVICE_KEY}) {DESIRED}) * 0 + 1
""",
        ),
    ]


def recording(config: Config) -> list[Group]:
    return [
        Group(
            "swarm-sentinel.increments",
            why="Read by the dashboards (grafana/recording_rules.py says how they count). "
            "The interval is pinned: the increments are a minute apart.",
            interval=WINDOW,
            rules=[
                *(Record(name, increments(counter)) for name, counter in COUNTERS.items()),
                _crash_loop(config),
            ],
        ),
        Group(
            "swarm-sentinel.recording",
            why="Read by the dashboards: the nodes and services once (every manager's "
            "instance reports them), as the panels join them.",
            rules=[*_schedulable(), *_services()],
        ),
    ]
