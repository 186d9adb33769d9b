"""The benchmark's simulated engine must keep the real engine's JSON shapes.

(The simulator is for scale benchmarks only; behaviour is tested on the lab.)
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import aiohttp
from prometheus_client import CollectorRegistry

from bench.measure import SimClient
from bench.run import sim_argv
from common.apiversion import ApiVersion
from exporter.client import EngineMetrics
from exporter.engine import Engine


def test_simulated_engine_matches_real_shapes() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bench.shapecheck"], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stdout + out.stderr


async def test_simulated_engine_29_refuses_old_clients_and_negotiates(tmp_path: Path) -> None:
    sock = tmp_path / "sim.sock"
    argv = [*sim_argv(str(sock), 20, "modern"), "--quiet", "--max-seconds", "60"]
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.DEVNULL)
    try:
        sim = SimClient(str(sock))
        try:
            await sim.wait_up(30)
        finally:
            await sim.close()
        async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(sock))) as s:
            async with s.get("http://docker/v1.41/info") as resp:
                assert resp.status == 400
                assert (await resp.json())["message"] == (
                    "client version 1.41 is too old. Minimum supported API version is 1.44, "
                    "please upgrade your client to a newer version"
                )
            async with s.get("http://docker/v1.52/info") as resp:
                assert resp.status == 400
                assert "is too new. Maximum supported API version is 1.51" in await resp.text()
        engine = Engine(f"unix://{sock}", EngineMetrics(CollectorRegistry()), timeout=30)
        try:
            assert len(await engine.nodes()) == 20
            assert engine.client.speaking == ApiVersion(1, 51)
        finally:
            await engine.close()
    finally:
        proc.terminate()
        await proc.wait()
