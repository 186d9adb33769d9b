"""The real engine's JSON for the simulated objects, as the engine of one API version
writes it (``engine-samples/<API version>/``): key order, the keys each state has,
compact encoding; its headers, and its refusal of a client version it does not speak.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.sim.objects import SimNode, SimService, SimTask
from common.apiversion import ApiVersion

SAMPLES = Path(__file__).resolve().parents[2] / "engine-samples"
API_VERSIONS = ("1.41", "1.51")
"""The engines whose answers engine-samples/ holds: dockerd 20.10 and Engine 28.5."""
# Task states that carry a ContainerStatus (the samples: none for pending and ready).
_CONTAINER_STATES = frozenset(
    {"starting", "running", "complete", "failed", "shutdown", "rejected", "remove", "orphaned"}
)


def rfc3339(ts: float) -> str:
    """Go's RFC3339Nano: nanoseconds with trailing zeros trimmed."""
    sec = int(ts)
    ns = round((ts - sec) * 1e9)
    if ns >= 1_000_000_000:
        sec, ns = sec + 1, ns - 1_000_000_000
    frac = f".{ns:09d}".rstrip("0") if ns else ""
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + (frac if frac != "." else "") + "Z"
    )


def _q(text: str) -> str:
    return json.dumps(text)


def compact(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _load(name: str, api: str) -> Any:
    return json.loads((SAMPLES / api / name).read_text())


def headers(api: str) -> dict[str, str]:
    """What every answer of that engine carries (Api-Version: its newest version)."""
    version = _load("version.json", api)["Version"]
    return {
        "Api-Version": api,
        "Docker-Experimental": "false",
        "Ostype": "linux",
        "Server": f"Docker/{version} (linux)",
    }


def version_refusal(asked: str, api: str, minimum: str) -> str | None:
    """The engine's answer to a client version it does not speak, or None."""
    v = ApiVersion.parse(asked)
    if minimum and v < ApiVersion.parse(minimum):
        return (
            f"client version {asked} is too old. Minimum supported API version is {minimum}, "
            "please upgrade your client to a newer version"
        )
    if v > ApiVersion.parse(api):
        return f"client version {asked} is too new. Maximum supported API version is {api}"
    return None


def service_spec(s: SimService) -> dict[str, Any]:
    """A service's Spec (also what PreviousSpec keeps after an update)."""
    template: dict[str, Any] = {
        "ContainerSpec": {
            "Image": s.image,
            "Args": ["sleep", "1000000"],
            "Init": False,
            "DNSConfig": {},
            "Isolation": "default",
        },
        "Resources": {"Limits": {}, "Reservations": {}},
        "RestartPolicy": {
            "Condition": "any",
            "Delay": int(s.restart_delay * 1e9),
            "MaxAttempts": 0,
        },
        "Placement": {"Constraints": list(s.constraints)} if s.constraints else {},
        "ForceUpdate": s.force_update,
        "Runtime": "container",
    }
    mode: dict[str, Any] = (
        {"Global": {}} if s.mode == "global" else {"Replicated": {"Replicas": s.replicas}}
    )
    return {
        "Name": s.name,
        "Labels": dict(s.labels),
        "TaskTemplate": template,
        "Mode": mode,
        "EndpointSpec": {"Mode": "vip"},
    }


def task_spec(s: SimService) -> str:
    """The Spec of a task created now from ``s``, compact: a task keeps the template it
    was created from, rendered once."""
    template = service_spec(s)["TaskTemplate"]
    template.pop("Runtime", None)  # tasks' Spec has no Runtime (samples)
    return compact(template)


def event_line(ev: Mapping[str, Any]) -> bytes:
    """One event as /events streams it: a JSON line."""
    return (compact(ev) + "\n").encode()


class Shapes:
    """The answers of the engine of one API version (one of API_VERSIONS); renders the
    objects into their caches, and reuses what is there."""

    def __init__(self, api: str, min_api: str = "") -> None:
        if api not in API_VERSIONS:
            raise ValueError(f"no samples of API {api}: one of {API_VERSIONS}")
        self.api = api
        self.min_api = min_api
        self.headers = headers(api)
        self._node_tmpl = _load("nodes.json", api)
        self._info_tmpl = _load("info.json", api)
        version = _load("version.json", api)
        if min_api:
            version["MinAPIVersion"] = min_api
        self.version_body = (compact(version) + "\n").encode()
        # Engines since 1.42 list a task's cluster volumes (null when none).
        self._task_tail = b',"Volumes":null}' if api != "1.41" else b"}"

    def refusal(self, asked: str) -> str | None:
        return version_refusal(asked, self.api, self.min_api)

    def node_json(self, n: SimNode) -> bytes:
        if n.raw is None:
            tmpl = self._node_tmpl[0]["Description"]
            status: dict[str, Any] = {"State": n.state}
            if n.message:
                status["Message"] = n.message
            status["Addr"] = n.addr
            d: dict[str, Any] = {
                "ID": n.id,
                "Version": {"Index": n.version},
                "CreatedAt": n.created,
                "UpdatedAt": n.updated,
                "Spec": {"Labels": n.labels, "Role": n.role, "Availability": n.availability},
                "Description": {
                    "Hostname": n.hostname,
                    "Platform": tmpl["Platform"],
                    "Resources": tmpl["Resources"],
                    "Engine": tmpl["Engine"],
                    "TLSInfo": tmpl["TLSInfo"],
                },
                "Status": status,
            }
            if n.role == "manager":
                ms: dict[str, Any] = {"Leader": True} if n.leader else {}
                ms["Reachability"] = n.reachability
                ms["Addr"] = f"{n.addr}:2377"
                d["ManagerStatus"] = ms
            n.raw = compact(d).encode()
        return n.raw

    def service_json(self, s: SimService) -> bytes:
        if s.raw is None:
            d: dict[str, Any] = {
                "ID": s.id,
                "Version": {"Index": s.version},
                "CreatedAt": s.created,
                "UpdatedAt": s.updated,
                "Spec": service_spec(s),
            }
            if s.previous_spec is not None:
                d["PreviousSpec"] = s.previous_spec
            d["Endpoint"] = {"Spec": {}}
            if s.update_state:
                us: dict[str, Any] = {"State": s.update_state, "StartedAt": s.update_started}
                if s.update_completed:
                    us["CompletedAt"] = s.update_completed
                us["Message"] = s.update_message
                d["UpdateStatus"] = us
            s.raw = compact(d).encode()
        return s.raw

    def service_status(self, s: SimService, nodes: Mapping[str, SimNode]) -> bytes:
        if s.status is None:
            running = desired = 0
            for hist in s.slots.values():
                t = hist[-1]
                node = nodes.get(t.node_id)
                up = node is not None and node.state != "down"
                if t.desired == "running" and (up or not t.node_id):
                    desired += 1
                if t.state == "running" and up:
                    running += 1
            if s.mode == "replicated":
                desired = s.replicas
            s.status = (
                f',"ServiceStatus":{{"RunningTasks":{running},"DesiredTasks":{desired},'
                f'"CompletedTasks":0}}}}'
            ).encode()
        return s.status

    def service_json_status(self, s: SimService, nodes: Mapping[str, SimNode]) -> bytes:
        return self.service_json(s)[:-1] + self.service_status(s, nodes)

    def task_json(self, t: SimTask) -> bytes:
        if t.raw is None:
            p = [
                '{"ID":"',
                t.id,
                '","Version":{"Index":',
                str(t.version),
                '},"CreatedAt":"',
                t.created,
                '","UpdatedAt":"',
                t.updated,
                '","Labels":{},"Spec":',
                t.spec,
                ',"ServiceID":"',
                t.service.id,
                '"',
            ]
            if t.slot:
                p += [',"Slot":', str(t.slot)]
            if t.node_id:
                p += [',"NodeID":"', t.node_id, '"']
            p += [
                ',"Status":{"Timestamp":"',
                t.timestamp,
                '","State":"',
                t.state,
                '","Message":',
                _q(t.message),
            ]
            if t.err:
                p += [',"Err":', _q(t.err)]
            if t.state in _CONTAINER_STATES:
                p += [
                    ',"ContainerStatus":{"ContainerID":"',
                    t.container_id,
                    '","PID":',
                    str(t.pid),
                    ',"ExitCode":',
                    str(t.exit_code),
                    "}",
                ]
            p += [',"PortStatus":{}},"DesiredState":"', t.desired, '"']
            t.raw = "".join(p).encode() + self._task_tail
        return t.raw

    def service_tasks_blob(self, s: SimService) -> bytes:
        if s.blob is None:
            s.blob = b",".join(self.task_json(t) for hist in s.slots.values() for t in hist)
        return s.blob

    def info_json(self, nodes: Mapping[str, SimNode], leader: SimNode) -> bytes:
        d = json.loads(json.dumps(self._info_tmpl))
        sw = d["Swarm"]
        sw["NodeID"] = leader.id
        sw["NodeAddr"] = leader.addr
        managers = [n for n in nodes.values() if n.role == "manager"]
        sw["RemoteManagers"] = [{"NodeID": n.id, "Addr": f"{n.addr}:2377"} for n in managers]
        sw["Nodes"] = len(nodes)
        sw["Managers"] = len(managers)
        d["Name"] = leader.hostname
        d["SystemTime"] = rfc3339(time.time())
        d["Containers"] = d["ContainersRunning"] = 10
        d["ContainersStopped"] = 0
        return (compact(d) + "\n").encode()
