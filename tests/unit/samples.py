"""Real Engine API answers (../shared/engine-samples), loaded for parsing tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "engine-samples"


def load(name: str) -> Any:
    path = SAMPLES / name
    if not path.exists():
        raise FileNotFoundError(f"engine sample {path} missing: shared/ must sit beside the repo")
    return json.loads(path.read_text())
