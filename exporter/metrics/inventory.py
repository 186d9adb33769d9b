"""Secret and config families: each one's times and how many services refer to it
(``exporter.inventory``; 0: unused). Their data is never read. Cluster series: every
manager reports them. Count them with ``count``, the unused with ``== 0``."""

from __future__ import annotations

from dataclasses import dataclass

from exporter.metrics.kind import Generator, Kind, one
from exporter.metrics.text import Family
from exporter.types import Labels, ObjectMeta


def _families(kind: str) -> tuple[Family, Family, Family]:
    labels = (f"{kind}_id", f"{kind}_name")
    return (
        Family(
            f"dockerswarm_{kind}_created_timestamp_seconds",
            "gauge",
            f"When the {kind} was created (its data is never read).",
            labels,
        ),
        Family(
            f"dockerswarm_{kind}_updated_timestamp_seconds",
            "gauge",
            f"When the {kind} was last updated (its labels: a {kind}'s data cannot change).",
            labels,
        ),
        Family(
            f"dockerswarm_{kind}_services",
            "gauge",
            f"Services whose containers mount the {kind}; 0: unused.",
            labels,
        ),
    )


SECRET_CREATED, SECRET_UPDATED, SECRET_SERVICES = _families("secret")
CONFIG_CREATED, CONFIG_UPDATED, CONFIG_SERVICES = _families("config")


@dataclass(frozen=True, slots=True)
class InventoryRecord:
    meta: ObjectMeta
    services: int


def _ident(r: InventoryRecord) -> Labels:
    kind = r.meta.kind
    return ((f"{kind}_id", r.meta.id), (f"{kind}_name", r.meta.name))


def _generators(
    kind: str, created: Family, updated: Family, services: Family
) -> tuple[Generator[InventoryRecord], ...]:
    def mine(r: InventoryRecord) -> bool:
        return r.meta.kind == kind

    return (
        Generator(created, one(lambda r: (r.meta.created_at or None) if mine(r) else None)),
        Generator(updated, one(lambda r: (r.meta.updated_at or None) if mine(r) else None)),
        Generator(services, one(lambda r: r.services if mine(r) else None)),
    )


INVENTORY: Kind[InventoryRecord] = Kind(
    _ident,
    (
        *_generators("secret", SECRET_CREATED, SECRET_UPDATED, SECRET_SERVICES),
        *_generators("config", CONFIG_CREATED, CONFIG_UPDATED, CONFIG_SERVICES),
    ),
)
FAMILIES = INVENTORY.families
