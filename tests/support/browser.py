"""A real browser for tests: Debian's headless Chromium, driven over the DevTools
protocol (CDP) with aiohttp's websocket client, so that a page is checked as a person
sees it: its rendered DOM, its layout at a given width, a screenshot."""

from __future__ import annotations

import asyncio
import base64
import itertools
import re
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

# As this machine's probe starts it: no sandbox (root), and nothing that reaches out to
# the network (a closed network refuses it, many times a second).
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
)


class BrowserError(AssertionError):
    """The browser could not do what the test asked."""


class Tab:
    """One page in the browser, its CDP session."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, session: str) -> None:
        self._ws = ws
        self._session = session
        self._ids = itertools.count(1000)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        ident = next(self._ids)
        await self._ws.send_json(
            {"id": ident, "method": method, "params": params, "sessionId": self._session}
        )
        return await _answer(self._ws, ident)

    async def open(self, url: str, width: int = 1280, height: int = 900) -> None:
        await self.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=width < 600,
        )
        await self.call("Page.enable")
        await self.call("Page.navigate", url=url)
        await self.wait_for("document.readyState === 'complete'")

    async def evaluate(self, expression: str) -> Any:
        answer = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in answer:
            raise BrowserError(f"{expression}: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    async def wait_for(self, expression: str, within: float = 20) -> Any:
        """Evaluate ``expression`` until it is truthy (the page reloads itself)."""
        async with asyncio.timeout(within):
            while True:
                try:
                    value = await self.evaluate(expression)
                except BrowserError:
                    value = None  # mid-navigation: the document is being replaced
                if value:
                    return value
                await asyncio.sleep(0.25)

    async def text(self, selector: str) -> str:
        """The rendered text of the first element matching ``selector`` ("" if none)."""
        value = await self.evaluate(
            f"(document.querySelector({selector!r}) || {{innerText: ''}}).innerText"
        )
        return str(value)

    async def screenshot(self, path: Path) -> None:
        """The whole page, as tall as it is, as PNG."""
        height = int(await self.evaluate("document.documentElement.scrollHeight"))
        width = int(await self.evaluate("window.innerWidth"))
        await self.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=width < 600,
        )
        shot = await self.call("Page.captureScreenshot", format="png")
        await asyncio.to_thread(path.write_bytes, base64.b64decode(shot["data"]))


async def _answer(ws: aiohttp.ClientWebSocketResponse, ident: int) -> dict[str, Any]:
    async with asyncio.timeout(30):
        while True:
            msg = await ws.receive_json()
            if msg.get("id") == ident:
                if "error" in msg:
                    raise BrowserError(str(msg["error"]))
                result: dict[str, Any] = msg.get("result", {})
                return result


@asynccontextmanager
async def browser() -> AsyncIterator[Tab]:
    """A fresh headless Chromium (its own empty profile) with one tab; all of it goes
    away at the end."""
    exe = shutil.which("chromium")
    if exe is None:
        raise BrowserError("chromium is not installed (apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="swarm-sentinel-chromium-") as profile:
        proc = await asyncio.create_subprocess_exec(
            exe,
            *FLAGS,
            f"--user-data-dir={profile}",
            "about:blank",
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        drain: asyncio.Task[bytes] | None = None
        try:
            assert proc.stderr is not None
            url = await _devtools_url(proc.stderr)
            # Keep reading what it says, or a full pipe would one day block it.
            drain = asyncio.create_task(proc.stderr.read())
            async with (
                aiohttp.ClientSession() as http,
                http.ws_connect(url, max_msg_size=64 << 20) as ws,
            ):
                await ws.send_json(
                    {"id": 1, "method": "Target.createTarget", "params": {"url": "about:blank"}}
                )
                target = (await _answer(ws, 1))["targetId"]
                await ws.send_json(
                    {
                        "id": 2,
                        "method": "Target.attachToTarget",
                        "params": {"targetId": target, "flatten": True},
                    }
                )
                yield Tab(ws, (await _answer(ws, 2))["sessionId"])
        finally:
            if proc.returncode is None:
                proc.terminate()
            try:
                async with asyncio.timeout(10):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()
            if drain is not None:
                await asyncio.gather(drain, return_exceptions=True)


async def _devtools_url(stderr: asyncio.StreamReader) -> str:
    """Chromium says where its DevTools listen on stderr, first thing."""
    seen: list[str] = []
    async with asyncio.timeout(30):
        while line := (await stderr.readline()).decode(errors="replace"):
            seen.append(line.strip())
            m = re.search(r"DevTools listening on (ws://\S+)", line)
            if m:
                return m.group(1)
    raise BrowserError("chromium did not start: " + " | ".join(seen[-3:]))
