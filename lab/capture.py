"""Capture real Engine API answers from a lab swarm into engine-samples/<API version>/.

    python -m lab.capture --engine modern     # -> engine-samples/1.51/
    python -m lab.capture --engine modern --containers   # -> .../events-containers.jsonl
    python -m lab.capture --engine modern --updates  # -> .../services-updates.json, tasks-...

Brings up a lab of its own (name "capture", bridge sslab5, 10.123.5.0/24), sets up
the swarm that engine-samples/README.md describes (a drained manager, a labelled
worker, seven services in the states the parsing and status tests need), then asks
each endpoint with the negotiated version and writes the answers as the engine gave
them (JSON re-indented). Then one manager is killed (``nodes-one-manager-down.json``)
and a second stopped (``info-quorum-lost.json`` and the HTTP 500 of /nodes and
/tasks). The lab is removed at the end, whatever happened.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import threading
import time
from contextlib import closing
from dataclasses import replace
from pathlib import Path
from typing import Any

import requests

from common.container_events import CONTAINER_EVENTS
from lab.config import IMAGE, LabConfig
from lab.dockerpy import docker_client, engine_kwargs, negotiate
from lab.engines import ENGINES
from lab.errors import LabError
from lab.proc import wait_until
from lab.swarm import NO_LEADER, Lab

log = logging.getLogger("lab")

SAMPLES = Path(__file__).resolve().parents[1] / "engine-samples"

# name, docker service create arguments (the CLI's shapes, as an operator makes them)
SERVICES: list[tuple[str, list[str]]] = [
    ("web", ["--replicas", "3", "--label", "com.docker.stack.namespace=shop",
             IMAGE, "sleep", "1000000"]),
    ("agent", ["--mode", "global", "--constraint", "node.labels.gpu==true",
               IMAGE, "sleep", "1000000"]),
    # Down most of the time (1 s up, 5 s restart delay): not converged when captured.
    ("crashy", ["--replicas", "2", "--restart-delay", "5s", IMAGE, "sh", "-c", "sleep 1; exit 3"]),
    ("pinned", ["--constraint", "node.labels.nobody==true", IMAGE, "sleep", "1000000"]),
    ("hungry", ["--reserve-memory", "100G", IMAGE, "sleep", "1000000"]),
    ("badimage", ["nosuch/image:1"]),
    ("oneshot", ["--mode", "replicated-job", IMAGE, "true"]),
]  # fmt: skip


class Capture:
    def __init__(self, lab: Lab, out: Path) -> None:
        self.lab = lab
        self.out = out
        m1 = lab.node("m1")
        self.version = str(negotiate(engine_kwargs(m1.url), 10))
        self.session = docker_client(m1.url, timeout=30)
        self.events: list[bytes] = []
        self._stop = threading.Event()

    def url(self, path: str) -> str:
        return f"{self.session.base_url}/v{self.version}/{path}"

    def get(self, path: str, **params: str) -> requests.Response:
        resp: requests.Response = self.session.get(self.url(path), params=params, timeout=30)
        return resp

    def save(self, name: str, path: str, **params: str) -> Any:
        resp = self.get(path, **params)
        resp.raise_for_status()
        data = resp.json()
        (self.out / name).write_text(json.dumps(data, indent=4) + "\n")
        return data

    def save_failure(self, name: str, path: str) -> None:
        """An answer that is an error (during the quorum loss), with its status and time."""
        started = time.monotonic()
        resp = self.get(path)
        took = time.monotonic() - started
        (self.out / name).write_text(
            f"{resp.text.strip()}\n\nHTTP {resp.status_code}\n\nanswered in {took:.3f}s\n"
        )

    def record_events(self, filters: dict[str, list[str]] | None = None) -> threading.Thread:
        """GET /events (swarm scope, or ``filters``) from now on, each line as the engine
        sent it."""
        filters_text = json.dumps(filters or {"scope": ["swarm"]})
        resp = self.session.get(
            self.url("events"),
            params={"since": f"{time.time():.9f}", "filters": filters_text},
            stream=True,
            timeout=(10, None),
        )
        resp.raise_for_status()

        def read() -> None:
            with closing(resp):
                for line in resp.iter_lines():
                    if self._stop.is_set():
                        return
                    if line.strip():
                        self.events.append(line)

        thread = threading.Thread(target=read, daemon=True, name="capture-events")
        thread.start()
        return thread

    def docker(self, *args: str) -> None:
        env = {"DOCKER_HOST": self.lab.node("m1").url, "PATH": "/usr/local/bin:/usr/bin:/bin"}
        subprocess.run(["docker", *args], check=True, capture_output=True, env=env, timeout=60)

    def run(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        events = self.record_events()
        self.lab.add_node_label("w1", "gpu", "true")
        self.lab.drain("m2")
        for name, args in SERVICES:
            # No registry here: resolving the image would wait for one ~10 s each time.
            self.docker(
                "service", "create", "--detach", "--no-resolve-image", "--name", name, *args
            )
        # Let crashy fail a few times and the stuck ones sit in pending.
        time.sleep(20)
        # A forced update that replaces one task, then waits: captured while updating.
        self.docker(
            "service", "update", "--detach", "--force", "--update-delay", "60s",
            "--update-parallelism", "1", "web",
        )  # fmt: skip
        wait_until(
            lambda: any(
                s["Spec"]["Name"] == "web" and (s.get("UpdateStatus") or {}).get("State")
                for s in self.get("services").json()
            ),
            timeout=30,
            what="web updating",
        )
        time.sleep(3)
        wait_until(
            lambda: any(
                s["Spec"]["Name"] == "crashy"
                and s["ServiceStatus"]["RunningTasks"] < s["ServiceStatus"]["DesiredTasks"]
                for s in self.get("services", status="true").json()
            ),
            timeout=30,
            what="crashy not converged",
            interval=0.05,
        )
        self.save("version.json", "version")
        self.save("info.json", "info")
        self.save("nodes.json", "nodes")
        self.save("services-status.json", "services", status="true")
        self.save("tasks.json", "tasks")
        self._stop.set()
        self.docker("service", "update", "--detach", "--label-add", "captured=1", "web")
        events.join(10)
        (self.out / "events-swarm.jsonl").write_text(
            "".join(line.decode() + "\n" for line in self.events)
        )
        # One manager crashes: down and unreachable in the leader's view.
        self.lab.kill_engine("m3")
        wait_until(
            lambda: any(
                n["Description"]["Hostname"] == "lab-m3" and n["Status"]["State"] == "down"
                for n in self.get("nodes").json()
            ),
            timeout=60,
            what="m3 down",
        )
        self.save("nodes-one-manager-down.json", "nodes")
        # A second one stops: the survivor loses its leader.
        self.lab.stop_engine("m2")
        self.lab.wait_no_leader("m1", timeout=90)
        info = self.save("info-quorum-lost.json", "info")
        if NO_LEADER not in str(info["Swarm"].get("Error")):
            raise LabError("the survivor stopped saying it has no leader")
        self.save_failure("nodes-quorum-lost.txt", "nodes")
        self.save_failure("tasks-quorum-lost.txt", "tasks")
        self.session.close()


# name, docker service create arguments: one of each way a task's container ends
CONTAINER_SERVICES: list[tuple[str, list[str]]] = [
    ("crash", ["--restart-delay", "1s", IMAGE, "sh", "-c", "sleep 2; exit 3"]),
    ("oom", ["--limit-memory", "16M", "--restart-condition", "none",
             IMAGE, "sh", "-c", "a=x; while true; do a=$a$a; done"]),
    ("sick", ["--health-cmd", "false", "--health-interval", "1s", "--health-retries", "2",
              "--health-start-period", "0s", IMAGE, "sleep", "1000"]),
    ("once", ["--mode", "replicated-job", IMAGE, "true"]),
    # Stopped by the engine, not failed: forced once, then scaled to 0 (``stop_deployed``).
    ("deployed", ["--replicas", "2", "--stop-grace-period", "1s", IMAGE, "sleep", "1000"]),
]  # fmt: skip


def capture_containers(engine: str, out: Path | None) -> Path:
    """A one-node swarm's own container events (``CONTAINER_EVENTS``) for 30 s while a
    crashing, an OOM-killed, an unhealthy and a one-shot service run, and a deployed
    one is forced and then scaled to 0 (the engine stops its tasks); then its task
    containers (containers.json), and the crashing and unhealthy ones removed."""
    config = LabConfig(
        name="capture-c", managers=1, workers=0, bridge="sslab5c", subnet="10.123.15.0/24",
        engine=engine,
    )  # fmt: skip
    with Lab(config) as lab:
        capture = Capture(lab, out or SAMPLES / "pending")
        if out is None:
            capture.out = SAMPLES / capture.version
        capture.out.mkdir(parents=True, exist_ok=True)
        events = capture.record_events(CONTAINER_EVENTS)
        for name, args in CONTAINER_SERVICES:
            capture.docker(
                "service", "create", "--detach", "--no-resolve-image", "--name", name, *args
            )
        time.sleep(15)
        capture.docker("service", "update", "--detach", "--force", "deployed")
        time.sleep(5)
        capture.docker("service", "scale", "--detach", "deployed=0")
        time.sleep(5)
        capture.save("containers.json", "containers/json", all="1",
                     filters=json.dumps({"label": CONTAINER_EVENTS["label"]}))  # fmt: skip
        capture.docker("service", "rm", "crash", "sick")
        time.sleep(5)
        capture._stop.set()
        capture.docker("service", "create", "--detach", "--no-resolve-image", "--name", "last",
                       IMAGE, "true")  # fmt: skip
        events.join(10)
        target = capture.out / "events-containers.jsonl"
        target.write_text("".join(line.decode() + "\n" for line in capture.events))
        capture.session.close()
        return target


# name, docker service create arguments: one service per way an update ends. Watched
# for 2 s per task (the rollback too), no delay between tasks, stopped within 1 s.
_QUICK = [
    "--replicas",
    "2",
    "--stop-grace-period",
    "1s",
    "--restart-delay",
    "1s",
    "--update-delay",
    "0s",
    "--update-monitor",
    "2s",
    "--rollback-monitor",
    "2s",
]
UPDATE_SERVICES: list[tuple[str, list[str]]] = [
    ("updated", [*_QUICK, IMAGE, "sleep", "1000"]),
    ("rolledback", [*_QUICK, "--update-failure-action", "rollback", IMAGE, "sleep", "1000"]),
    ("paused", [*_QUICK, "--update-failure-action", "pause", IMAGE, "sleep", "1000"]),
    ("byhand", [*_QUICK, "--update-failure-action", "pause", IMAGE, "sleep", "1000"]),
]  # fmt: skip
UPDATES_CONFIG = LabConfig(
    name="capture-u", managers=1, workers=1, bridge="sslab5u", subnet="10.123.16.0/24"
)
"""The lab ``--updates`` brings up (``engine`` set from the command line)."""


def capture_updates(config: LabConfig, out: Path | None) -> Path:
    """Services whose last update ended each way, and their tasks: ``updated`` (completed),
    ``rolledback`` (its new version exits 3, failure action rollback: rolled back by the
    engine), ``paused`` (the same, failure action pause), ``byhand`` (paused, then
    ``docker service rollback``), and ``bare`` (made through the API with no
    UpdateConfig, never updated)."""
    with Lab(config) as lab:
        capture = Capture(lab, out or SAMPLES / "pending")
        if out is None:
            capture.out = SAMPLES / capture.version
        capture.out.mkdir(parents=True, exist_ok=True)
        create = ["service", "create", "--detach", "--no-resolve-image"]
        for name, args in UPDATE_SERVICES:
            capture.docker(*create, "--name", name, *args)
        bare = {
            "Name": "bare",
            "TaskTemplate": {"ContainerSpec": {"Image": IMAGE, "Command": ["sleep", "1000"]}},
            "Mode": {"Replicated": {"Replicas": 1}},
        }
        made = capture.session.post(capture.url("services/create"), json=bare, timeout=30)
        made.raise_for_status()
        states = {"updated": "completed", "rolledback": "rollback_completed", "paused": "paused"}
        running = [*states, "byhand"]

        def state_of(name: str) -> str:
            svc = capture.get(f"services/{name}").json()
            return str((svc.get("UpdateStatus") or {}).get("State") or "")

        wait_until(
            lambda: all(
                sum(t["Status"]["State"] == "running" for t in capture.get(
                    "tasks", filters=json.dumps({"service": [n]})).json()) == 2
                for n in running
            ),
            timeout=60, what="every service running",
        )  # fmt: skip
        update = ["service", "update", "--detach", "--no-resolve-image"]
        capture.docker(*update, "--args", "sleep 1001", "updated")
        for name in ("rolledback", "paused", "byhand"):
            capture.docker(*update, "--args", "sh -c 'exit 3'", name)
        wait_until(lambda: state_of("byhand") == "paused", timeout=60, what="byhand paused")
        capture.docker("service", "rollback", "--detach", "byhand")
        states["byhand"] = "rollback_completed"
        for name, state in states.items():

            def reached(n: str = name, want: str = state) -> bool:
                return state_of(n) == want

            wait_until(reached, timeout=90, what=f"{name} {state}")
        capture.save("services-updates.json", "services", status="true")
        capture.save("tasks-updates.json", "tasks")
        capture.session.close()
        return capture.out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.capture", description=__doc__)
    parser.add_argument("--engine", choices=ENGINES, default="modern")
    parser.add_argument("--out", type=Path, help="default: engine-samples/<API version>")
    parser.add_argument(
        "--containers", action="store_true", help="only a node's own container events"
    )
    parser.add_argument(
        "--updates",
        action="store_true",
        help="only services whose update completed, rolled back or paused, and their tasks",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="capture: %(message)s", stream=sys.stderr)
    if args.containers:
        print(capture_containers(args.engine, args.out))
        return 0
    if args.updates:
        print(capture_updates(replace(UPDATES_CONFIG, engine=args.engine), args.out))
        return 0
    config = LabConfig(name="capture", bridge="sslab5", subnet="10.123.5.0/24", engine=args.engine)
    with Lab(config) as lab:
        capture = Capture(lab, args.out or SAMPLES / "pending")
        if args.out is None:
            capture.out = SAMPLES / capture.version
        log.info("capturing API %s of %s into %s", capture.version, lab.engine_version, capture.out)
        capture.run()
    print(capture.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
