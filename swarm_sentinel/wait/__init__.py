"""``swarm-sentinel wait``: did my deploy work? The command (``command.py``) and the
verdict on each service (``verdict.py``)."""

from swarm_sentinel.wait.command import main

__all__ = ["main"]
