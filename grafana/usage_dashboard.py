"""The usage dashboard: what the swarm's tasks and nodes use, beside what swarm-sentinel
says they reserve and may use. Its panels read the usage jobs of compose/usage.yml
(cAdvisor, node-exporter, the engines' metrics-addr) through the records of
grafana/usage_rules.py; without those jobs they stay empty."""

from __future__ import annotations

from grafana.builder import (
    JSON,
    NODE,
    SVC,
    SVC_NODE,
    Dashboard,
    column_override,
    merge_organize,
    steps,
)
from grafana.config import Config, words
from grafana.usage_rules import (
    DISK_FREE_SHARE,
    DISK_PREDICTED,
    FILESYSTEM_KEY,
    RAFT_LATENCY,
    SCHEDULING_DELAY,
    SERVICE_KEY,
    TASK_CPU,
    TASK_CPU_OF_LIMIT,
    TASK_MEMORY,
    TASK_MEMORY_OF_LIMIT,
)

# Legends: what a series is, then its swarm.
PER_SERVICE, PER_NODE = "{{service_name}} {{cluster}}", "{{hostname}} {{cluster}}"
PER_FILESYSTEM = "{{hostname}} {{mountpoint}} {{cluster}}"


def per_service(aggregation: str, record: str) -> str:
    """A task record per service: `aggregation` max, its task with the most (a limit is
    per task), or sum, all its tasks."""
    return f"{aggregation} by ({SERVICE_KEY}) ({record}{{{SVC_NODE}}})"


def organized(exclude: list[str], *columns: tuple[str, str]) -> list[JSON]:
    """Merged instant queries with `columns` (label or value, title) in their order."""
    return merge_organize(exclude, [name for name, _ in columns], dict(columns))


def per_task(kind: str) -> str:
    """What swarm-sentinel says a service's task reserves or may use (`kind`:
    reservation_cpus, limit_memory_bytes, ...), once (every manager reports it)."""
    return f"max by ({SERVICE_KEY}) (dockerswarm_service_{kind}{{{SVC}}})"


def usage_dashboard(config: Config) -> Dashboard:
    t = config.thresholds
    near = steps((None, "green"), (t.memory_near_limit, "red"))
    d = Dashboard(
        uid="swarm-sentinel-usage",
        title="Swarm Sentinel / Usage",
        description=(
            "CPU, memory and disk the swarm's tasks and nodes use, against their "
            "reservations and limits, and the managers' raft and dispatcher latency: the "
            "usage jobs of compose/usage.yml (cAdvisor, node-exporter, the engines' "
            "metrics-addr), joined with swarm-sentinel's series."
        ),
    )
    d.row("Services: CPU and memory against reservations and limits (cAdvisor)")
    d.timeseries(
        "Memory of each service's largest task, of its limit",
        "Per service with a memory limit: the working set of its task closest to the "
        "limit, as a share of it (the limit is per task). At 100 % the kernel OOM-kills "
        f"the container; the line is alert SwarmServiceMemoryNearLimit's "
        f"({round(t.memory_near_limit * 100)} % for "
        f"{config.held('SwarmServiceMemoryNearLimit')}).",
        [(per_service("max", TASK_MEMORY_OF_LIMIT), PER_SERVICE)],
        unit="percentunit",
        threshold_line=near,
    )
    d.timeseries(
        "CPU of each service's busiest task, of its limit",
        "Per service with a CPU limit: the CPU its busiest task used over 5 minutes, as a "
        "share of the limit. At 100 % the kernel throttles it: slow, not killed.",
        [(per_service("max", TASK_CPU_OF_LIMIT), PER_SERVICE)],
        unit="percentunit",
        threshold_line=near,
    )
    d.timeseries(
        "Memory per service, all tasks",
        "The working set of all a service's task containers together.",
        [(per_service("sum", TASK_MEMORY), PER_SERVICE)],
        unit="bytes",
    )
    d.timeseries(
        "CPU per service, all tasks",
        "The CPU all a service's task containers used, in cores, over 5 minutes.",
        [(per_service("sum", TASK_CPU), PER_SERVICE)],
        unit="short",
        axis_label="cores",
    )
    d.table(
        "Usage against reservations and limits, per task",
        "Per service: what its busiest task uses (CPU over 5 minutes, memory now) beside "
        "what each task reserves (the scheduler's share of a node) and may use at most "
        "(empty: no reservation, no limit). A task using far less than it reserves "
        "keeps others off the node; one near its limit is throttled (CPU) or OOM-killed "
        "(memory).",
        [
            (per_service("max", TASK_CPU), ""),
            (per_task("reservation_cpus"), ""),
            (per_task("limit_cpus"), ""),
            (per_service("max", TASK_MEMORY), ""),
            (per_task("reservation_memory_bytes"), ""),
            (per_task("limit_memory_bytes"), ""),
        ],
        organized(
            [],
            ("cluster", "Cluster"),
            ("service_name", "Service"),
            ("stack", "Stack"),
            ("Value #A", "CPU used (busiest task)"),
            ("Value #B", "CPUs reserved"),
            ("Value #C", "CPU limit"),
            ("Value #D", "Memory used (largest task)"),
            ("Value #E", "Memory reserved"),
            ("Value #F", "Memory limit"),
        ),
        sort_by="Memory used (largest task)",
        overrides=[
            column_override(name, ("unit", "bytes"))
            for name in ("Memory used (largest task)", "Memory reserved", "Memory limit")
        ],
    )

    d.row("Nodes: disk (node-exporter)")
    d.timeseries(
        "Disk space free",
        "The share of each filesystem of the nodes that is free. Below the line, a "
        f"filesystem that fills within {words(t.disk_fill_horizon)} raises "
        "SwarmNodeDiskFillingUp.",
        [(f"{DISK_FREE_SHARE}{{{NODE}}}", PER_FILESYSTEM)],
        unit="percentunit",
        threshold_line=steps((None, "orange"), (t.disk_fill_free_share, "green")),
    )
    d.timeseries(
        f"Disk space free in {words(t.disk_fill_horizon)}, predicted",
        f"Each filesystem's free space {words(t.disk_fill_horizon)} from now, going on as "
        f"in the last {words(t.disk_fill_lookback)} (predict_linear). Below 0: full before "
        "then.",
        [(f"{DISK_PREDICTED}{{{NODE}}}", PER_FILESYSTEM)],
        unit="bytes",
        minimum=None,
        threshold_line=steps((None, "red"), (0, "green")),
    )
    d.table(
        f"Filesystems full within {words(t.disk_fill_horizon)}",
        "The filesystems whose predicted free space is below 0: how much is free now, and "
        "how much is missing by then.",
        [
            (
                f"{DISK_FREE_SHARE}{{{NODE}}} and on ({FILESYSTEM_KEY}) "
                f"{DISK_PREDICTED}{{{NODE}}} < 0",
                "",
            ),
            (f"{DISK_PREDICTED}{{{NODE}}} < 0", ""),
        ],
        organized(
            ["node_id"],
            ("cluster", "Cluster"),
            ("hostname", "Node"),
            ("mountpoint", "Mount point"),
            ("device", "Device"),
            ("Value #A", "Free now"),
            ("Value #B", "Predicted"),
        ),
        h=6,
        sort_by="Free now",
        overrides=[
            column_override("Free now", ("unit", "percentunit")),
            column_override("Predicted", ("unit", "bytes")),
        ],
    )

    d.row("Engines: raft and dispatcher (metrics-addr)")
    d.timeseries(
        "Raft transaction latency, 99th percentile",
        "Per manager: how long a change of the swarm's state (a service, a task, a node) "
        "took to be committed to the raft log by a quorum of managers, over 5 minutes. "
        "Slow disks or a slow network between managers show here first.",
        [(f"{RAFT_LATENCY}{{{NODE}}}", PER_NODE)],
        unit="s",
    )
    d.timeseries(
        "Dispatcher scheduling delay, 99th percentile",
        "Per manager: how long tasks took from created (NEW) to running, as the leader's "
        "dispatcher hears it from the nodes, over 5 minutes: a slow scheduler, slow image "
        "pulls or slow nodes.",
        [(f"{SCHEDULING_DELAY}{{{NODE}}}", PER_NODE)],
        unit="s",
    )
    return d
