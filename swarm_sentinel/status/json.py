"""``status --output json``: the report as a JSON document, for scripts."""

from __future__ import annotations

from typing import Any

from common.text import iso_utc
from exporter.placement import Placement
from swarm_sentinel.status.explain import Explanation
from swarm_sentinel.status.report import Report


def _iso(ts: float) -> str | None:
    return iso_utc(ts) or None


def _placement(p: Placement | None) -> dict[str, Any] | None:
    if p is None:
        return None
    return {
        "nodes": p.nodes,
        "fit": list(p.fit),
        "explanation": p.explain(),
        "excluded": [
            {
                "filter": e.filter,
                "constraint": e.constraint or None,
                "nodes": list(e.nodes),
                "detail": e.detail or None,
            }
            for e in p.exclusions
        ],
    }


def to_json(r: Report) -> dict[str, Any]:
    q = r.quorum
    return {
        "time": _iso(r.now),
        "engine": r.engine,
        "seen_from": r.seen_from,
        "cluster_id": r.cluster_id,
        "healthy": r.healthy,
        "complete": r.complete,
        "error": r.error or None,
        "problems": [p.text for p in r.problems],
        "inventory": {
            line.kind: {
                "count": line.count,
                "unused": list(line.unused),
                "oldest_created": _iso(line.oldest_created) if line.oldest_created else None,
            }
            for line in r.inventory
        },
        "nodes": [
            {
                "id": n.id,
                "hostname": n.hostname,
                "self": n.is_self,
                "role": n.role,
                "status": n.status.lower(),
                "availability": n.availability.lower(),
                "manager_status": n.manager_status.lower() or None,
                "engine_version": n.engine_version,
                "running_tasks": n.running_tasks,
                "message": n.message,
            }
            for n in r.nodes
        ],
        "quorum": {
            "managers": q.managers,
            "reachable": q.reachable,
            "quorum": q.quorum,
            "can_lose": q.can_lose,
            "has_leader": q.has_leader,
            "leader": q.leader or None,
            "state": q.state,
            "summary": q.summary,
        },
        "services_not_converged": [
            {
                "id": s.id,
                "name": s.name,
                "stack": s.stack,
                "mode": s.mode,
                "running": s.running,
                "desired": s.desired,
                "reason": s.reason,
                "last_error": s.last_error,
                "last_error_at": _iso(s.last_error_at),
                "update_state": s.update_state or None,
                "failures": dict(s.failures),
                "placement": _placement(s.placement),
            }
            for s in r.services
        ],
        "stuck_tasks": [
            {
                "service": t.service,
                "service_id": t.service_id,
                "state": t.state,
                "reason": t.reason,
                "since": _iso(t.since),
                "seconds": round(t.seconds, 1),
                "detail": t.detail,
            }
            for t in r.stuck
        ],
        "healer": [
            {
                "service": h.service,
                "service_id": h.service_id,
                "forces": [_iso(t) for t in h.forces],
                "last_force": _iso(h.last_force),
                "next_allowed": _iso(h.next_allowed),
                "attempts_24h": h.attempts,
                "max_attempts": h.max_attempts,
                "given_up": h.given_up,
                "resumes_at": _iso(h.resumes_at),
                "converged": h.converged,
                "error": h.error or None,
            }
            for h in r.healer
        ],
    }


def explanation_to_json(e: Explanation) -> dict[str, Any]:
    """``explain --output json``."""
    r = e.row
    return {
        "time": _iso(e.now),
        "id": r.id,
        "name": r.name,
        "stack": r.stack,
        "mode": r.mode,
        "image": e.image,
        "running": r.running,
        "desired": r.desired,
        "converged": e.converged,
        "reason": r.reason,
        "last_error": r.last_error,
        "last_error_at": _iso(r.last_error_at),
        "failures": dict(r.failures),
        "update_state": r.update_state or None,
        "update_started_at": _iso(e.update_started_at),
        "update_message": e.update_message or None,
        "updated": e.updated,
        "failed_tasks": [
            {
                "task_id": f.task_id,
                "at": _iso(f.at),
                "node": f.node or None,
                "state": f.state,
                "exit_code": f.exit_code,
                "reason": f.reason,
                "error": f.error,
            }
            for f in e.failed
        ],
        "placement": _placement(e.placement),
        "stuck_tasks": [
            {"state": t.state, "reason": t.reason, "since": _iso(t.since), "detail": t.detail}
            for t in e.stuck
        ],
        "healer": e.healer,
        "logs": None
        if e.logs is None
        else {
            "task_id": e.logs.task_id,
            "lines": list(e.logs.lines),
            "problem": e.logs.problem or None,
        },
    }
