"""The swarm's secrets and configs: their names and times (never their data), and how
many services refer to each (``TaskTemplate.ContainerSpec.Secrets`` / ``Configs``, in
every /services answer). Unused: no service refers to it. A service's move adjusts
the counts by its difference, never counting every service again."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from exporter.types import ObjectMeta, Service

KINDS = ("secret", "config")

Key = tuple[str, str]
"""(kind, ID)."""


def _refs(svc: Service | None) -> set[Key]:
    if svc is None:
        return set()
    return {("secret", s) for s in svc.secrets} | {("config", c) for c in svc.configs}


class Inventory:
    def __init__(self) -> None:
        self.objects: dict[Key, ObjectMeta] = {}
        self.users: Counter[Key] = Counter()
        """Services referring to each, known objects or not (the lists come apart)."""
        self.changed: set[Key] = set()
        self.removed: set[Key] = set()

    def copy(self) -> Inventory:
        """The same objects and counts in containers of their own, to read in another
        thread."""
        c = Inventory()
        c.objects = dict(self.objects)
        c.users = Counter(self.users)
        return c

    def replace(self, kind: str, objects: Iterable[ObjectMeta]) -> None:
        """Every secret (or config) there is now."""
        fresh = {(kind, o.id): o for o in objects}
        for key in [k for k in self.objects if k[0] == kind and k not in fresh]:
            del self.objects[key]
            self.changed.discard(key)
            self.removed.add(key)
        for key, obj in fresh.items():
            if self.objects.get(key) != obj:
                self.objects[key] = obj
                self.removed.discard(key)
                self.changed.add(key)

    def service_moved(self, old: Service | None, new: Service | None) -> None:
        """A service was added, changed or removed: its references moved."""
        before, after = _refs(old), _refs(new)
        for key in before - after:
            self.users[key] -= 1
            if self.users[key] <= 0:
                del self.users[key]
        for key in after - before:
            self.users[key] += 1
        self.changed |= before ^ after

    def of(self, kind: str) -> list[ObjectMeta]:
        return sorted((o for k, o in self.objects.items() if k[0] == kind), key=lambda o: o.name)

    def take_changes(self) -> tuple[frozenset[Key], frozenset[Key]]:
        """The objects (known ones) whose figures moved, and those removed."""
        changed = frozenset(self.changed & set(self.objects))
        removed = frozenset(self.removed)
        self.changed.clear()
        self.removed.clear()
        return changed, removed
