"""Creating and removing real services on the lab swarm (docker-py, low level)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager, suppress
from typing import Any

import docker
import docker.types

from lab import IMAGE, Lab


class EngineOverrun(UserWarning):
    """The engine ran more than it was asked to (its bug, not ours): a test that can
    still check its claim says so in the run's warnings and goes on."""


class Services:
    """Services a test makes; all removed when the test ends, pass or fail."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.ids: list[str] = []

    def create(
        self,
        name: str,
        command: Sequence[str] = ("sleep", "3600"),
        *,
        replicas: int | None = 1,
        mode: str = "replicated",
        constraints: Sequence[str] = (),
        labels: dict[str, str] | None = None,
        restart_condition: str = "any",
        restart_max_attempts: int = 0,
        restart_delay: float = 1.0,
        binds: Sequence[str] = (),
        memory_limit: int | None = None,
        health_cmd: str | None = None,
        max_concurrent: int | None = None,
        stop_grace: float | None = None,
        reserve_memory: int | None = None,
        max_replicas: int | None = None,
        update_parallelism: int | None = None,
        update_failure_action: str | None = None,
        update_monitor: float | None = None,
        networks: Sequence[str] = (),
        secrets: Sequence[tuple[str, str]] = (),
        configs: Sequence[tuple[str, str]] = (),
    ) -> str:
        """``binds``: ``/host/dir:/in/container``; every lab node shares the host's files.
        ``memory_limit``: bytes (the lab's engines enforce it: the OOM killer acts);
        ``health_cmd``: a shell health check run every second, unhealthy at its first
        failure; ``max_concurrent``: a replicated job's tasks at once; ``stop_grace``:
        seconds between a stop's SIGTERM and its SIGKILL (busybox ``sleep`` ignores the
        first); ``reserve_memory``: bytes the scheduler must find free on a node;
        ``max_replicas``: tasks per node at most; ``update_parallelism``: tasks a rolling
        update replaces at once; ``update_failure_action`` (pause, continue, rollback) and
        ``update_monitor`` (seconds): what the engine does when an updated task fails
        within that window (a rollback is watched as long). Any of the three writes an
        UpdateConfig with no delay between batches (docker-py's own default failure action
        is ``continue``, the engine's without an UpdateConfig ``pause``); ``networks``:
        overlays its tasks attach to (name or ID); ``secrets``, ``configs``: (ID, name) of
        those its containers mount."""
        healthcheck = None
        if health_cmd is not None:
            second = 1_000_000_000
            healthcheck = docker.types.Healthcheck(
                test=["CMD-SHELL", health_cmd], interval=second, timeout=second, retries=1
            )
        template = docker.types.TaskTemplate(
            container_spec=docker.types.ContainerSpec(
                IMAGE,
                command=list(command),
                mounts=[
                    docker.types.Mount(target, source, type="bind")
                    for source, target in (m.split(":", 1) for m in binds)
                ],
                healthcheck=healthcheck,
                stop_grace_period=int(stop_grace * 1e9) if stop_grace is not None else None,
                secrets=[docker.types.SecretReference(i, n) for i, n in secrets] or None,
                configs=[docker.types.ConfigReference(i, n) for i, n in configs] or None,
            ),
            networks=list(networks) or None,
            resources=docker.types.Resources(mem_limit=memory_limit, mem_reservation=reserve_memory)
            if memory_limit or reserve_memory
            else None,
            restart_policy=docker.types.RestartPolicy(
                condition=restart_condition,
                delay=int(restart_delay * 1e9),
                max_attempts=restart_max_attempts,
            ),
            placement=docker.types.Placement(
                constraints=list(constraints) or None, maxreplicas=max_replicas
            )
            if constraints or max_replicas
            else None,
        )
        service_mode = docker.types.ServiceMode(
            mode,
            replicas=replicas if mode in ("replicated", "replicated-job") else None,
            concurrency=max_concurrent,
        )
        with closing(self.lab.manager_client()) as api:
            update_config = (
                docker.types.UpdateConfig(
                    parallelism=update_parallelism or 1,
                    delay=0,
                    failure_action=update_failure_action or "continue",
                    monitor=int(update_monitor * 1e9) if update_monitor else None,
                )
                if update_parallelism or update_failure_action or update_monitor
                else None
            )
            # A rollback watched as briefly as the update (the engine's default is 5 s).
            rollback_config = (
                docker.types.RollbackConfig(
                    parallelism=update_parallelism or 1,
                    delay=0,
                    failure_action="pause",
                    monitor=int(update_monitor * 1e9),
                )
                if update_monitor
                else None
            )
            resp: dict[str, Any] = api.create_service(
                template,
                name=name,
                mode=service_mode,
                labels=labels or {},
                update_config=update_config,
                rollback_config=rollback_config,
            )
        self.ids.append(resp["ID"])
        return str(resp["ID"])

    def inspect(self, service_id: str) -> dict[str, Any]:
        with closing(self.lab.manager_client()) as api:
            data: dict[str, Any] = api.inspect_service(service_id)
            return data

    def update(self, service_id: str, change: Callable[[dict[str, Any]], object]) -> None:
        """``docker service update`` as the CLI does it: the whole spec as read,
        ``change``d in place, posted back at the version it was read at."""
        with closing(self.lab.manager_client()) as api:
            svc = api.inspect_service(service_id)
            spec = svc["Spec"]
            change(spec)
            resp = api.post(
                f"{api.base_url}/v{api.api_version}/services/{service_id}/update",
                json=spec,
                params={"version": svc["Version"]["Index"]},
            )
            resp.raise_for_status()

    def force(self, service_id: str) -> None:
        """``docker service update --force``."""

        def bump(spec: dict[str, Any]) -> None:
            template = spec["TaskTemplate"]
            template["ForceUpdate"] = int(template.get("ForceUpdate") or 0) + 1

        self.update(service_id, bump)

    def set_command(self, service_id: str, command: Sequence[str]) -> None:
        """A deploy of a new version: ``docker service update --args ...``."""

        def new(spec: dict[str, Any]) -> None:
            spec["TaskTemplate"]["ContainerSpec"]["Command"] = list(command)

        self.update(service_id, new)

    def command(self, service_id: str) -> list[str]:
        return list(self.inspect(service_id)["Spec"]["TaskTemplate"]["ContainerSpec"]["Command"])

    def scale(self, service_id: str, replicas: int) -> None:
        self.update(
            service_id, lambda spec: spec["Mode"]["Replicated"].__setitem__("Replicas", replicas)
        )

    def force_update_counter(self, service_id: str) -> int:
        return int(self.inspect(service_id)["Spec"]["TaskTemplate"].get("ForceUpdate") or 0)

    def tasks(self, service_id: str) -> list[dict[str, Any]]:
        with closing(self.lab.manager_client()) as api:
            found: list[dict[str, Any]] = api.tasks(filters={"service": service_id})
            return found

    def labels(self, service_id: str) -> dict[str, str]:
        return dict(self.inspect(service_id)["Spec"].get("Labels") or {})

    def remove(self, service_id: str) -> None:
        with closing(self.lab.manager_client()) as api:
            api.remove_service(service_id)
        self.ids.remove(service_id)

    def remove_all(self) -> None:
        with closing(self.lab.manager_client()) as api:
            for sid in self.ids:
                with suppress(docker.errors.NotFound):
                    api.remove_service(sid)
        self.ids.clear()


@contextmanager
def services(lab: Lab) -> Iterator[Services]:
    made = Services(lab)
    try:
        yield made
    finally:
        made.remove_all()
