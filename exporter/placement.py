"""Why a service's task cannot be placed: each node, the filter that excludes it.

The engine says only "no suitable node (scheduling constraints not satisfied on 3
nodes; 1 node not available for new tasks)". This goes through the nodes the way
swarmkit's scheduler does (``manager/scheduler/pipeline.go``: each node is counted
against the first filter that rejects it, in the pipeline's order) and names what
the engine leaves out: which constraint, which nodes, how much memory was missing
where.

The filters, in the scheduler's order (its ready filter split in three):

- ``not_ready``: the node is not ready (down, unknown, disconnected);
- ``drain``, ``pause``: its availability;
- ``cpu``, ``memory``, ``generic``: a task's reservation exceeds what the tasks placed
  there (assigned to running) left of the node's resources;
- ``constraint``: the first placement constraint the node does not satisfy;
- ``platform``: none of ``Placement.Platforms`` is the node's (amd64 is x86_64,
  arm64 is aarch64, as swarmkit reads them);
- ``host_port``: a port the service publishes in host mode is taken there;
- ``max_replicas``: ``Placement.MaxReplicas`` of its tasks already run there.

Not modelled: the plugin filter (a volume, network or log driver plugin missing on
a node) and the cluster-volume filter of Engine 23 and later.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from exporter.constraints import first_failing
from exporter.types import NO_RESOURCES, Node, Resources, Service

FILTERS: tuple[str, ...] = (
    "not_ready",
    "drain",
    "pause",
    "cpu",
    "memory",
    "generic",
    "constraint",
    "platform",
    "host_port",
    "max_replicas",
)
"""What can exclude a node, in the order the scheduler checks it (a metric label)."""

_ARCH_ALIASES = {"x86_64": "amd64", "aarch64": "arm64"}
_SHOWN = {
    "not_ready": "not ready",
    "drain": "drained",
    "pause": "paused",
    "generic": "generic resources",
    "host_port": "host port taken",
    "max_replicas": "max replicas per node",
}
NAMED_NODES = 5
"""Hostnames named per exclusion at most, in the explanation (the metric counts all)."""


@dataclass(frozen=True, slots=True)
class NodeUse:
    """What the tasks placed on one node (assigned to running) hold there."""

    reserved: Resources = NO_RESOURCES
    generic: Mapping[str, int] | None = None
    """Generic resources held, by kind."""
    ports: frozenset[tuple[str, int]] = frozenset()
    """(protocol, port) published in host mode by a task there."""
    tasks: Mapping[str, int] | None = None
    """Tasks there by service ID (for ``MaxReplicas``)."""


NO_USE = NodeUse()


@dataclass(frozen=True, slots=True)
class Exclusion:
    """The nodes one filter excludes (for ``constraint``, one expression)."""

    filter: str
    nodes: tuple[str, ...]
    """Their hostnames, sorted."""
    constraint: str = ""
    detail: str = ""
    """For a resource: what a task needs, and the most left on one of these nodes."""

    def describe(self) -> str:
        """``node.labels.gpu==true excludes 9 (lab-w1, ...)``, ``drained 2 (lab-m2,
        lab-w2)``, ``memory 1 (needs 4.0 GiB, 1.5 GiB free on lab-w3)``."""
        n = len(self.nodes)
        what = (
            f"{self.constraint} excludes"
            if self.constraint
            else _SHOWN.get(self.filter, self.filter)
        )
        names = ", ".join(self.nodes[:NAMED_NODES])
        if n > NAMED_NODES:
            names += f" and {n - NAMED_NODES} more"
        if self.detail:
            names = self.detail if n == 1 else f"{names}; {self.detail}"
        return f"{what} {n} ({names})"


@dataclass(frozen=True, slots=True)
class Placement:
    """Where one more task of a service could go, node by node."""

    nodes: int
    """Nodes looked at."""
    fit: tuple[str, ...]
    """Hostnames of those that can take one, sorted."""
    exclusions: tuple[Exclusion, ...]
    """Most nodes first."""

    def explain(self) -> str:
        """``0 of 12 nodes can take a task: node.labels.gpu==true excludes 9 (...), ...``."""
        noun = "node" if self.nodes == 1 else "nodes"
        head = f"{len(self.fit)} of {self.nodes} {noun} can take a task"
        if not self.exclusions:
            return head
        return head + ": " + ", ".join(e.describe() for e in self.exclusions)


def _arch(arch: str) -> str:
    return _ARCH_ALIASES.get(arch, arch)


def _platform_ok(node: Node, platforms: tuple[tuple[str, str], ...]) -> bool:
    return any(
        (not arch or _arch(arch) == _arch(node.arch)) and (not os or os == node.os)
        for os, arch in platforms
    )


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


def _first_exclusion(svc: Service, node: Node, use: NodeUse) -> tuple[str, str, float] | None:
    """The filter that excludes ``node`` (with the constraint, and what is left of the
    resource it lacks), or None when it can take a task of ``svc``."""
    if node.state != "ready":
        return "not_ready", "", 0.0
    if node.availability != "active":
        return ("drain" if node.availability == "drain" else "pause"), "", 0.0
    want = svc.reservation
    if want.cpus and want.cpus > round(node.cpus - use.reserved.cpus, 9):
        return "cpu", "", node.cpus - use.reserved.cpus
    if want.memory_bytes and want.memory_bytes > node.memory_bytes - use.reserved.memory_bytes:
        return "memory", "", node.memory_bytes - use.reserved.memory_bytes
    if svc.generic_reservation:
        have = dict(node.generic)
        held = use.generic or {}
        for kind, n in svc.generic_reservation:
            if n > have.get(kind, 0) - held.get(kind, 0):
                return "generic", kind, have.get(kind, 0) - held.get(kind, 0)
    failing = first_failing(node, svc.constraints)
    if failing is not None:
        return "constraint", failing, 0.0
    if svc.platforms and not _platform_ok(node, svc.platforms):
        return "platform", "", 0.0
    if svc.host_ports and use.ports & set(svc.host_ports):
        return "host_port", "", 0.0
    if svc.max_replicas and (use.tasks or {}).get(svc.id, 0) >= svc.max_replicas:
        return "max_replicas", "", 0.0
    return None


def placement_key(svc: Service) -> tuple[object, ...] | None:
    """What ``place`` reads of a service: two services alike in it are placed alike among
    the same nodes (None: it reads the service's own tasks, ``MaxReplicas``)."""
    if svc.max_replicas:
        return None
    return (
        svc.reservation,
        svc.generic_reservation,
        svc.constraints,
        svc.platforms,
        svc.host_ports,
    )


def place(svc: Service, nodes: Iterable[Node], use: Mapping[str, NodeUse]) -> Placement:
    """Where one more task of ``svc`` could go among ``nodes``, given what the tasks
    already placed hold on each (``use``, by node ID)."""
    placing = Placing(svc, use)
    placing.add(nodes)
    return placing.result()


class Placing:
    """``place``, fed nodes a part at a time (thousands of nodes take milliseconds)."""

    def __init__(self, svc: Service, use: Mapping[str, NodeUse]) -> None:
        self.svc = svc
        self.use = use
        self._fit: list[str] = []
        self._excluded: dict[tuple[str, str], list[tuple[str, float]]] = {}
        self._looked = 0

    def add(self, nodes: Iterable[Node]) -> None:
        svc, use = self.svc, self.use
        for node in nodes:
            self._looked += 1
            why = _first_exclusion(svc, node, use.get(node.id, NO_USE))
            if why is None:
                self._fit.append(node.hostname)
            else:
                self._excluded.setdefault(why[:2], []).append((node.hostname, why[2]))

    def result(self) -> Placement:
        order = {f: i for i, f in enumerate(FILTERS)}
        exclusions = [
            Exclusion(
                filter=f,
                nodes=tuple(sorted(h for h, _ in found)),
                constraint=c if f == "constraint" else "",
                detail=_detail(self.svc, f, c, found),
            )
            for (f, c), found in self._excluded.items()
        ]
        exclusions.sort(key=lambda e: (-len(e.nodes), order[e.filter], e.constraint))
        return Placement(
            nodes=self._looked, fit=tuple(sorted(self._fit)), exclusions=tuple(exclusions)
        )


def _detail(svc: Service, f: str, kind: str, found: list[tuple[str, float]]) -> str:
    """What a task needs of a resource, and the most left on one excluded node."""
    if f not in ("cpu", "memory", "generic"):
        return ""
    host, left = max(found, key=lambda hl: hl[1])
    if f == "cpu":
        return f"needs {svc.reservation.cpus:g} CPUs, {max(left, 0):g} free on {host}"
    if f == "memory":
        need = svc.reservation.memory_bytes
        return f"needs {_gib(need)}, {_gib(max(left, 0))} free on {host}"
    need_n = dict(svc.generic_reservation).get(kind, 0)
    return f"needs {need_n} {kind}, {max(int(left), 0)} free on {host}"


def holds_more(svc: Service) -> bool:
    """Whether the service's placed tasks hold more than their reservation of a node, as
    placement sees it: generic resources, host ports, or a count per node."""
    return bool(svc.generic_reservation or svc.host_ports or svc.max_replicas)


def node_use(
    services: Mapping[str, Service],
    placed: Mapping[str, Mapping[str, int]],
    reserved: Mapping[str, Resources],
) -> dict[str, NodeUse]:
    """What the tasks placed on each node hold there: ``placed`` is service ID -> node
    ID -> its tasks placed there (assigned to running), ``reserved`` what they reserve
    of CPU and memory by node (the model keeps both). Per service, only for those that
    ``holds_more`` (the caller may pass only those in ``placed``): few, where every
    service would make it a stall at scale."""
    generic: dict[str, Counter[str]] = {}
    ports: dict[str, set[tuple[str, int]]] = {}
    tasks: dict[str, dict[str, int]] = {}
    for sid, per_node in placed.items():
        svc = services.get(sid)
        if svc is None or not holds_more(svc):
            continue  # holds nothing another task's placement looks at but its reservation
        for node_id, n in per_node.items():
            if n <= 0:
                continue
            tasks.setdefault(node_id, {})[sid] = n
            for kind, k in svc.generic_reservation:
                generic.setdefault(node_id, Counter())[kind] += n * k
            if svc.host_ports:
                ports.setdefault(node_id, set()).update(svc.host_ports)
    return {
        node_id: NodeUse(
            reserved=reserved.get(node_id, NO_RESOURCES),
            generic=dict(generic[node_id]) if node_id in generic else None,
            ports=frozenset(ports.get(node_id, ())),
            tasks=tasks.get(node_id),
        )
        for node_id in set(tasks) | set(reserved)
    }
