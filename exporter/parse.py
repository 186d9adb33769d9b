"""Engine API JSON -> frozen objects of ``exporter.types``.

Two steps per object kind (node, service, task):

- *reading*: the JSON into a ``*Doc`` (a msgspec Struct declaring only the fields
  we use, each ``X | None``). ``exporter.decode`` reads list answers with
  msgspec, which refuses an object with a field of an unexpected type; such an
  object, and any object handed over already decoded (``parse_node`` & co.), is
  read leniently by ``read_doc``: a field of the wrong type counts as missing.
- *building*: ``node_of``, ``service_of``, ``task_of`` apply the rules about
  values (defaults, lower-casing, negative counts, ...) to a ``*Doc``, whichever
  way it was read.

So each rule has one home: about types, the ``*Doc`` declarations (msgspec) and
the ``_as_*`` readers (the lenient reading), in ``exporter.shapes``; about values,
the builders and their helpers, here. test_decode.py checks that both readings
agree.

Nothing here raises on odd content except ``ParseError`` for an object that
cannot be used at all (no ID, not a mapping). Missing optional fields get
defaults; unknown enum strings are kept. The caller logs and counts
``ParseError`` and goes on with the other objects of the same answer. Info and
events (one object per answer or line) are parsed from decoded JSON directly.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from msgspec import UNSET, Raw

from common.container_events import SWARM_TASK_LABEL
from exporter.certs import CertificateError, not_after
from exporter.shapes import (
    ContainerSpecDoc,
    ContainerStatusDoc,
    EndpointDoc,
    EndpointSpecDoc,
    EngineDoc,
    IPAMConfigDoc,
    IPAMDoc,
    MetaDoc,
    MetaSpecDoc,
    ModeDoc,
    NetworkDoc,
    NodeDescriptionDoc,
    NodeDoc,
    NodeSpecDoc,
    NodeStatusDoc,
    ParseError,
    PlacementDoc,
    PlatformDoc,
    ReplicatedDoc,
    ReplicatedJobDoc,
    ResourcesDoc,
    RestartPolicyDoc,
    ServiceDoc,
    ServiceSpecDoc,
    ServiceStatusDoc,
    TaskDoc,
    TaskResourcesDoc,
    TaskStatusDoc,
    TaskTemplateDoc,
    TLSInfoDoc,
    UpdateConfigDoc,
    UpdateStatusDoc,
    VersionDoc,
    as_int,
    as_str,
    read_doc,
    read_raw,
)
from exporter.specs import digest
from exporter.types import (
    DEFAULT_UPDATE_CONFIG,
    NO_RESOURCES,
    STACK_LABEL,
    ClusterCA,
    ClusterSettings,
    ContainerEvent,
    Event,
    GenericResources,
    Network,
    Node,
    ObjectMeta,
    Resources,
    Service,
    ServiceKey,
    SwarmInfo,
    Task,
    TaskContainer,
    UpdateConfig,
)

T = TypeVar("T")


# -- The rules about values, for both ways of reading.


def _count(v: int | None) -> int | None:
    """A count (replicas, tasks, a version): a negative one is garbage, not a figure."""
    return v if v is not None and v >= 0 else None


def _lower(v: str | None, default: str = "") -> str:
    """An enum-like string, lower-cased; ``default`` when missing or empty."""
    return (v.lower() or default) if v else default


def _true(v: object) -> bool:
    """Only a JSON true is true: the string "false" is not."""
    return v is True


def _labels(value: dict[str, str] | None) -> tuple[tuple[str, str], ...]:
    if not value:
        return ()
    return tuple(sorted((_text(k), _text(v)) for k, v in value.items()))


def _text(value: str) -> str:
    """``value`` as text every output can carry: a lone surrogate (JSON can carry
    "\\ud800") cannot be written as UTF-8, and becomes "?"."""
    return value if value.isascii() else value.encode("utf-8", "replace").decode("utf-8")


NAME_MAX = 1000
"""Characters of a name (a node's hostname, a service's name) kept, below what a label
value may hold (1,024): a longer one is cut and made unique (``safe_name``)."""


def safe_name(name: str, ident: str) -> str:
    """A name every output can carry, as it is when it can be: one with a lone surrogate
    or over ``NAME_MAX`` characters is cleaned, cut, and given its object's ID, so that
    two names that were different stay different (series, store keys, pages)."""
    clean = _text(name)
    if clean == name and len(name) <= NAME_MAX:
        return name
    return f"{clean[:NAME_MAX]}~{ident[:12]}"


def _need_id(ident: str | None, what: str) -> str:
    if not ident:
        raise ParseError(f"{what}: missing ID")
    return ident


def _version(doc: VersionDoc | None) -> int:
    return (_count(doc.Index) if doc is not None else None) or 0


def _generic(doc: ResourcesDoc | None) -> GenericResources:
    """Generic resources by kind: a discrete one's count, one per named one."""
    if doc is None or not doc.GenericResources:
        return ()
    counts: dict[str, int] = {}
    for res in doc.GenericResources:
        if res.DiscreteResourceSpec is not None and res.DiscreteResourceSpec.Kind:
            n = _count(res.DiscreteResourceSpec.Value) or 0
            counts[res.DiscreteResourceSpec.Kind] = counts.get(res.DiscreteResourceSpec.Kind, 0) + n
        elif res.NamedResourceSpec is not None and res.NamedResourceSpec.Kind:
            counts[res.NamedResourceSpec.Kind] = counts.get(res.NamedResourceSpec.Kind, 0) + 1
    return tuple(sorted(counts.items()))


def _resources(doc: ResourcesDoc | None) -> Resources:
    """``NanoCPUs`` (in cores) and ``MemoryBytes`` of a node's resources, a
    reservation or a limit; 0 where not given."""
    if doc is None:
        return NO_RESOURCES
    cpus, memory = _count(doc.NanoCPUs) or 0, _count(doc.MemoryBytes) or 0
    return Resources(cpus=cpus / 1e9, memory_bytes=memory) if cpus or memory else NO_RESOURCES


_RFC3339 = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?Z")
"""What the engine writes (Go's RFC3339Nano, UTC), which ``datetime.fromisoformat``
reads as it is since Python 3.11: digits past the 6th cut, as below."""


def parse_time(value: object) -> float:
    """RFC 3339 with nanoseconds (``2026-11-26T17:10:06.771732018Z``) -> epoch seconds.

    Returns 0.0 for anything unparsable, including Go's zero time.
    """
    if not isinstance(value, str) or not value:
        return 0.0
    if _RFC3339.fullmatch(value):
        s = value
    else:
        s = value.strip()
        if s.endswith("Z"):
            s = s[:-1] + "+00:00"
        # Python takes at most 6 fractional digits; Go writes up to 9.
        if "." in s:
            head, _, rest = s.partition(".")
            digits = ""
            i = 0
            while i < len(rest) and rest[i].isdigit():
                digits += rest[i]
                i += 1
            s = f"{head}.{digits[:6] or '0'}{rest[i:]}"
    try:
        ts = datetime.fromisoformat(s).timestamp()
    except ValueError:
        return 0.0
    return ts if ts > 0 else 0.0


_NODE_SPEC = NodeSpecDoc()
_NODE_DESCRIPTION = NodeDescriptionDoc()
_NODE_STATUS = NodeStatusDoc()
_PLATFORM = PlatformDoc()
_ENGINE = EngineDoc()
_TLS_INFO = TLSInfoDoc()


def node_of(doc: NodeDoc) -> Node:
    node_id = _need_id(doc.ID, "node")
    spec = doc.Spec or _NODE_SPEC
    desc = doc.Description or _NODE_DESCRIPTION
    status = doc.Status or _NODE_STATUS
    platform = desc.Platform or _PLATFORM
    engine = desc.Engine or _ENGINE
    tls = desc.TLSInfo or _TLS_INFO
    mgr = doc.ManagerStatus
    role = _lower(spec.Role, "worker")
    capacity = _resources(desc.Resources)
    return Node(
        id=node_id,
        hostname=safe_name(desc.Hostname or node_id[:12], node_id),
        role=role,
        availability=_lower(spec.Availability, "active"),
        state=_lower(status.State, "unknown"),
        address=status.Addr or "",
        engine_version=engine.EngineVersion or "",
        os=platform.OS or "",
        arch=platform.Architecture or "",
        labels=_labels(spec.Labels),
        engine_labels=_labels(engine.Labels),
        message=status.Message or "",
        # Workers have no ManagerStatus at all; a manager's may be missing.
        is_manager=mgr is not None or role == "manager",
        leader=mgr is not None and _true(mgr.Leader),
        reachability=_lower(mgr.Reachability, "unknown")
        if mgr is not None
        else ("unknown" if role == "manager" else ""),
        version=_version(doc.Version),
        cpus=capacity.cpus,
        memory_bytes=capacity.memory_bytes,
        generic=_generic(desc.Resources),
        tls_issuer=(tls.CertIssuerSubject or "", tls.CertIssuerPublicKey or ""),
    )


def _seconds(nanos: int | None) -> float | None:
    """A Go duration (nanoseconds) in seconds; None when missing or negative."""
    n = _count(nanos)
    return n / 1e9 if n is not None else None


def _update_config(doc: UpdateConfigDoc | None) -> UpdateConfig:
    """What the engine does where a field is unset (0 included: the engine sends no
    monitor on to swarmkit for 0, which then watches for its default)."""
    if doc is None:
        return DEFAULT_UPDATE_CONFIG
    d = DEFAULT_UPDATE_CONFIG
    return UpdateConfig(
        failure_action=_lower(doc.FailureAction, d.failure_action),
        monitor=_seconds(doc.Monitor) or d.monitor,
        delay=_seconds(doc.Delay) or d.delay,
        order=_lower(doc.Order, d.order),
    )


@functools.lru_cache(maxsize=4096)
def _template(raw: bytes) -> tuple[TaskTemplateDoc, str]:
    """A service's TaskTemplate, read and digested (``exporter.specs``). An unchanged
    service sends the same bytes at every poll: both are kept for them."""
    return read_raw(TaskTemplateDoc, Raw(raw)) or _TEMPLATE, digest(raw)


_SERVICE_SPEC = ServiceSpecDoc()
_MODE = ModeDoc()
_REPLICATED = ReplicatedDoc()
_REPLICATED_JOB = ReplicatedJobDoc()
_TEMPLATE = TaskTemplateDoc()
_CONTAINER_SPEC = ContainerSpecDoc()
_PLACEMENT = PlacementDoc()
_RESTART_POLICY = RestartPolicyDoc()
_TASK_RESOURCES = TaskResourcesDoc()
_UPDATE_STATUS = UpdateStatusDoc()
_ENDPOINT_SPEC = EndpointSpecDoc()
_SERVICE_STATUS = ServiceStatusDoc()
_ENDPOINT = EndpointDoc()


def service_of(doc: ServiceDoc) -> Service:
    service_id = _need_id(doc.ID, "service")
    spec = doc.Spec or _SERVICE_SPEC
    name = spec.Name
    if not name:
        raise ParseError(f"service {service_id}: missing Spec.Name")
    mode_doc = spec.Mode or _MODE
    # The first of these keys that is there says the mode; none: replicated.
    replicas: int | None = None
    max_concurrent: int | None = None
    if mode_doc.Replicated is not UNSET:
        mode = "replicated"
        replicas = _count((mode_doc.Replicated or _REPLICATED).Replicas)
    elif mode_doc.Global is not UNSET:
        mode = "global"
    elif mode_doc.ReplicatedJob is not UNSET:
        mode = "replicated-job"
        job = mode_doc.ReplicatedJob or _REPLICATED_JOB
        replicas = _count(job.TotalCompletions)
        max_concurrent = _count(job.MaxConcurrent)
    elif mode_doc.GlobalJob is not UNSET:
        mode = "global-job"
    else:
        mode = "replicated"
    template, template_digest = _template(bytes(spec.TaskTemplate))
    resources = template.Resources or _TASK_RESOURCES
    update = doc.UpdateStatus or _UPDATE_STATUS
    status = doc.ServiceStatus or _SERVICE_STATUS
    placement = template.Placement or _PLACEMENT
    constraints = placement.Constraints
    ports = ((spec.EndpointSpec or _ENDPOINT_SPEC).Ports) or []
    container = template.ContainerSpec or _CONTAINER_SPEC
    vips = tuple(
        sorted(v.NetworkID for v in (doc.Endpoint or _ENDPOINT).VirtualIPs or () if v.NetworkID)
    )
    attached = {n.Target for n in template.Networks or () if n.Target}
    return Service(
        id=service_id,
        name=safe_name(name, service_id),
        mode=mode,
        # Stack deploys pin images by digest; the tag is what people read.
        image=(container.Image or "").split("@", 1)[0],
        labels=_labels(spec.Labels),
        replicas=replicas,
        constraints=tuple(constraints) if constraints else (),
        force_update=_count(template.ForceUpdate) or 0,
        version=_version(doc.Version),
        update_state=_lower(update.State),
        update_started_at=parse_time(update.StartedAt),
        update_completed_at=parse_time(update.CompletedAt),
        update_message=update.Message or "",
        update_config=_update_config(spec.UpdateConfig),
        rollback_config=_update_config(spec.RollbackConfig),
        template_digest=template_digest,
        running_tasks=_count(status.RunningTasks),
        desired_tasks=_count(status.DesiredTasks),
        completed_tasks=_count(status.CompletedTasks),
        max_concurrent=max_concurrent,
        restart_condition=_lower((template.RestartPolicy or _RESTART_POLICY).Condition, "any"),
        reservation=_resources(resources.Reservations),
        limit=_resources(resources.Limits),
        generic_reservation=_generic(resources.Reservations),
        max_replicas=_count(placement.MaxReplicas) or 0,
        platforms=tuple(
            (p.OS or "", p.Architecture or "")
            for p in placement.Platforms or ()
            if p.OS or p.Architecture
        ),
        host_ports=tuple(
            sorted(
                {
                    (_lower(p.Protocol, "tcp"), port)
                    for p in ports
                    if _lower(p.PublishMode) == "host" and (port := _count(p.PublishedPort))
                }
            )
        ),
        networks=tuple(sorted(attached | set(vips))),
        vips=vips,
        secrets=tuple(sorted({r.SecretID for r in container.Secrets or () if r.SecretID})),
        configs=tuple(sorted({r.ConfigID for r in container.Configs or () if r.ConfigID})),
    )


_TASK_STATUS = TaskStatusDoc()
_CONTAINER_STATUS = ContainerStatusDoc()


def task_of(doc: TaskDoc) -> Task:
    task_id = _need_id(doc.ID, "task")
    service_id = doc.ServiceID
    if not service_id:
        raise ParseError(f"task {task_id}: missing ServiceID")
    status = doc.Status or _TASK_STATUS
    return Task(
        id=task_id,
        service_id=service_id,
        node_id=doc.NodeID or "",
        slot=_count(doc.Slot) or 0,
        state=_lower(status.State, "unknown"),
        err=status.Err or "",
        timestamp=parse_time(status.Timestamp),
        created_at=parse_time(doc.CreatedAt),
        exit_code=(status.ContainerStatus or _CONTAINER_STATUS).ExitCode,
        version=_version(doc.Version),
        desired_state=_lower(doc.DesiredState),
        spec_digest=digest(bytes(doc.Spec)),
        networks=tuple(
            sorted(
                (a.Network.ID, len(a.Addresses or ()))
                for a in doc.NetworksAttachments or ()
                if a.Network is not None and a.Network.ID
            )
        ),
    )


_IPAM = IPAMDoc()


def network_of(doc: NetworkDoc) -> Network:
    network_id = _need_id(doc.Id, "network")
    subnets: list[str] = []
    addresses = 0
    for config in (doc.IPAM or _IPAM).Config or ():
        usable = _usable_addresses(config)
        if usable is not None:
            subnets.append(config.Subnet or "")
            addresses += usable
    return Network(
        id=network_id,
        name=doc.Name or network_id[:12],
        driver=doc.Driver or "",
        ingress=_true(doc.Ingress),
        subnets=tuple(subnets),
        addresses=addresses,
    )


def _usable_addresses(config: IPAMConfigDoc) -> int | None:
    """The IPv4 addresses the allocator can hand out of one IPAM pool (its IPRange, or
    the subnet): not the network and broadcast addresses, the gateway or the auxiliary
    addresses. None for an IPv6 or unreadable subnet: IPv6 pools do not run out."""
    try:
        subnet = ipaddress.ip_network(config.Subnet or "", strict=False)
        pool = ipaddress.ip_network(config.IPRange, strict=False) if config.IPRange else subnet
    except ValueError:
        return None
    if not isinstance(subnet, ipaddress.IPv4Network) or not isinstance(pool, ipaddress.IPv4Network):
        return None
    reserved: set[ipaddress.IPv4Address] = set()
    if subnet.prefixlen < 31:
        reserved |= {subnet.network_address, subnet.broadcast_address}
    for text in (config.Gateway, *(config.AuxiliaryAddresses or {}).values()):
        try:
            address = ipaddress.ip_address((text or "").split("/", 1)[0])
        except ValueError:
            continue
        if isinstance(address, ipaddress.IPv4Address):
            reserved.add(address)
    return max(0, pool.num_addresses - sum(1 for a in reserved if a in pool))


_META_SPEC = MetaSpecDoc()


def meta_of(kind: str) -> Callable[[MetaDoc], ObjectMeta]:
    """The builder of a secret's or a config's metadata (``kind``)."""

    def build(doc: MetaDoc) -> ObjectMeta:
        object_id = _need_id(doc.ID, kind)
        return ObjectMeta(
            kind=kind,
            id=object_id,
            name=(doc.Spec or _META_SPEC).Name or object_id[:12],
            created_at=parse_time(doc.CreatedAt),
            updated_at=parse_time(doc.UpdatedAt),
        )

    return build


def parse_node(raw: object) -> Node:
    return node_of(read_doc(NodeDoc, raw, "node"))


def parse_service(raw: object) -> Service:
    return service_of(read_doc(ServiceDoc, raw, "service"))


def parse_task(raw: object) -> Task:
    return task_of(read_doc(TaskDoc, raw, "task"))


def parse_network(raw: object) -> Network:
    return network_of(read_doc(NetworkDoc, raw, "network"))


def parse_meta(kind: str) -> Callable[[object], ObjectMeta]:
    build = meta_of(kind)
    return lambda raw: build(read_doc(MetaDoc, raw, kind))


# -- One object per answer or line: read from the decoded JSON as it is.


def _map(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ParseError(f"{what}: expected an object, got {type(value).__name__}")
    return value


def _sub(obj: Mapping[str, Any], *keys: str) -> Mapping[str, Any]:
    """Nested mapping at ``keys``; an empty one where any level is missing or null."""
    cur: Any = obj
    for k in keys:
        cur = cur.get(k) if isinstance(cur, Mapping) else None
    return cur if isinstance(cur, Mapping) else {}


def _str(obj: Mapping[str, Any], key: str, default: str = "") -> str:
    v = as_str(obj.get(key))
    return default if v is None else v


def _bool(obj: Mapping[str, Any], key: str) -> bool:
    return _true(obj.get(key))


def _int(obj: Mapping[str, Any], key: str) -> int | None:
    return _count(as_int(obj.get(key)))


def _nanos(obj: Mapping[str, Any], key: str) -> float | None:
    """A Go duration in nanoseconds, in seconds."""
    n = _int(obj, key)
    return n / 1e9 if n is not None else None


def _settings(spec: Mapping[str, Any]) -> ClusterSettings:
    raft, dispatcher = _sub(spec, "Raft"), _sub(spec, "Dispatcher")
    return ClusterSettings(
        autolock=_bool(_sub(spec, "EncryptionConfig"), "AutoLockManagers"),
        task_history_retention_limit=_int(_sub(spec, "Orchestration"), "TaskHistoryRetentionLimit"),
        snapshot_interval=_int(raft, "SnapshotInterval"),
        keep_old_snapshots=_int(raft, "KeepOldSnapshots"),
        log_entries_for_slow_followers=_int(raft, "LogEntriesForSlowFollowers"),
        election_tick=_int(raft, "ElectionTick"),
        heartbeat_tick=_int(raft, "HeartbeatTick"),
        dispatcher_heartbeat_period=_nanos(dispatcher, "HeartbeatPeriod"),
        node_cert_expiry=_nanos(_sub(spec, "CAConfig"), "NodeCertExpiry"),
    )


def _ca(cluster: Mapping[str, Any]) -> ClusterCA:
    tls = _sub(cluster, "TLSInfo")
    root = _str(tls, "TrustRoot")
    expiry: float | None = None
    if root:
        # A root that cannot be read is left out (no expiry), as any odd field is.
        with contextlib.suppress(CertificateError):
            expiry = not_after(root)
    return ClusterCA(
        root_expiry=expiry,
        issuer=(_str(tls, "CertIssuerSubject"), _str(tls, "CertIssuerPublicKey")),
        rotation_in_progress=_bool(cluster, "RootRotationInProgress"),
    )


def parse_info(raw: object) -> SwarmInfo:
    obj = _map(raw, "info")
    swarm = _sub(obj, "Swarm")
    cluster = swarm.get("Cluster")
    known = isinstance(cluster, Mapping) and bool(cluster.get("ID"))
    return SwarmInfo(
        node_id=_str(swarm, "NodeID"),
        local_node_state=_str(swarm, "LocalNodeState", "inactive").lower(),
        control_available=_bool(swarm, "ControlAvailable"),
        cluster_id=_str(_sub(swarm, "Cluster"), "ID"),
        error=_str(swarm, "Error"),
        hostname=_str(obj, "Name"),
        system_time=parse_time(obj.get("SystemTime")),
        settings=_settings(_sub(swarm, "Cluster", "Spec")) if known else None,
        ca=_ca(_sub(swarm, "Cluster")) if known else None,
    )


def parse_event(raw: object) -> Event:
    obj = _map(raw, "event")
    actor = _sub(obj, "Actor")
    return Event(
        type=_str(obj, "Type"),
        action=_str(obj, "Action"),
        actor_id=_str(actor, "ID"),
        time_nano=_count(as_int(obj.get("timeNano"))) or 0,
    )


_SWARM = "com.docker.swarm."


_EXIT_CODE = re.compile(r"-?[0-9]{1,10}")
EXIT_CODE_RANGE = (-(2**31), 2**31 - 1)
"""What an exit code can be (the engine's int32); another is counted, its code left out."""


def exit_code(text: str) -> int | None:
    """A ``die`` event's exitCode, or None when it is not one an engine writes (``--5``,
    ``²``, a number out of range): the death still counts, without a code."""
    if not _EXIT_CODE.fullmatch(text):
        return None
    code = int(text)
    return code if EXIT_CODE_RANGE[0] <= code <= EXIT_CODE_RANGE[1] else None


def parse_container_event(raw: object) -> ContainerEvent:
    """One event of a node's own task containers; ``ParseError`` for any other."""
    obj = _map(raw, "container event")
    actor = _sub(obj, "Actor")
    attrs = _sub(actor, "Attributes")
    action = _str(obj, "Action")
    health = ""
    if action.startswith("health_status"):
        # "health_status: unhealthy": the status is in the action's text.
        action, _, health = action.partition(":")
        health = health.strip()
    container_id, task_id = _str(actor, "ID"), _str(attrs, SWARM_TASK_LABEL)
    if _str(obj, "Type") != "container" or not container_id or not task_id:
        raise ParseError(f"not a task container's event: {_str(obj, 'Type')} {action}")
    exit_text = _str(attrs, "exitCode")
    service_name, stack = _container_service(attrs)
    return ContainerEvent(
        action=action,
        container_id=container_id,
        service_name=service_name,
        stack=stack,
        task_id=task_id,
        node_id=_str(attrs, _SWARM + "node.id"),
        time_nano=_count(as_int(obj.get("timeNano"))) or 0,
        exit_code=exit_code(exit_text),
        health=health,
        signal=_str(attrs, "signal"),
    )


def parse_task_container(raw: object) -> TaskContainer:
    """One item of ``GET /containers/json`` filtered on ``SWARM_TASK_LABEL``."""
    obj = _map(raw, "container")
    labels = _sub(obj, "Labels")
    container_id = _str(obj, "Id")
    if not container_id or not _str(labels, SWARM_TASK_LABEL):
        raise ParseError(f"not a task container: {container_id[:12] or '(no Id)'}")
    return TaskContainer(container_id=container_id, service=_container_service(labels))


def _container_service(labels: Mapping[str, object]) -> ServiceKey:
    """Whose task a container runs, from its labels (an event's attributes hold them)."""
    name = safe_name(_str(labels, _SWARM + "service.name"), _str(labels, _SWARM + "service.id"))
    return name, _text(_str(labels, STACK_LABEL))


def parse_list(
    raw: object, parse_one: Callable[[object], T], what: str
) -> tuple[list[T], list[str]]:
    """Parse a list answer; returns the good objects and one message per bad one."""
    if not isinstance(raw, list):
        raise ParseError(f"{what}: expected a list, got {type(raw).__name__}")
    good: list[T] = []
    problems: list[str] = []
    for item in raw:
        try:
            good.append(parse_one(item))
        except ParseError as exc:
            problems.append(str(exc))
    return good, problems
