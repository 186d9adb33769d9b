"""Real Engine API answers (engine-samples/ at the repo root), loaded for parsing tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SAMPLES = Path(__file__).resolve().parents[2] / "engine-samples"


def load(name: str) -> Any:
    path = SAMPLES / name
    if not path.exists():
        raise FileNotFoundError(f"engine sample {path} missing")
    return json.loads(path.read_text())
