"""The report's lines about what breaks a swarm without a warning, from the model: this
node locked, certificates running out, a CA rotation held up, a setting that hurts, an
overlay network out of addresses, a job that failed; and the inventory of secrets and
configs (not a problem: a line of figures). The thresholds are the alert rules'
(grafana/alerts/swarm-sentinel.rules.yml)."""

from __future__ import annotations

from dataclasses import dataclass

from common.durations import short_duration
from exporter.model import SwarmModel

DAY = 86400.0
CA_WARNING = 30 * DAY
"""A CA root expiring within this is a problem (SwarmCACertificateExpiring)."""
NODE_CERT_WARNING = 7 * DAY
NODE_CERT_SHARE = 0.2
"""A node certificate is renewed at 50-80 % of its lifetime: one with less than this share
left, and within ``NODE_CERT_WARNING``, was not (SwarmNodeCertificateExpiring)."""
DEFAULT_RETENTION = 5
NETWORK_FULL = 0.85
"""Share of a network's addresses in use from which it is a problem."""


@dataclass(frozen=True, slots=True)
class InventoryLine:
    """Secrets or configs: how many, which no service uses, the oldest's age."""

    kind: str  # secrets | configs
    count: int
    unused: tuple[str, ...]
    oldest_created: float  # 0: none

    def text(self, now: float) -> str:
        line = f"{self.count} {self.kind}"
        if self.unused:
            line += f", {len(self.unused)} unused ({', '.join(self.unused)})"
        if self.oldest_created:
            line += f", the oldest made {short_duration(now - self.oldest_created)} ago"
        return line


def inventory(model: SwarmModel) -> tuple[InventoryLine, ...]:
    inv = model.inventory
    lines = []
    for kind in ("secret", "config"):
        objects = inv.of(kind)
        unused = tuple(o.name for o in objects if not inv.users.get((kind, o.id)))
        oldest = min((o.created_at for o in objects if o.created_at), default=0.0)
        lines.append(InventoryLine(kind + "s", len(objects), unused, oldest))
    return tuple(lines)


def hazards(model: SwarmModel, now: float) -> list[tuple[str, str]]:
    """(text, service name or "") of each problem, most urgent first."""
    out: list[tuple[str, str]] = []
    info = model.info
    if info is not None:
        me = info.hostname or "this node"
        if info.local_node_state == "locked":
            out.append((f"{me} is locked (autolock after a restart): run `docker swarm unlock` "
                        "on it", ""))  # fmt: skip
        elif info.local_node_state in ("error", "pending"):
            why = f": {info.error}" if info.error else ""
            out.append((f"{me}'s swarm state is {info.local_node_state}{why}", ""))
    ca = info.ca if info is not None else None
    if ca is not None and ca.root_expiry and ca.root_expiry - now < CA_WARNING:
        out.append((f"the swarm's CA root certificate expires in "
                    f"{short_duration(max(0.0, ca.root_expiry - now))}", ""))  # fmt: skip
    if ca is not None and ca.rotation_in_progress:
        behind = sorted(
            n.hostname + (f" ({n.state})" if n.state != "ready" else "")
            for n in model.nodes.values()
            if model.issuer_current(n) is False
        )
        text = "a CA root rotation is in progress"
        out.append((text + (f"; not yet rotated: {', '.join(behind)}" if behind else ""), ""))
    settings = info.settings if info is not None else None
    expiry = model.node_certificate
    if expiry is not None:
        left = expiry - now
        lifetime = settings.node_cert_expiry if settings is not None else None
        if left < NODE_CERT_WARNING and (not lifetime or left < NODE_CERT_SHARE * lifetime):
            name = info.hostname if info is not None else "this node"
            out.append((f"{name}'s certificate expires in {short_duration(max(0.0, left))}", ""))
    limit = settings.task_history_retention_limit if settings is not None else None
    if limit is not None and limit > DEFAULT_RETENTION:
        out.append((f"the task history retention limit is {limit} (default "
                     f"{DEFAULT_RETENTION}): larger raft snapshots", ""))  # fmt: skip
    out.extend(_networks(model))
    for view in sorted(model.views.values(), key=lambda v: v.service.name):
        if view.job_state == "failed":
            svc = view.service
            why = f": {view.last_error}" if view.last_error else ""
            out.append((f"{'job' if svc.is_job else 'one-shot'} {svc.name} failed: "
                        f"{view.completions_succeeded or 0} of {view.completions_desired or 0} "
                        f"completions{why}", svc.name))  # fmt: skip
    return out


def _networks(model: SwarmModel) -> list[tuple[str, str]]:
    use = model.network_use
    waiting: dict[str, list[str]] = {}
    for view in model.views.values():
        if any(state in ("new", "allocated") for state, _ in view.stuck):
            for net_id in view.service.networks:
                waiting.setdefault(net_id, []).append(view.service.name)
    out = []
    for net in sorted(use.networks.values(), key=lambda n: n.name):
        used = sum(use.used(net, len(model.nodes)).values())
        if not net.addresses or used < NETWORK_FULL * net.addresses:
            continue
        text = (f"network {net.name}: {used} of {net.addresses} addresses in use "
                f"({100 * used / net.addresses:.0f}%)")  # fmt: skip
        names = sorted(waiting.get(net.id, ()))
        if names:
            text += f"; tasks of {', '.join(names)} wait for an address"
        out.append((text, names[0] if len(names) == 1 else ""))
    return out
