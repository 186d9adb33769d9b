"""What the one-shot commands (``status``, ``explain``, ``wait``) share: an engine from
their flags, stdout that may be a closed pipe, and one line on why the swarm cannot be
seen."""

from __future__ import annotations

import argparse
import os
import sys

from prometheus_client import CollectorRegistry

from exporter.client import EngineMetrics
from exporter.engine import Engine
from exporter.errors import EngineError, NotManager, Timeout
from exporter.types import SwarmInfo
from swarm_sentinel.config import docker_settings


def engine_from(args: argparse.Namespace) -> Engine:
    """The engine the ``--docker.*`` flags name."""
    docker = docker_settings(args)
    return Engine(
        docker.host,
        EngineMetrics(CollectorRegistry()),
        timeout=docker.timeout,
        api_version=docker.api_version,
    )


def print_out(text: str) -> None:
    try:
        print(text, flush=True)
    except BrokenPipeError:
        # `status | head` closed the pipe early: not an error of ours. Point stdout
        # at /dev/null so that the interpreter's final flush does not complain.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def cause(exc: EngineError, info: SwarmInfo | None, engine: Engine) -> str:
    """Why the swarm cannot be seen, in one line; ``info``: /info, when it answered."""
    address = engine.address
    if isinstance(exc, Timeout):
        # Seen on the lab: while a manager's swarm loses quorum, even its /info can
        # hang for some seconds before it says "no leader". Worth a hint, not a guess.
        return (
            f"the Docker engine at {address} gave no answer within {engine.timeout:g}s "
            f"({exc.endpoint}); a manager can stall while its swarm loses quorum: "
            "try again, or give a longer --docker.timeout"
        )
    if isinstance(exc, NotManager):
        return exc.message  # a worker, or no swarm: it names the address
    if info is None:
        return f"cannot talk to the Docker engine at {address}: {exc.message}"
    return f"the manager at {address} did not answer: {exc}"
