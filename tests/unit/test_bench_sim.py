"""The benchmark's simulated engine must keep the real engine's JSON shapes.

(The simulator is for scale benchmarks only; behaviour is tested on the lab.)
"""

from __future__ import annotations

import subprocess
import sys


def test_simulated_engine_matches_real_shapes() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bench.shapecheck"], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stdout + out.stderr
