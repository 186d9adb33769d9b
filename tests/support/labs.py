"""The test session's labs: one per engine, plus scratch labs a test builds for itself.

Each has its own name, bridge and subnet, derived from SSLAB_NAME / SSLAB_BRIDGE /
SSLAB_SUBNET (defaults pytest, sslab1, 10.123.1.0/24), so that two test sessions,
or a test session and a lab brought up by hand, run side by side.
"""

from __future__ import annotations

import ipaddress
import os

from lab import LabConfig
from lab.engines import ENGINES

SCRATCH = {"upgrade": 8, "second": 9, "leakcheck": 10}
ENGINE_METRICS_PORT = 9323
"""Every lab engine's metrics-addr port, on its node's address."""
"""Scratch labs by name, with their slot (the /24 after the session's base subnet)."""


def lab_config(engine: str, scratch: str = "", managers: int = 3, workers: int = 1) -> LabConfig:
    """The session lab of ``engine``, or the scratch lab ``scratch`` (started on ``engine``)."""
    slot = SCRATCH[scratch] if scratch else ENGINES.index(engine)
    suffix = f"-{scratch}" if scratch else ("" if slot == 0 else f"-{engine}")
    base = ipaddress.IPv4Network(os.environ.get("SSLAB_SUBNET", "10.123.1.0/24"))
    return LabConfig(
        name=os.environ.get("SSLAB_NAME", "pytest") + suffix,
        managers=managers,
        workers=workers,
        bridge=os.environ.get("SSLAB_BRIDGE", "sslab1") + ("" if slot == 0 else f"x{slot}"),
        subnet=str(ipaddress.IPv4Network((int(base.network_address) + slot * 256, 24))),
        # A dead node is declared down after a few missed heartbeats: 1 s instead of
        # the default 5 s brings that from ~15 s to ~3-5 s.
        heartbeat=1.0,
        engine=engine,
        # The engines' own metrics, as docs/deploy.md has operators set them: the usage
        # jobs scrape them (tests/lab/test_usage.py).
        metrics_addr=f"0.0.0.0:{ENGINE_METRICS_PORT}",
    )
