"""Real Engine API answers (engine-samples/<API version>/ at the repo root), for parsing
and status tests that must hold for every captured engine."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.apiversion import ApiVersion
from exporter.parse import parse_time

SAMPLES = Path(__file__).resolve().parents[2] / "engine-samples"


@dataclass(frozen=True)
class SampleSet:
    """One capture (lab/capture.py): the same swarm, asked at one API version."""

    api: str

    def __str__(self) -> str:
        return self.api

    @property
    def dir(self) -> Path:
        return SAMPLES / self.api

    def path(self, name: str) -> Path:
        path = self.dir / name
        if not path.exists():
            raise FileNotFoundError(f"engine sample {path} missing")
        return path

    def load(self, name: str) -> Any:
        return json.loads(self.path(name).read_text())

    @property
    def now(self) -> float:
        """A moment a little after the capture (70 s after the engine's /info clock)."""
        return parse_time(self.load("info.json")["SystemTime"]) + 70.0

    def service_id(self, name: str) -> str:
        return str(
            next(s["ID"] for s in self.load("services-status.json") if s["Spec"]["Name"] == name)
        )

    def raw_tasks(self, service: str) -> list[dict[str, Any]]:
        sid = self.service_id(service)
        return [t for t in self.load("tasks.json") if t["ServiceID"] == sid]


SETS = tuple(
    SampleSet(p.name)
    for p in sorted(
        (p for p in SAMPLES.iterdir() if p.is_dir()), key=lambda p: ApiVersion.parse(p.name)
    )
)
"""Every captured API version, oldest first: 1.41 (Engine 20.10), 1.51 (Engine 28.5)."""
OLDEST_SET = SETS[0]
