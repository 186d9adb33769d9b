"""``swarm-sentinel status``: the command, the report it builds from the model, and the
report's two views (text for people, JSON for scripts)."""

from swarm_sentinel.status.command import main

__all__ = ["main"]
