"""Frozen, typed views of the Engine API objects the exporter uses.

The API answers are parsed once, at the edge (``exporter.parse``); everything
past that point (model, metrics, healer policy) sees only these objects.
Unknown enum strings are kept as they came, lower-cased: a newer engine may
add a task state, and we would rather export it than crash or drop it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from exporter.errors import says_no_leader

# Task states in the engine's lifecycle order (swarmkit api/types.proto).
TASK_STATES: tuple[str, ...] = (
    "new",
    "allocated",
    "pending",
    "assigned",
    "accepted",
    "preparing",
    "ready",
    "starting",
    "running",
    "complete",
    "shutdown",
    "failed",
    "rejected",
    "remove",
    "orphaned",
)
# States a task passes through before it runs; a task that stays in one of
# these is "stuck" (image pull, no suitable node, ...).
PRE_RUN_STATES: frozenset[str] = frozenset(
    {"new", "allocated", "pending", "assigned", "accepted", "preparing", "ready", "starting"}
)
NOT_ENDED_STATES: frozenset[str] = PRE_RUN_STATES | {"running"}
"""States of a task that has not ended: it may still run, or runs."""
FAILED_STATES: frozenset[str] = frozenset({"failed", "rejected"})
PLACED_STATES: frozenset[str] = frozenset(
    {"assigned", "accepted", "preparing", "ready", "starting", "running"}
)
"""States of a task on a node that has not ended: its reservation is held there."""

NODE_STATES: tuple[str, ...] = ("unknown", "down", "ready", "disconnected")
NODE_AVAILABILITIES: tuple[str, ...] = ("active", "pause", "drain")
REACHABILITIES: tuple[str, ...] = ("reachable", "unreachable", "unknown")
SERVICE_MODES: tuple[str, ...] = ("replicated", "global", "replicated-job", "global-job")
UPDATE_STATES: tuple[str, ...] = (
    "updating",
    "paused",
    "completed",
    "rollback_started",
    "rollback_paused",
    "rollback_completed",
)

UPDATING_STATES: tuple[str, ...] = ("updating", "rollback_started")
"""Update states of a rolling update (or rollback) under way: Swarm's own work."""

STACK_LABEL = "com.docker.stack.namespace"


GenericResources = tuple[tuple[str, int], ...]
"""Generic resources (GPUs, SSDs, ...) as sorted (kind, how many) pairs: a node's (a
named resource counts one per name) or what a task reserves."""


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    hostname: str
    role: str  # "manager" | "worker"
    availability: str
    state: str
    address: str
    engine_version: str
    os: str
    arch: str
    labels: tuple[tuple[str, str], ...]  # Spec.Labels, sorted
    engine_labels: tuple[tuple[str, str], ...]  # Description.Engine.Labels, sorted
    message: str = ""
    # Manager-only fields: workers have no ManagerStatus at all.
    is_manager: bool = False
    leader: bool = False
    reachability: str = ""
    version: int = 0
    cpus: float = 0.0  # Description.Resources.NanoCPUs, in cores; 0 when not reported
    memory_bytes: int = 0  # Description.Resources.MemoryBytes
    generic: GenericResources = ()  # Description.Resources.GenericResources
    tls_issuer: tuple[str, str] = ("", "")
    """Who issued its certificate (Description.TLSInfo: subject, public key, base64):
    after a CA root rotation, the cluster's issuer once it has its new certificate."""

    def label(self, key: str) -> str | None:
        return label_of(self.labels, key)


@dataclass(frozen=True, slots=True)
class Resources:
    """A task's CPU (cores) and memory (bytes), as a reservation or a limit; 0: unset."""

    cpus: float = 0.0
    memory_bytes: int = 0

    def __bool__(self) -> bool:
        return bool(self.cpus or self.memory_bytes)


NO_RESOURCES = Resources()


@dataclass(frozen=True, slots=True)
class UpdateConfig:
    """How the engine rolls a service's tasks over (``Spec.UpdateConfig``) or back
    (``Spec.RollbackConfig``); where a field is unset, what the engine does then
    (swarmkit's ``api/defaults``: the same for both)."""

    failure_action: str = "pause"  # pause | continue | rollback (an update's only)
    monitor: float = 5.0
    """Seconds each new task is watched after it starts: its failure within them is
    the update's."""
    delay: float = 0.0
    """Seconds between two batches of tasks."""
    order: str = "stop-first"  # stop-first | start-first


DEFAULT_UPDATE_CONFIG = UpdateConfig()


@dataclass(frozen=True, slots=True)
class Service:
    id: str
    name: str
    mode: str  # one of SERVICE_MODES
    image: str
    labels: tuple[tuple[str, str], ...]
    replicas: int | None  # replicated: Spec.Mode.Replicated.Replicas; jobs: TotalCompletions
    constraints: tuple[str, ...]
    force_update: int
    version: int
    update_state: str = ""  # "" when the service was never updated
    update_started_at: float = 0.0
    update_completed_at: float = 0.0
    update_message: str = ""
    """The engine's words on its update (UpdateStatus.Message), e.g. "update paused due to
    failure or early termination of task ..."."""
    update_config: UpdateConfig = DEFAULT_UPDATE_CONFIG
    rollback_config: UpdateConfig = DEFAULT_UPDATE_CONFIG
    template_digest: str = ""
    """Of Spec.TaskTemplate (``exporter.specs``): its tasks with the same ``spec_digest``
    run on the current spec; "" when unknown."""
    # From /services?status=true; None when the answer did not carry it.
    running_tasks: int | None = None
    desired_tasks: int | None = None
    completed_tasks: int | None = None  # jobs: tasks that completed (API 1.41)
    max_concurrent: int | None = None  # replicated jobs: tasks run at once at most
    restart_condition: str = "any"  # any | on-failure | none
    reservation: Resources = NO_RESOURCES  # per task: what the scheduler sets aside
    limit: Resources = NO_RESOURCES  # per task: what the kernel enforces
    generic_reservation: GenericResources = ()  # per task, Reservations.GenericResources
    max_replicas: int = 0  # Placement.MaxReplicas: tasks per node at most; 0: no limit
    platforms: tuple[tuple[str, str], ...] = ()  # Placement.Platforms as (os, arch)
    host_ports: tuple[tuple[str, int], ...] = ()
    """(protocol, port) published in host mode: one task per node can hold each."""
    networks: tuple[str, ...] = ()
    """IDs of the networks its tasks attach to (TaskTemplate.Networks, and those it has
    a virtual IP on: ingress when it publishes a port), sorted."""
    vips: tuple[str, ...] = ()
    """The network of each of its virtual IPs (Endpoint.VirtualIPs): an address each."""
    secrets: tuple[str, ...] = ()
    """IDs of the secrets its containers mount, sorted."""
    configs: tuple[str, ...] = ()
    """IDs of the configs its containers mount, sorted."""

    @property
    def stack(self) -> str:
        return self.label(STACK_LABEL) or ""

    @property
    def is_global(self) -> bool:
        return self.mode in ("global", "global-job")

    @property
    def is_job(self) -> bool:
        return self.mode.endswith("-job")

    @property
    def runs_once(self) -> bool:
        """A task of it that completed (exit 0) is done, not to be run again: a job, or
        a service whose restart policy restarts only failures or nothing."""
        return self.is_job or self.restart_condition in ("none", "on-failure")

    def label(self, key: str) -> str | None:
        return label_of(self.labels, key)


CURRENT_DESIRED_STATES = ("running", "ready", "complete")
"""Desired states of the tasks the orchestrator still stands behind: running; ready, a
replacement waiting out its restart delay; complete, a job's task (running or done)."""


@dataclass(frozen=True, slots=True)
class Task:
    id: str
    service_id: str
    node_id: str  # "" until the task is assigned
    slot: int  # 0 for global services
    state: str  # observed Status.State
    err: str
    timestamp: float  # Status.Timestamp: when it entered its current state
    created_at: float
    exit_code: int | None = None
    version: int = 0
    desired_state: str = ""  # DesiredState: what the orchestrator wants of it
    spec_digest: str = ""
    """Of its Spec (``exporter.specs``): equal to its service's ``template_digest`` when
    it runs on the service's current spec; "" when unknown."""
    networks: tuple[tuple[str, int], ...] = ()
    """(network ID, addresses) the allocator gave it (NetworksAttachments), sorted."""

    @property
    def current(self) -> bool:
        """Whether the orchestrator still means to run it (or, for a job, to finish it):
        a task it gave up on, replaced or finished for good is not current."""
        return self.desired_state in CURRENT_DESIRED_STATES

    @property
    def slot_key(self) -> tuple[str, int | str]:
        """Tasks of one slot replace each other; global tasks have one slot per node."""
        return (self.service_id, self.slot if self.slot else self.node_id)


LOCAL_NODE_STATES: tuple[str, ...] = ("inactive", "pending", "active", "error", "locked")
"""What an engine says of its own place in a swarm (/info Swarm.LocalNodeState)."""


@dataclass(frozen=True, slots=True)
class ClusterSettings:
    """The swarm's settings (/info Swarm.Cluster.Spec, on a manager); None: not given."""

    autolock: bool = False
    task_history_retention_limit: int | None = None
    snapshot_interval: int | None = None
    keep_old_snapshots: int | None = None
    log_entries_for_slow_followers: int | None = None
    election_tick: int | None = None
    heartbeat_tick: int | None = None
    dispatcher_heartbeat_period: float | None = None  # seconds
    node_cert_expiry: float | None = None  # seconds: the node certificates' lifetime


@dataclass(frozen=True, slots=True)
class ClusterCA:
    """The swarm's certificate authority as /info tells it (Swarm.Cluster.TLSInfo)."""

    root_expiry: float | None
    """NotAfter of the root certificate (of the one that expires first, if several)."""
    issuer: tuple[str, str]
    """(subject, public key), base64: what a node's certificate issuer is compared with."""
    rotation_in_progress: bool


@dataclass(frozen=True, slots=True)
class SwarmInfo:
    """What ``GET /info`` says about the swarm, as seen from this engine."""

    node_id: str
    local_node_state: str  # inactive | pending | active | error | locked
    control_available: bool  # True on managers
    cluster_id: str
    error: str
    hostname: str = ""
    system_time: float = field(default=0.0, compare=False)
    """The engine's clock when it answered (``SystemTime``); 0 when not given. Not
    compared: an answer saying the same at another time is no change of the swarm."""
    settings: ClusterSettings | None = None
    """A manager's only: a worker's (and a locked manager's) /info has no Cluster."""
    ca: ClusterCA | None = None

    @property
    def is_member(self) -> bool:
        """Part of an active swarm, as a manager or a worker."""
        return self.local_node_state == "active"

    @property
    def has_leader_error(self) -> bool:
        return says_no_leader(self.error)


@dataclass(frozen=True, slots=True)
class Network:
    """A swarm-scoped network and how many addresses its subnets hold."""

    id: str
    name: str
    driver: str
    ingress: bool
    subnets: tuple[str, ...]
    addresses: int
    """Usable IPv4 addresses: each subnet's (or its IPRange's), less the network and
    broadcast addresses, the gateway and the auxiliary addresses."""


@dataclass(frozen=True, slots=True)
class ObjectMeta:
    """A secret or a config: its name and times, never its data."""

    kind: str  # secret | config
    id: str
    name: str
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class Event:
    type: str
    action: str
    actor_id: str
    time_nano: int = 0
    """When the engine emitted it (its clock): where a reconnect resumes."""


@dataclass(frozen=True, slots=True)
class ContainerEvent:
    """A node's own engine saying what happened to one of its task containers."""

    action: str  # create | start | die | kill | oom | health_status | destroy
    container_id: str
    service_name: str
    stack: str
    task_id: str
    node_id: str
    time_nano: int
    exit_code: int | None = None  # die only
    health: str = ""  # health_status only: healthy | unhealthy | starting
    signal: str = ""  # kill only: the signal's number, as the engine writes it ("15")

    @property
    def key(self) -> tuple[str, str, int]:
        """One event, however often a replay delivers it."""
        return (self.container_id, self.action, self.time_nano)

    @property
    def service(self) -> ServiceKey:
        return (self.service_name, self.stack)


@dataclass(frozen=True, slots=True)
class TaskContainer:
    """A task container a node's engine holds, running or not (its container list)."""

    container_id: str
    service: ServiceKey


Labels = tuple[tuple[str, str], ...]
"""Label pairs: Docker labels sorted by key (hashable, so objects compare cheaply), or
a Prometheus sample's labels in the order written."""

ServiceKey = tuple[str, str]
"""A service by its name and stack: what the containers of a node and the healer's
series know it by (a service ID is not on a container's events)."""


def label_of(labels: Labels, key: str) -> str | None:
    """The value of ``key`` in ``labels``, or None."""
    for k, v in labels:
        if k == key:
            return v
    return None
