"""The state file, <root>/lab.json: how another process finds a running lab.

It holds the lab's config (from which every name and path follows) and, per
node, what a user of the lab needs: socket/URL, role, hostname, IP, swarm ID.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from lab.config import LabConfig
from lab.errors import LabError
from lab.node import Node

STATE_VERSION = 1


def write_state(
    config: LabConfig, nodes: list[Node], *, status: str, up_seconds: float | None
) -> None:
    data = {
        "version": STATE_VERSION,
        "status": status,
        "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "up_seconds": up_seconds,
        "config": config.to_json(),
        "nodes": [node.to_json() for node in nodes],
    }
    # Write-then-rename: a reader never sees half a file.
    tmp = config.state_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(config.state_file)


def read_state(root: Path) -> dict[str, Any]:
    path = root / "lab.json"
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError as err:
        raise LabError(f"no lab state at {path}: is the lab up?") from err
    except ValueError as err:
        raise LabError(f"unreadable lab state {path}: {err}") from err
    return data
