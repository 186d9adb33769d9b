"""A few services on the demo swarm, so that `make run` has something to show."""

from __future__ import annotations

import json
import subprocess
import sys
from contextlib import closing

import docker.types

from lab.dockerpy import docker_client

IMAGE = "lab/busybox:1"


def main() -> int:
    status = json.loads(
        subprocess.run(
            [sys.executable, "-m", "lab", "status", "--name", "demo", "--json"],
            check=True,
            capture_output=True,
        ).stdout
    )
    url = next(n["url"] for n in status["nodes"] if n["role"] == "manager")
    with closing(docker_client(url, timeout=30)) as api:
        existing = {s["Spec"]["Name"] for s in api.services()}

        def make(name: str, command: list[str], replicas: int, **labels: str) -> None:
            if name in existing:
                return
            api.create_service(
                docker.types.TaskTemplate(
                    container_spec=docker.types.ContainerSpec(IMAGE, command=command),
                    restart_policy=docker.types.RestartPolicy(
                        condition="on-failure", delay=2_000_000_000, max_attempts=3
                    ),
                ),
                name=name,
                mode=docker.types.ServiceMode("replicated", replicas=replicas),
                labels={"com.docker.stack.namespace": "demo", **labels},
            )

        make("demo_web", ["httpd", "-f", "-p", "8080"], 3, **{"swarm-sentinel.heal": "true"})
        make("demo_crashy", ["sh", "-c", "sleep 5; exit 3"], 1, **{"swarm-sentinel.heal": "true"})
    print("demo services: demo_web (3 replicas), demo_crashy (exits 3)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
