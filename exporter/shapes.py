"""The shapes of the Engine API objects swarm-sentinel reads, and the lenient reading.

Each ``*Doc`` is a msgspec Struct declaring only the fields we use, as the engine sends
them, each ``X | None``: ``exporter.decode`` reads list answers into them with
msgspec, which refuses an object with a field of an unexpected type. Such an object,
and any object handed over already decoded, is read leniently by ``read_doc``: a
field of the wrong type counts as missing. The rules about values are the builders'
(``exporter.parse``), whichever way an object was read.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, get_args, get_origin

import msgspec
from msgspec import UNSET, Raw, Struct, UnsetType

D = TypeVar("D", bound=Struct)


class ParseError(ValueError):
    """One API object could not be understood."""


# -- What we read of each object: the fields used, as the engine sends them.
#
# Every field is optional and nullable (a null is a missing field); a nested
# object missing is None. ``X | UnsetType | None`` where only the key's presence
# matters (a service's mode). ``Raw`` where an object is kept undecoded, whole (a
# task spec, whose digest says which spec a task runs: ``exporter.specs``); missing,
# it is ``Raw()``, empty. gc=False: these live for one object's building,
# hold no cycles, and so need not count towards the collector's thresholds.


class VersionDoc(Struct, gc=False):
    Index: int | None = None


class NamedResourceDoc(Struct, gc=False):
    Kind: str | None = None
    Value: str | None = None


class DiscreteResourceDoc(Struct, gc=False):
    Kind: str | None = None
    Value: int | None = None


class GenericResourceDoc(Struct, gc=False):
    """One generic resource: a named one (a GPU by its ID) or a count of a kind."""

    NamedResourceSpec: NamedResourceDoc | None = None
    DiscreteResourceSpec: DiscreteResourceDoc | None = None


class ResourcesDoc(Struct, gc=False):
    """A node's resources, a task's reservation or limit."""

    NanoCPUs: int | None = None
    MemoryBytes: int | None = None
    GenericResources: list[GenericResourceDoc] | None = None


class NodeSpecDoc(Struct, gc=False):
    Role: str | None = None
    Availability: str | None = None
    Labels: dict[str, str] | None = None


class PlatformDoc(Struct, gc=False):
    OS: str | None = None
    Architecture: str | None = None


class EngineDoc(Struct, gc=False):
    EngineVersion: str | None = None
    Labels: dict[str, str] | None = None


class TLSInfoDoc(Struct, gc=False):
    """Who issued a node's certificate (``Description.TLSInfo``), base64 as the engine
    writes it; the trust root is not read here (the cluster's is, from /info)."""

    CertIssuerSubject: str | None = None
    CertIssuerPublicKey: str | None = None


class NodeDescriptionDoc(Struct, gc=False):
    Hostname: str | None = None
    Platform: PlatformDoc | None = None
    Engine: EngineDoc | None = None
    Resources: ResourcesDoc | None = None
    TLSInfo: TLSInfoDoc | None = None


class NodeStatusDoc(Struct, gc=False):
    State: str | None = None
    Addr: str | None = None
    Message: str | None = None


class ManagerStatusDoc(Struct, gc=False):
    Leader: bool | None = None
    Reachability: str | None = None


class NodeDoc(Struct, gc=False):
    """``GET /nodes`` (one element), ``GET /nodes/{id}``."""

    ID: str | None = None
    Version: VersionDoc | None = None
    Spec: NodeSpecDoc | None = None
    Description: NodeDescriptionDoc | None = None
    Status: NodeStatusDoc | None = None
    ManagerStatus: ManagerStatusDoc | None = None


class AnyDoc(Struct, gc=False):
    """An object whose content we do not read (only whether its key is there)."""


class ReplicatedDoc(Struct, gc=False):
    Replicas: int | None = None


class ReplicatedJobDoc(Struct, gc=False):
    TotalCompletions: int | None = None
    MaxConcurrent: int | None = None


class ModeDoc(Struct, gc=False):
    """The key that is there says the mode, whatever its value (even null)."""

    Replicated: ReplicatedDoc | UnsetType | None = UNSET
    Global: AnyDoc | UnsetType | None = UNSET
    ReplicatedJob: ReplicatedJobDoc | UnsetType | None = UNSET
    GlobalJob: AnyDoc | UnsetType | None = UNSET


class SecretRefDoc(Struct, gc=False):
    SecretID: str | None = None


class ConfigRefDoc(Struct, gc=False):
    ConfigID: str | None = None


class ContainerSpecDoc(Struct, gc=False):
    Image: str | None = None
    Secrets: list[SecretRefDoc] | None = None
    Configs: list[ConfigRefDoc] | None = None


class PlacementDoc(Struct, gc=False):
    Constraints: list[str] | None = None
    MaxReplicas: int | None = None
    Platforms: list[PlatformDoc] | None = None


class RestartPolicyDoc(Struct, gc=False):
    Condition: str | None = None


class TaskResourcesDoc(Struct, gc=False):
    Reservations: ResourcesDoc | None = None
    Limits: ResourcesDoc | None = None


class NetworkRefDoc(Struct, gc=False):
    Target: str | None = None


class TaskTemplateDoc(Struct, gc=False):
    ContainerSpec: ContainerSpecDoc | None = None
    Networks: list[NetworkRefDoc] | None = None
    Placement: PlacementDoc | None = None
    ForceUpdate: int | None = None
    RestartPolicy: RestartPolicyDoc | None = None
    Resources: TaskResourcesDoc | None = None


class PortDoc(Struct, gc=False):
    Protocol: str | None = None
    PublishedPort: int | None = None
    PublishMode: str | None = None


class EndpointSpecDoc(Struct, gc=False):
    Ports: list[PortDoc] | None = None


class UpdateConfigDoc(Struct, gc=False):
    """A service's ``UpdateConfig`` or ``RollbackConfig``."""

    Delay: int | None = None
    FailureAction: str | None = None
    Monitor: int | None = None
    Order: str | None = None


class ServiceSpecDoc(Struct, gc=False):
    Name: str | None = None
    Labels: dict[str, str] | None = None
    Mode: ModeDoc | None = None
    TaskTemplate: Raw = Raw()
    """Whole: read as a ``TaskTemplateDoc`` (``read_raw``) and digested."""
    EndpointSpec: EndpointSpecDoc | None = None
    UpdateConfig: UpdateConfigDoc | None = None
    RollbackConfig: UpdateConfigDoc | None = None


class UpdateStatusDoc(Struct, gc=False):
    State: str | None = None
    StartedAt: str | None = None
    CompletedAt: str | None = None
    Message: str | None = None


class ServiceStatusDoc(Struct, gc=False):
    RunningTasks: int | None = None
    DesiredTasks: int | None = None
    CompletedTasks: int | None = None


class VirtualIPDoc(Struct, gc=False):
    NetworkID: str | None = None
    Addr: str | None = None


class EndpointDoc(Struct, gc=False):
    VirtualIPs: list[VirtualIPDoc] | None = None


class ServiceDoc(Struct, gc=False):
    """``GET /services?status=true`` (one element), ``GET /services/{id}``."""

    ID: str | None = None
    Version: VersionDoc | None = None
    Spec: ServiceSpecDoc | None = None
    Endpoint: EndpointDoc | None = None
    UpdateStatus: UpdateStatusDoc | None = None
    ServiceStatus: ServiceStatusDoc | None = None


class ContainerStatusDoc(Struct, gc=False):
    ExitCode: int | None = None


class TaskStatusDoc(Struct, gc=False):
    State: str | None = None
    Err: str | None = None
    Timestamp: str | None = None
    ContainerStatus: ContainerStatusDoc | None = None


class AttachedNetworkDoc(Struct, gc=False):
    ID: str | None = None


class NetworkAttachmentDoc(Struct, gc=False):
    """A task's address(es) on one network, as the allocator gave them."""

    Network: AttachedNetworkDoc | None = None
    Addresses: list[str] | None = None


class TaskDoc(Struct, gc=False):
    """``GET /tasks`` (one element)."""

    ID: str | None = None
    ServiceID: str | None = None
    NodeID: str | None = None
    Slot: int | None = None
    Status: TaskStatusDoc | None = None
    CreatedAt: str | None = None
    Version: VersionDoc | None = None
    DesiredState: str | None = None
    Spec: Raw = Raw()
    """Whole, for its digest only (``exporter.specs``)."""
    NetworksAttachments: list[NetworkAttachmentDoc] | None = None


class IPAMConfigDoc(Struct, gc=False):
    Subnet: str | None = None
    IPRange: str | None = None
    Gateway: str | None = None
    AuxiliaryAddresses: dict[str, str] | None = None


class IPAMDoc(Struct, gc=False):
    Config: list[IPAMConfigDoc] | None = None


class NetworkDoc(Struct, gc=False):
    """``GET /networks`` (one element): a swarm-scoped network and its subnets."""

    Id: str | None = None
    Name: str | None = None
    Driver: str | None = None
    Scope: str | None = None
    Ingress: bool | None = None
    IPAM: IPAMDoc | None = None


class MetaSpecDoc(Struct, gc=False):
    Name: str | None = None


class MetaDoc(Struct, gc=False):
    """``GET /secrets`` or ``GET /configs`` (one element): its name and times only. A
    config's answer carries its data too: it is not declared here, so never decoded
    (a secret's the engine never gives)."""

    ID: str | None = None
    CreatedAt: str | None = None
    UpdatedAt: str | None = None
    Spec: MetaSpecDoc | None = None


# -- Reading decoded JSON leniently: what msgspec refuses, taken as missing.


def as_str(v: object) -> str | None:
    return v if isinstance(v, str) else None


def as_int(v: object) -> int | None:
    # bool is an int subclass; a JSON true here is garbage, not 1. So is 3.0.
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _as_bool(v: object) -> bool | None:
    return v if isinstance(v, bool) else None


def _as_labels(v: object) -> dict[str, str] | None:
    """Labels: a value that is not a string is kept as its text (5 -> "5")."""
    return {str(k): str(x) for k, x in v.items()} if isinstance(v, Mapping) else None


def _as_strs(v: object) -> list[str] | None:
    """A list of strings: what is not a string is left out."""
    return [x for x in v if isinstance(x, str)] if isinstance(v, list) else None


def _as_raw(v: object) -> Raw:
    """An object kept whole, as JSON again; anything else as missing (msgspec's reading
    keeps it, and the digest of anything but an object is "" either way)."""
    if not isinstance(v, Mapping):
        return Raw()
    try:
        return Raw(msgspec.json.encode(v))
    except (msgspec.EncodeError, OverflowError, TypeError, ValueError):
        return Raw()


_READERS: dict[object, Callable[[object], Any]] = {
    str: as_str,
    int: as_int,
    bool: _as_bool,
    dict[str, str]: _as_labels,
    list[str]: _as_strs,
}


@functools.cache
def _plan(cls: type[Struct]) -> tuple[tuple[str, str, Callable[[object], Any], bool], ...]:
    """Per field of ``cls``: its name, its JSON key, how to read it, whether only the
    key's presence matters (``UnsetType`` in its type)."""
    plan: list[tuple[str, str, Callable[[object], Any], bool]] = []
    for f in msgspec.structs.fields(cls):
        if f.type is Raw:
            plan.append((f.name, f.encode_name, _as_raw, False))
            continue
        kinds = [a for a in get_args(f.type) if a not in (type(None), UnsetType)]
        if len(kinds) != 1:
            raise TypeError(f"{cls.__name__}.{f.name}: one type and None, not {f.type}")
        kind = kinds[0]
        read: Callable[[object], Any]
        if isinstance(kind, type) and issubclass(kind, Struct):
            read = functools.partial(_read_struct, kind)
        elif get_origin(kind) is list and _is_struct(get_args(kind)[0]):
            read = functools.partial(_read_structs, get_args(kind)[0])
        elif kind in _READERS:
            read = _READERS[kind]
        else:
            raise TypeError(f"{cls.__name__}.{f.name}: no lenient reading of {kind}")
        plan.append((f.name, f.encode_name, read, UnsetType in get_args(f.type)))
    return tuple(plan)


def _is_struct(kind: object) -> bool:
    return isinstance(kind, type) and issubclass(kind, Struct)


def _read_structs(cls: type[D], value: object) -> list[D] | None:
    """A list of objects: what is not an object is left out."""
    if not isinstance(value, list):
        return None
    return [doc for item in value if (doc := _read_struct(cls, item)) is not None]


def _read_struct(cls: type[D], value: object) -> D | None:
    if not isinstance(value, Mapping):
        return None
    fields: dict[str, Any] = {}
    for name, key, read, presence in _plan(cls):
        if presence:
            if key in value:
                fields[name] = read(value[key])
        else:
            fields[name] = read(value.get(key))
    return cls(**fields)


@functools.cache
def _decoder(cls: type[D]) -> msgspec.json.Decoder[D]:
    return msgspec.json.Decoder(cls)


def read_raw(cls: type[D], raw: Raw) -> D | None:
    """An object kept undecoded (a ``Raw`` field) as a ``cls``: typed with msgspec, or,
    where msgspec refuses it, read leniently as ``read_doc`` does; None when it is no
    object at all."""
    if not raw:
        return None
    try:
        doc: D = _decoder(cls).decode(raw)
        return doc
    except (msgspec.DecodeError, RecursionError):
        pass
    try:
        value = json.loads(bytes(raw))
    except (ValueError, RecursionError):
        return None
    return _read_struct(cls, value)


def read_doc(cls: type[D], raw: object, what: str) -> D:
    """``raw`` (decoded JSON) as a ``cls``, every field of an unexpected type missing."""
    doc = _read_struct(cls, raw)
    if doc is None:
        raise ParseError(f"{what}: expected an object, got {type(raw).__name__}")
    return doc
