"""The node changes an operator wants to hear about, logged as the watcher applies
them: a node joining, its state, availability or reachability moving, a new leader."""

from __future__ import annotations

import structlog

from exporter.model import NodeChange

log = structlog.get_logger("exporter.watcher")


def note_nodes(synced: bool, changes: list[NodeChange]) -> None:
    """Log the node changes an operator wants to hear about (a node joining only once
    the swarm was listed: ``synced``)."""
    stepped_down = next(
        (c.new.hostname for c in changes if c.old and c.old.leader and not c.new.leader), ""
    )
    for change in changes:
        old, new = change.old, change.new
        if old is None:
            if synced:
                log.info("node_joined", node=new.hostname, role=new.role)
            continue
        if old.state != new.state:
            log.warning(
                "node_state_changed",
                node=new.hostname,
                old=old.state,
                new=new.state,
                message=new.message,
            )
        if old.availability != new.availability:
            log.info(
                "node_availability_changed",
                node=new.hostname,
                old=old.availability,
                new=new.availability,
            )
        if old.is_manager and old.reachability != new.reachability:
            log.warning(
                "manager_reachability_changed",
                node=new.hostname,
                old=old.reachability,
                new=new.reachability,
            )
        if new.leader and not old.leader:
            log.warning("leader_changed", new=new.hostname, old=stepped_down)
