"""Recording rules the dashboards read (filled in below)."""

from __future__ import annotations

from grafana.config import Config
from grafana.rules import Group


def recording(config: Config) -> list[Group]:
    return []
