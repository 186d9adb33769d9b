"""Forming the swarm: every node's dockerd started, image imported, then init or join."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from contextlib import closing

import docker

from lab.daemon import CALL_ERRORS
from lab.errors import LabAborted, LabError
from lab.image import import_image
from lab.node import Node

log = logging.getLogger("lab")

SWARM_PORT = 2377
_JOIN_ATTEMPTS = 3
_JOIN_TIMEOUT = "Timeout was reached before node joined"


def start_swarm(
    nodes: list[Node], tar: bytes, *, start_timeout: float, heartbeat: float | None
) -> None:
    """Every node at once: start dockerd, import the image, then init (first) or join.

    The joins wait only for the init, not for each other, so the slowest daemon
    start sets the pace rather than the sum of them. The first manager inits.
    """
    first = next(n for n in nodes if n.is_manager)
    abort = threading.Event()
    initialised = threading.Event()
    tokens: dict[str, str] = {}

    def wait_for_init() -> None:
        deadline = time.monotonic() + start_timeout + 30
        while not initialised.wait(0.05):
            if abort.is_set():
                raise LabAborted("aborted")
            if time.monotonic() > deadline:
                raise LabError("swarm init on the first manager never finished")

    def bring_up(node: Node) -> None:
        node.daemon.start()
        node.daemon.wait_up(start_timeout, abort=abort)
        # Joins block up to ~20 s on the engine side before they time out.
        with closing(node.client(timeout=60)) as client:
            try:
                import_image(client, tar)
                if node is first:
                    tokens.update(init_swarm(client, node, heartbeat))
                    initialised.set()
                else:
                    wait_for_init()
                    token = tokens["Manager" if node.is_manager else "Worker"]
                    join(client, node, token, f"{first.ip}:{SWARM_PORT}")
                node.swarm_id = client.info()["Swarm"]["NodeID"]
            except CALL_ERRORS as err:
                raise LabError(
                    f"{node.name} failed while joining the lab: {err} "
                    f"({node.daemon.log_file}: {node.daemon.log_tail(1)})"
                ) from err

    with ThreadPoolExecutor(len(nodes), thread_name_prefix="lab-up") as pool:
        futures = [pool.submit(bring_up, node) for node in nodes]
        try:
            wait(futures, return_when=FIRST_EXCEPTION)
        finally:
            # On a failure, and on Ctrl-C (which only the main thread sees), the
            # other nodes stop at their next step instead of finishing first.
            if not all(f.done() and f.exception() is None for f in futures):
                abort.set()
    errors = [e for e in (f.exception() for f in futures) if e is not None]
    if errors:
        # The first real cause, not the nodes stopped because of it.
        cause = next((e for e in errors if not isinstance(e, LabAborted)), errors[0])
        if isinstance(cause, LabError):
            raise cause
        raise LabError(f"bringing up the swarm failed: {cause!r}") from cause


def init_swarm(client: docker.APIClient, node: Node, heartbeat: float | None) -> dict[str, str]:
    """`swarm init` advertising the node's lab IP; returns the join tokens."""
    spec = None
    if heartbeat is not None:
        # Set at init rather than by a later update: one round trip less.
        spec = client.create_swarm_spec(dispatcher_heartbeat_period=int(heartbeat * 1e9))
    try:
        client.init_swarm(
            advertise_addr=node.ip, listen_addr=f"0.0.0.0:{SWARM_PORT}", swarm_spec=spec
        )
    except docker.errors.APIError as err:
        raise LabError(f"swarm init on {node.name} failed: {err.explanation}") from err
    join_tokens: dict[str, str] = client.inspect_swarm()["JoinTokens"]
    return join_tokens


def join(client: docker.APIClient, node: Node, token: str, remote: str) -> None:
    for attempt in range(1, _JOIN_ATTEMPTS + 1):
        try:
            client.join_swarm(
                [remote], token, listen_addr=f"0.0.0.0:{SWARM_PORT}", advertise_addr=node.ip
            )
            return
        except docker.errors.APIError as err:
            # A join can time out once while the swarm settles; the engine then
            # keeps trying in the background, so leave before joining afresh.
            if _JOIN_TIMEOUT not in str(err) or attempt == _JOIN_ATTEMPTS:
                raise LabError(
                    f"{node.name} could not join the swarm at {remote}: {err.explanation}"
                ) from err
            log.warning("join of %s timed out (attempt %d), retrying", node.name, attempt)
            client.leave_swarm(force=True)
