"""``swarm-sentinel status`` and ``explain``: the commands, the report and the
explanation they build from the model, and their views (text for people, JSON for
scripts, HTML for the exporter's page)."""

from swarm_sentinel.status.command import explain_main, main

__all__ = ["explain_main", "main"]
