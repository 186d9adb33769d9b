"""The hazards dashboard: what breaks a swarm without a warning. The CA root and the
nodes' certificates, a rotation held up, a locked manager, the cluster's settings, the
overlay networks' addresses, jobs that failed or overran, secrets and configs nobody
uses. Its panels read the series of issue 22's families (docs/metrics.md)."""

from __future__ import annotations

from grafana.builder import (
    ZERO,
    Dashboard,
    column_override,
    merge_organize,
    sel,
    steps,
    value_map,
)
from grafana.config import Config

DAY = 86400
NODE_MATCH = 'hostname=~"$node"'
SVC_MATCH = 'stack=~"$stack", service_name=~"$service"'
NET_KEY = "cluster, network_id, network_name"
SERVICE_KEY = "cluster, service_name, stack"
JOB_STATE_COLORS = {
    "active": ("active", "blue"),
    "succeeded": ("succeeded", "green"),
    "failed": ("failed", "red"),
}
LOCAL_STATE_COLORS = {
    "active": ("active", "green"),
    "locked": ("locked", "red"),
    "error": ("error", "red"),
    "pending": ("pending", "orange"),
    "inactive": ("inactive", "text"),
}


def network_share() -> str:
    """Per network: the share of its addresses in use."""
    used = (
        f"sum by ({NET_KEY}) (max by ({NET_KEY}, use) "
        f"({sel('dockerswarm_network_addresses_used')}))"
    )
    total = f"max by ({NET_KEY}) ({sel('dockerswarm_network_addresses')})"
    return f"{used} / on ({NET_KEY}) ({total} > 0)"


def inventory_count(kind: str, unused: bool) -> str:
    metric = sel(f"dockerswarm_{kind}_services")
    inner = f"max by (cluster, {kind}_id) ({metric})" + (" == 0" if unused else "")
    return f"count by (cluster) ({inner}) or {ZERO}"


def hazards(config: Config) -> Dashboard:
    t = config.thresholds
    d = Dashboard(
        uid="swarm-sentinel-hazards",
        title="Swarm Sentinel / Hazards",
        description=(
            "What breaks a swarm without a warning: certificates, locked managers, cluster "
            "settings, overlay addresses, failed jobs, unused secrets and configs "
            "(swarm-sentinel)."
        ),
    )
    d.row("Certificates and locks")
    d.stat(
        "CA root expires in",
        "Time left before the swarm's CA root certificate expires (from a manager's /info).",
        [
            (
                f"max by (cluster) ({sel('dockerswarm_cluster_ca_expiry_timestamp_seconds')})"
                " - time()",
                "{{cluster}}",
            )
        ],
        unit="s",
        thresholds=steps(
            (None, "red"),
            (t.node_certificate_expiry_days * DAY, "orange"),
            (t.ca_expiry_days * DAY, "green"),
        ),
    )
    d.stat(
        "CA rotation in progress",
        "1 while a CA root rotation is under way; it ends once every node has a "
        "certificate of the new root.",
        [
            (
                f"max by (cluster) ({sel('dockerswarm_cluster_ca_rotation_in_progress')})",
                "{{cluster}}",
            )
        ],
        thresholds=steps((None, "green"), (1, "orange")),
    )
    d.stat(
        "Node certificate lifetime",
        "The lifetime of the node certificates the swarm issues (docker swarm update "
        "--cert-expiry): a node off for longer cannot rejoin.",
        [
            (
                "max by (cluster) "
                f"({sel('dockerswarm_cluster_node_certificate_lifetime_seconds')})",
                "{{cluster}}",
            )
        ],
        unit="s",
    )
    d.table(
        "Nodes: their own state and certificate",
        "Per node: the swarm state its own engine reports (locked: run docker swarm "
        "unlock on it), when its certificate expires (--node.certificate-file), and "
        "whether it has a certificate of the current CA (0 during a rotation: not yet).",
        [
            (
                "max by (cluster, hostname, state) "
                f"({sel('dockerswarm_node_local_state', NODE_MATCH)}) == 1",
                "",
            ),
            (
                "min by (cluster, hostname) "
                f"({sel('dockerswarm_node_certificate_expiry_timestamp_seconds')}) - time()",
                "",
            ),
            (
                "max by (cluster, hostname) "
                f"({sel('dockerswarm_node_certificate_issuer_current', NODE_MATCH)})",
                "",
            ),
        ],
        merge_organize(
            exclude=["Value #A"],
            order=["cluster", "hostname", "state", "Value #B", "Value #C"],
            rename={
                "cluster": "Cluster",
                "hostname": "Node",
                "state": "Swarm state",
                "Value #B": "Certificate expires in",
                "Value #C": "Current CA",
            },
        ),
        w=12,
        h=8,
        overrides=[
            column_override(
                "Swarm state",
                ("mappings", [value_map(LOCAL_STATE_COLORS)]),
                ("custom.cellOptions", {"type": "color-text"}),
            ),
            column_override(
                "Certificate expires in",
                ("unit", "s"),
                (
                    "thresholds",
                    steps((None, "red"), (t.node_certificate_expiry_days * DAY, "green")),
                ),
                ("custom.cellOptions", {"type": "color-text"}),
            ),
            column_override(
                "Current CA",
                ("thresholds", steps((None, "orange"), (1, "green"))),
                ("custom.cellOptions", {"type": "color-text"}),
            ),
        ],
    )

    d.row("Cluster settings")
    d.stat(
        "Task history retention limit",
        "Tasks kept per slot (the default is 5): every one is in the Raft store and its "
        "snapshots, which a joining manager must receive.",
        [
            (
                f"max by (cluster) ({sel('dockerswarm_cluster_task_history_retention_limit')})",
                "{{cluster}}",
            )
        ],
        thresholds=steps((None, "green"), (6, "orange")),
    )
    d.table(
        "Settings",
        "The swarm's settings as /info gives them (durations in seconds).",
        [
            (
                "max by (cluster, autolock, task_history_retention_limit, "
                "raft_snapshot_interval, raft_keep_old_snapshots, "
                "raft_log_entries_for_slow_followers, raft_election_tick, raft_heartbeat_tick, "
                "dispatcher_heartbeat_period_seconds, node_certificate_lifetime_seconds) "
                f"({sel('dockerswarm_cluster_settings_info')})",
                "",
            )
        ],
        merge_organize(
            exclude=["Value"],
            order=["cluster", "autolock", "task_history_retention_limit"],
            rename={"cluster": "Cluster", "autolock": "Autolock"},
        ),
        w=18,
        h=5,
    )

    d.row("Overlay networks")
    d.table(
        "Addresses per network",
        "Each swarm-scoped network: the addresses its subnets hold, those in use (service "
        "VIPs, tasks, a load balancer per node with tasks; every node on ingress) and the "
        "share. At 100 % new tasks wait in new or preparing without an error.",
        [
            (f"max by ({NET_KEY}) ({sel('dockerswarm_network_addresses')})", ""),
            (
                f"sum by ({NET_KEY}) (max by ({NET_KEY}, use) "
                f"({sel('dockerswarm_network_addresses_used')}))",
                "",
            ),
            (network_share(), ""),
        ],
        merge_organize(
            exclude=["network_id"],
            order=["cluster", "network_name", "Value #A", "Value #B", "Value #C"],
            rename={
                "cluster": "Cluster",
                "network_name": "Network",
                "Value #A": "Addresses",
                "Value #B": "In use",
                "Value #C": "Used",
            },
        ),
        w=12,
        h=8,
        overrides=[
            column_override(
                "Used",
                ("unit", "percentunit"),
                ("min", 0),
                ("max", 1),
                (
                    "thresholds",
                    # Red where SwarmNetworkAddressesExhausted fires.
                    steps((None, "green"), (0.7, "orange"), (t.network_addresses_used, "red")),
                ),
                ("custom.cellOptions", {"type": "gauge", "mode": "basic"}),
            )
        ],
    )
    d.timeseries(
        "Share of each network's addresses in use",
        "Addresses in use / addresses, per network; the alert fires above 85 %.",
        [(network_share(), "{{network_name}} {{cluster}}")],
        unit="percentunit",
    )

    d.row("Jobs and one-shots")
    d.table(
        "How jobs and one-shots ended",
        "Per job or one-shot service: active, succeeded or failed, when a task of it last "
        "completed, and completions succeeded against those desired (above 100 %: the "
        "engine ran a replicated job past its completions).",
        [
            (
                f"max by ({SERVICE_KEY}, state) "
                f"({sel('dockerswarm_service_job_state', SVC_MATCH)}) == 1",
                "",
            ),
            (
                f"max by ({SERVICE_KEY}) "
                f"({sel('dockerswarm_service_last_success_timestamp_seconds', SVC_MATCH)}) * 1000",
                "",
            ),
            (
                f"max by ({SERVICE_KEY}) "
                f"({sel('dockerswarm_service_completions_succeeded', SVC_MATCH)}) "
                f"/ on ({SERVICE_KEY}) (max by ({SERVICE_KEY}) "
                f"({sel('dockerswarm_service_completions_desired', SVC_MATCH)}) > 0)",
                "",
            ),
        ],
        merge_organize(
            exclude=["Value #A"],
            order=["cluster", "service_name", "stack", "state", "Value #B", "Value #C"],
            rename={
                "cluster": "Cluster",
                "service_name": "Service",
                "stack": "Stack",
                "state": "State",
                "Value #B": "Last success",
                "Value #C": "Completions done",
            },
        ),
        w=24,
        h=8,
        overrides=[
            column_override(
                "State",
                ("mappings", [value_map(JOB_STATE_COLORS)]),
                ("custom.cellOptions", {"type": "color-text"}),
            ),
            column_override("Last success", ("unit", "dateTimeAsIso")),
            column_override(
                "Completions done",
                ("unit", "percentunit"),
                ("thresholds", steps((None, "blue"), (1, "green"), (1.0001, "orange"))),
                ("custom.cellOptions", {"type": "color-text"}),
            ),
        ],
    )

    d.row("Secrets and configs")
    for kind in ("secret", "config"):
        d.stat(
            f"{kind.capitalize()}s",
            f"{kind.capitalize()}s in the swarm (their data is never read).",
            [(inventory_count(kind, False), "{{cluster}}")],
            w=3,
        )
        d.stat(
            f"Unused {kind}s",
            f"{kind.capitalize()}s no service mounts.",
            [(inventory_count(kind, True), "{{cluster}}")],
            thresholds=steps((None, "green"), (1, "orange")),
            w=3,
        )
    d.table(
        "Unused secrets and configs",
        "Those no service mounts, with their age: candidates for removal.",
        [
            (
                "time() - max by (cluster, secret_id, secret_name) "
                f"({sel('dockerswarm_secret_created_timestamp_seconds')}) "
                "and on (cluster, secret_id) max by (cluster, secret_id) "
                f"({sel('dockerswarm_secret_services')}) == 0",
                "",
            ),
            (
                "time() - max by (cluster, config_id, config_name) "
                f"({sel('dockerswarm_config_created_timestamp_seconds')}) "
                "and on (cluster, config_id) max by (cluster, config_id) "
                f"({sel('dockerswarm_config_services')}) == 0",
                "",
            ),
        ],
        merge_organize(
            exclude=["secret_id", "config_id"],
            order=["cluster", "secret_name", "config_name"],
            rename={
                "cluster": "Cluster",
                "secret_name": "Secret",
                "config_name": "Config",
                "Value #A": "Secret's age",
                "Value #B": "Config's age",
            },
        ),
        w=12,
        h=8,
        overrides=[
            column_override("Secret's age", ("unit", "s")),
            column_override("Config's age", ("unit", "s")),
        ],
    )
    return d
