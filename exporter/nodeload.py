"""What the services' current tasks hold on each node: how many by state, and what
they reserve of its resources, as the scheduler counts it. Each service's share is
kept, so that a service's move adjusts the totals by its difference, never counting
every service again."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from exporter.types import NO_RESOURCES, PLACED_STATES, Resources


class NodeLoad:
    def __init__(self) -> None:
        self.tasks: dict[str, Counter[str]] = {}
        """Node ID -> state -> count, summed over services' latest tasks."""
        self.reserved: dict[str, Resources] = {}
        """Node ID -> what the tasks placed there reserve."""
        self._share: dict[str, dict[str, Counter[str]]] = {}  # service -> node -> states
        self._placed: dict[str, dict[str, int]] = {}  # service -> node -> tasks placed
        self._on_node: dict[str, set[str]] = {}  # node -> services with a task there
        self._reserved_share: dict[str, tuple[Resources, dict[str, int]]] = {}

    def copy(self) -> NodeLoad:
        """The same figures in containers of their own (what they hold is never changed
        in place), to read in another thread."""
        c = NodeLoad()
        c.tasks = dict(self.tasks)
        c.reserved = dict(self.reserved)
        c._share = dict(self._share)
        c._placed = dict(self._placed)
        c._reserved_share = dict(self._reserved_share)
        return c  # (``services_on`` is for feeding: left empty)

    def share(self, sid: str) -> Mapping[str, Counter[str]]:
        """The service's tasks on each node, by state."""
        return self._share.get(sid, {})

    def services_on(self, node_id: str) -> frozenset[str]:
        """The services with a current task on the node (any state)."""
        return frozenset(self._on_node.get(node_id, ()))

    def apply(
        self, sid: str, per_node: dict[str, Counter[str]], reservation: Resources
    ) -> set[str]:
        """The service's current tasks are now ``per_node``, each reserving
        ``reservation``; returns the nodes whose figures moved."""
        touched = self._apply_tasks(sid, per_node)
        placed = _placed_counts(per_node)
        if placed:
            self._placed[sid] = placed
        else:
            self._placed.pop(sid, None)
        touched |= self._apply_reserved(sid, reservation, placed)
        return touched

    def placed(self) -> dict[str, dict[str, int]]:
        """Service ID -> node ID -> its tasks placed there (assigned to running)."""
        return dict(self._placed)

    def _apply_tasks(self, sid: str, per_node: dict[str, Counter[str]]) -> set[str]:
        old = self._share.get(sid, {})
        if old == per_node:
            return set()
        touched = set(old) | set(per_node)
        for node_id in set(old) - set(per_node):
            on = self._on_node.get(node_id)
            if on is not None:
                on.discard(sid)
                if not on:
                    del self._on_node[node_id]
        for node_id in per_node:
            self._on_node.setdefault(node_id, set()).add(sid)
        for node_id in touched:
            # A new count, never the old one changed: a record being rendered, or a copy
            # read in another thread (``copy``), may hold the old one.
            total = Counter(self.tasks.get(node_id, ()))
            total.subtract(old.get(node_id, Counter()))
            total.update(per_node.get(node_id, Counter()))
            for state in [s for s, c in total.items() if c <= 0]:
                del total[state]
            self.tasks[node_id] = total
        if per_node:
            self._share[sid] = per_node
        else:
            self._share.pop(sid, None)
        return touched

    def _apply_reserved(self, sid: str, reservation: Resources, placed: dict[str, int]) -> set[str]:
        """What the service's placed tasks reserve on each node, as the scheduler counts
        it: moved by the difference from its last share, not counted again."""
        share = (reservation, placed) if reservation and placed else None
        old = self._reserved_share.get(sid)
        if old == share:
            return set()
        touched: set[str] = set()
        moves = [(-1, old)] if old is not None else []
        if share is not None:
            moves.append((1, share))
        for sign, (res, counts) in moves:
            for node_id, n in counts.items():
                cur = self.reserved.get(node_id, NO_RESOURCES)
                new = Resources(
                    cpus=round(cur.cpus + sign * n * res.cpus, 9),
                    memory_bytes=cur.memory_bytes + sign * n * res.memory_bytes,
                )
                if new:
                    self.reserved[node_id] = new
                else:
                    self.reserved.pop(node_id, None)
                touched.add(node_id)
        if share is None:
            self._reserved_share.pop(sid, None)
        else:
            self._reserved_share[sid] = share
        return touched


def _placed_counts(per_node: Mapping[str, Counter[str]]) -> dict[str, int]:
    """Tasks placed on each node (assigned to running: what the scheduler counts as
    holding the node's resources), from tasks per node by state."""
    return {
        node_id: n
        for node_id, states in per_node.items()
        if (n := sum(c for state, c in states.items() if state in PLACED_STATES))
    }
