"""The in-memory model of one swarm, as seen through one manager.

The watcher feeds it parsed objects; it derives, per service, what the
metrics and the healer need (latest task per slot, running vs desired, stuck
tasks, failures). Each upsert returns what changed, for whoever wants to say
so (the watcher logs it); ``take_changes()`` hands over every object changed
since the last call, for whoever renders them. It does no I/O and knows
nothing of metrics text.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

from exporter.constraints import eligible
from exporter.inventory import Inventory, Key
from exporter.netuse import NO_SHARE, NetworkUse, share_of
from exporter.nodeload import NodeLoad
from exporter.placement import Placement
from exporter.reasons import classify
from exporter.slots import (
    COUNTED_MEMORY,
    RESTART_MEMORY,
    Ended,
    ServiceTasks,
    current,
    latest_per_slot,
)
from exporter.types import (
    NO_RESOURCES,
    PRE_RUN_STATES,
    Network,
    Node,
    ObjectMeta,
    Resources,
    Service,
    SwarmInfo,
    Task,
)
from exporter.views import ServiceView
from exporter.work import work_of


@dataclass(frozen=True, slots=True)
class ModelChanges:
    """What changed in the model since the last ``take_changes()``."""

    nodes: frozenset[str] = frozenset()
    """Nodes upserted."""
    node_loads: frozenset[str] = frozenset()
    """Nodes whose current tasks (their counts by state, what they reserve) moved."""
    services: frozenset[str] = frozenset()
    """Services whose view (the service or what its tasks say) changed."""
    removed_nodes: frozenset[str] = frozenset()
    removed_services: frozenset[str] = frozenset()
    cluster: bool = False
    """The engine's /info, or the managers among the nodes."""
    networks: frozenset[str] = frozenset()
    """Networks listed anew, or whose addresses in use moved."""
    removed_networks: frozenset[str] = frozenset()
    inventory: frozenset[Key] = frozenset()
    """Secrets and configs listed anew, or whose users moved."""
    removed_inventory: frozenset[Key] = frozenset()


@dataclass(frozen=True, slots=True)
class NodeChange:
    old: Node | None  # None: a node not seen before
    new: Node


@dataclass(frozen=True, slots=True)
class ServiceChange:
    old: Service | None  # None: a service not seen before
    new: Service


class SwarmModel:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.info: SwarmInfo | None = None
        self.node_id = ""
        """This engine's node ID, as /info last gave it: a locked engine's says none."""
        self.node_certificate: float | None = None
        """When this node's own certificate expires (``--node.certificate-file``)."""
        self.nodes: dict[str, Node] = {}
        self.services: dict[str, Service] = {}
        self.views: dict[str, ServiceView] = {}
        self._tasks: dict[str, ServiceTasks] = {}
        self.load = NodeLoad()
        self.network_use = NetworkUse()
        self.inventory = Inventory()
        self._eligible: dict[tuple[str, ...], int] = {}
        self._constraint_users: Counter[tuple[str, ...]] = Counter()
        self._globals: dict[str, tuple[str, ...]] = {}  # global services' constraints
        # What changed since the last take_changes(): ids, or the cluster as a whole.
        self._nodes_changed: set[str] = set()
        self._loads_changed: set[str] = set()
        self._services_changed: set[str] = set()
        self._nodes_removed: set[str] = set()
        self._services_removed: set[str] = set()
        self._cluster_changed = True

    def take_changes(self) -> ModelChanges:
        """Every object changed since the last call; the model forgets them."""
        networks, removed_networks = self.network_use.take_changes()
        inventory, removed_inventory = self.inventory.take_changes()
        changes = ModelChanges(
            networks=networks,
            removed_networks=removed_networks,
            inventory=inventory,
            removed_inventory=removed_inventory,
            nodes=frozenset(self._nodes_changed),
            node_loads=frozenset(self._loads_changed),
            services=frozenset(self._services_changed),
            removed_nodes=frozenset(self._nodes_removed),
            removed_services=frozenset(self._services_removed),
            cluster=self._cluster_changed,
        )
        self._nodes_changed.clear()
        self._loads_changed.clear()
        self._services_changed.clear()
        self._nodes_removed.clear()
        self._services_removed.clear()
        self._cluster_changed = False
        return changes

    def copy(self) -> SwarmModel:
        """What a report reads (``swarm_sentinel.status.report``), in containers of its
        own, to read in another thread while this one goes on changing: the same
        objects, which the model never changes in place (it replaces them). Not for
        feeding: what it keeps of each service's tasks stays behind."""
        c = SwarmModel(self.clock)
        c.info = self.info
        c.nodes = dict(self.nodes)
        c.services = dict(self.services)
        c.views = dict(self.views)
        c.load = self.load.copy()
        c.network_use = self.network_use.copy()
        c.inventory = self.inventory.copy()
        c._eligible = dict(self._eligible)
        c._cluster_changed = False
        return c

    # ---- feeding ---------------------------------------------------------
    def set_info(self, info: SwarmInfo) -> None:
        if info != self.info:
            if _issuer(info) != _issuer(self.info):
                self._nodes_changed |= set(self.nodes)  # each node's issuer_current
            self.info = info
            self.node_id = info.node_id or self.node_id
            self._cluster_changed = True

    def set_node_certificate(self, expiry: float | None) -> None:
        if expiry != self.node_certificate:
            self.node_certificate = expiry
            self._cluster_changed = True

    def replace_networks(self, networks: Iterable[Network]) -> None:
        self.network_use.replace(networks)

    def replace_inventory(self, kind: str, objects: Iterable[ObjectMeta]) -> None:
        """Every secret (``kind`` secret) or config there is."""
        self.inventory.replace(kind, objects)

    def replace_nodes(self, nodes: Iterable[Node]) -> list[NodeChange]:
        fresh = {n.id: n for n in nodes}
        for gone in set(self.nodes) - set(fresh):
            self.remove_node(gone)
        return [c for c in map(self.upsert_node, fresh.values()) if c is not None]

    def upsert_node(self, node: Node) -> NodeChange | None:
        old = self.nodes.get(node.id)
        if old == node:
            return None
        self.nodes[node.id] = node
        self._nodes_changed.add(node.id)
        self._nodes_removed.discard(node.id)
        self._cluster_changed = True
        if old is None:
            self.network_use.nodes_moved()
        if old is None or _placement_changed(old, node):
            self._node_changed(node.id, old, node)
        return NodeChange(old, node)

    def remove_node(self, node_id: str) -> None:
        old = self.nodes.pop(node_id, None)
        if old is None:
            return
        self._nodes_changed.discard(node_id)
        self._loads_changed.discard(node_id)
        self._nodes_removed.add(node_id)
        self._cluster_changed = True
        self.network_use.nodes_moved()
        self._node_changed(node_id, old, None)

    def replace_services(self, services: Iterable[Service]) -> None:
        fresh = {s.id: s for s in services}
        for gone in set(self.services) - set(fresh):
            self.remove_service(gone)
        for svc in fresh.values():
            self.upsert_service(svc)

    def upsert_service(self, service: Service) -> ServiceChange | None:
        old = self.services.get(service.id)
        if old is not None and service.running_tasks is None:
            # An inspect answer has no ServiceStatus: keep the last counts.
            service = replace(
                service, running_tasks=old.running_tasks, desired_tasks=old.desired_tasks
            )
        if old == service:
            return None
        self.inventory.service_moved(old, service)
        self.services[service.id] = service
        if old is None or old.constraints != service.constraints:
            self._constraint_users[service.constraints] += 1
            if old is not None:
                self._release_constraints(old.constraints)
        if service.is_global:
            self._globals[service.id] = service.constraints
        else:
            self._globals.pop(service.id, None)
        self._services_removed.discard(service.id)
        self._recompute(service.id)
        return ServiceChange(old, service)

    def remove_service(self, service_id: str) -> None:
        svc = self.services.pop(service_id, None)
        if svc is None:
            return
        self._globals.pop(service_id, None)
        self.views.pop(service_id, None)
        self._tasks.pop(service_id, None)
        self._release_constraints(svc.constraints)
        self.inventory.service_moved(svc, None)
        self.network_use.apply(service_id, NO_SHARE)
        for node_id in self.load.apply(service_id, {}, NO_RESOURCES):
            if node_id in self.nodes:
                self._loads_changed.add(node_id)
        self._services_changed.discard(service_id)
        self._services_removed.add(service_id)

    def _release_constraints(self, constraints: tuple[str, ...]) -> None:
        # A constraint set no service has any more leaves the cache: a swarm that
        # deploys short-lived stacks with their own constraints would grow it forever.
        self._constraint_users[constraints] -= 1
        if self._constraint_users[constraints] <= 0:
            del self._constraint_users[constraints]
            self._eligible.pop(constraints, None)

    def replace_tasks(
        self, tasks: Iterable[Task], service_ids: Iterable[str] | None, *, whole: bool = False
    ) -> list[Ended]:
        """The task list of ``service_ids`` (None: of every service): their current
        tasks, or with ``whole`` their whole histories, the failed tasks the engine
        still holds included (counted once each, whenever they are first seen).

        The latest task of each slot is taken among the current ones either way (a
        one-shot's among all: its ended tasks are what says it is done), so that a
        service's tasks read the same whichever way they were listed.

        Returns the tasks that were the latest of their slot, have been replaced, and
        are not in a list of current ``tasks``: fetched (``record_ended``), they tell
        whether they failed. A whole history holds every task the engine still has.
        """
        by_service: dict[str, dict[str, Task]] = {}
        for t in tasks:
            by_service.setdefault(t.service_id, {})[t.id] = t
        targets = set(self.services) if service_ids is None else set(service_ids)
        now = self.clock()
        ended: list[Ended] = []
        for sid in targets:
            svc = self.services.get(sid)
            if svc is None:
                continue
            st = self._tasks.setdefault(sid, ServiceTasks())
            fresh = by_service.get(sid, {})
            new_failures = st.count_failures(fresh.values(), now)
            if not st.known and not whole:
                st.history_before = max(
                    (max(t.timestamp, t.created_at) for t in fresh.values()), default=0.0
                )
            # Forget what left the engine's lists long ago; what it still lists stays.
            st.counted = {
                tid: at
                for tid, at in st.counted.items()
                if tid in fresh or now - at < COUNTED_MEMORY
            }
            keep_ended = svc.runs_once and not svc.is_job
            latest = latest_per_slot(t for t in fresh.values() if keep_ended or current(t))
            if st.known and not whole:
                for key, old in st.latest.items():
                    new = latest.get(key)
                    if (
                        new is not None
                        and new.id != old.id
                        and old.id not in fresh
                        and old.id not in st.counted
                    ):
                        ended.append(Ended(old.id, sid, key))
            new_error = st.note_error(fresh.values())
            # A job's or one-shot's outcome, from its whole history (how it is listed).
            moved = svc.runs_once and st.note_outcome(fresh.values())
            if st.known and latest == st.latest and not (new_failures or new_error or moved):
                continue
            st.latest = latest
            st.known = True
            self._recompute(sid)
        return ended

    def record_ended(self, asked: Iterable[Ended], tasks: Iterable[Task]) -> list[str]:
        """Replaced tasks fetched by ID (``asked``, from ``replace_tasks``): count those
        that failed.

        Returns the services of an asked task the engine no longer holds: their whole
        history must be listed to count the failures it still holds (a crash loop went
        through more tasks of a slot since the last list than the engine keeps). A slot
        that failed more than once between two lists, but not that often, counts once:
        listing whole histories for it costs more than it tells (the nodes count every
        exit).
        """
        now = self.clock()
        found = {t.id: t for t in tasks}
        by_service: dict[str, list[Task]] = {}
        lost: set[str] = set()
        for e in asked:
            if e.service_id not in self.services or e.service_id not in self._tasks:
                continue
            t = found.get(e.task_id)
            if t is None:
                lost.add(e.service_id)
            else:
                by_service.setdefault(e.service_id, []).append(t)
        for sid, ended in by_service.items():
            st = self._tasks[sid]
            new_failures = st.count_failures(ended, now)
            if st.note_error(ended) or new_failures:
                self._recompute(sid)
        return sorted(lost)

    # ---- deriving ----------------------------------------------------------
    def eligible_count(self, constraints: tuple[str, ...]) -> int:
        """Ready, active nodes that ``constraints`` allow (cached per constraint set)."""
        n = self._eligible.get(constraints)
        if n is None:
            n = sum(1 for node in self.nodes.values() if eligible(node, constraints))
            self._eligible[constraints] = n
        return n

    def eligible_nodes(self, constraints: tuple[str, ...]) -> list[Node]:
        """The ready, active nodes that ``constraints`` allow."""
        return [node for node in self.nodes.values() if eligible(node, constraints)]

    def _node_changed(self, node_id: str, old: Node | None, new: Node | None) -> None:
        # One node moves each cached count by at most one: adjusting them costs
        # O(constraint sets), where counting again would cost O(sets x nodes)
        # per node event, long enough at scale to stall the event loop
        # (docs/benchmarks.md, "The figures behind the code's slices").
        moved: set[tuple[str, ...]] = set()
        for constraints, count in self._eligible.items():
            delta = int(new is not None and eligible(new, constraints)) - int(
                old is not None and eligible(old, constraints)
            )
            if delta:
                self._eligible[constraints] = count + delta
                moved.add(constraints)
        # Only global services whose eligible count moved, and services with a
        # task on that node (running there or not), can see a difference: found
        # through indexes, as going through every service was itself a stall.
        affected = set(self.load.services_on(node_id))
        if moved:
            affected.update(
                sid for sid, c in self._globals.items() if c in moved and sid in self.services
            )
        for sid in affected:
            if sid in self.services:
                self._recompute(sid)

    def _recompute(self, sid: str) -> None:
        svc = self.services[sid]
        st = self._tasks.get(sid) or ServiceTasks()
        latest = st.latest
        states: Counter[str] = Counter()
        stuck: dict[tuple[str, str], float] = {}
        stuck_errors: dict[tuple[str, str], str] = {}
        per_node: dict[str, Counter[str]] = {}
        running_per_node: Counter[str] = Counter()
        running = updated = 0
        running_since = 0.0
        for t in latest.values():
            states[t.state] += 1
            if t.node_id:
                per_node.setdefault(t.node_id, Counter())[t.state] += 1
            node = self.nodes.get(t.node_id)
            if t.state == "running" and (node is None or node.state != "down"):
                # A task on a down node is not running, whatever its last report.
                running += 1
                running_per_node[t.node_id] += 1
                running_since = max(running_since, t.timestamp)
                updated += bool(t.spec_digest) and t.spec_digest == svc.template_digest
            if t.state in PRE_RUN_STATES:
                key2 = (t.state, classify(t.err, None))
                since = t.timestamp or t.created_at
                if key2 not in stuck or since < stuck[key2]:
                    stuck[key2] = since
                if t.err:
                    stuck_errors[key2] = t.err
        desired, completions, job_state = work_of(
            svc, st, lambda: self.eligible_count(svc.constraints)
        )
        if not st.known and svc.running_tasks is not None:
            running = svc.running_tasks
        now = self.clock()
        while st.restarts and now - st.restarts[0] > RESTART_MEMORY:
            st.restarts.popleft()
        view = ServiceView(
            service=svc,
            desired=desired,
            running=running,
            task_states=dict(states),
            stuck=stuck,
            failures=dict(st.failures),
            running_per_node=dict(running_per_node),
            last_error=st.newest_error.err if st.newest_error else "",
            tasks_known=st.known,
            running_since=running_since,
            last_error_at=st.newest_error.timestamp if st.newest_error else 0.0,
            last_error_reason=(
                classify(st.newest_error.err, st.newest_error.exit_code)
                if st.newest_error
                else "none"
            ),
            stuck_errors=stuck_errors,
            restarts=tuple(sorted(t for t in st.restarts if now - t <= RESTART_MEMORY)),
            completions_desired=completions[0] if completions else None,
            completions_succeeded=completions[1] if completions else None,
            recent_failures=tuple(
                sorted(st.recent, key=lambda t: (t.timestamp, t.created_at), reverse=True)
            ),
            updated=updated,
            job_state=job_state,
            last_success=st.last_success if svc.runs_once else 0.0,
        )
        old_view = self.views.get(sid)
        if old_view is not None and old_view.placement is not None and view.pending:
            # Kept until the next ``planning.explain_placements``: it reads every node.
            view = replace(view, placement=old_view.placement)
        if old_view != view:
            self.views[sid] = view
            self._services_changed.add(sid)
        for node_id in self.load.apply(sid, per_node, svc.reservation):
            if node_id in self.nodes:
                self._loads_changed.add(node_id)
        self.network_use.apply(sid, share_of(svc, latest.values()))

    def set_placement(self, sid: str, placement: Placement | None) -> None:
        """Where one more task of the service could go (``planning.explain_placements``,
        once a poll: it reads every node), or None once none is pending."""
        view = self.views.get(sid)
        if view is not None and view.placement != placement:
            self.views[sid] = replace(view, placement=placement)
            self._services_changed.add(sid)

    @property
    def node_tasks(self) -> Mapping[str, Counter[str]]:
        """Node ID -> the current tasks placed there, by observed state."""
        return self.load.tasks

    @property
    def node_reserved(self) -> Mapping[str, Resources]:
        """Node ID -> what the tasks placed there reserve of its resources."""
        return self.load.reserved

    def placed(self) -> dict[str, dict[str, int]]:
        """Service ID -> node ID -> its tasks placed there (assigned to running)."""
        return self.load.placed()

    # ---- reading -----------------------------------------------------------
    @property
    def managers(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.is_manager]

    @property
    def leader(self) -> Node | None:
        return next((n for n in self.nodes.values() if n.leader), None)

    def issuer_current(self, node: Node) -> bool | None:
        """Whether the node's certificate is issued by the cluster's CA as /info says it
        (after a root rotation: it has its new one); None when either is not known."""
        cluster = _issuer(self.info)
        if cluster is None or not all(node.tls_issuer):
            return None
        return node.tls_issuer == cluster

    def listed(self, sid: str) -> bool:
        """Whether the service's tasks were listed at least once."""
        st = self._tasks.get(sid)
        return st is not None and st.known

    def held(self, sid: str) -> Mapping[tuple[str, int | str], Task]:
        """The latest task the model holds of each of the service's slots."""
        st = self._tasks.get(sid)
        return st.latest if st is not None else {}

    def mark_running(self, sid: str, tasks: Iterable[Task]) -> None:
        """``tasks``, fetched by ID and found running (``exporter.planning``), replace
        the ones the model held of their slots: a recovery confirmed task by task."""
        st = self._tasks.get(sid)
        if st is None or sid not in self.services:
            return
        by_id = {t.id: t for t in tasks}
        st.latest = {key: by_id.get(held.id, held) for key, held in st.latest.items()}
        self._recompute(sid)


def _issuer(info: SwarmInfo | None) -> tuple[str, str] | None:
    if info is None or info.ca is None or not all(info.ca.issuer):
        return None
    return info.ca.issuer


def _placement_changed(old: Node, new: Node) -> bool:
    return (old.state, old.availability, old.labels, old.engine_labels, old.role) != (
        new.state,
        new.availability,
        new.labels,
        new.engine_labels,
        new.role,
    )
