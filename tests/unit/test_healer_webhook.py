"""The healer's webhook against a local aiohttp receiver: one POST per decision the
healer reports, retries and give-ups, a hung receiver, a full queue, the URL's secrets."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from structlog.testing import capture_logs

from healer.forcer import ForceResult, Outcome
from healer.policy import Result
from healer.runner import Healer
from healer.settings import WebhookSettings, check_webhook_url, shown_url
from healer.state import HealState
from healer.webhook import Reported, Webhook
from swarm_sentinel.config import from_args
from swarm_sentinel.flags import parse_args
from tests.support.sentinel import free_port
from tests.unit.samples import SampleSet
from tests.unit.test_healer_runner import SETTINGS, Clock, healer, names

EXE = str(Path(sys.executable).with_name("swarm-sentinel"))
ENGINE = "unix:///var/run/test-engine.sock"


@dataclass
class Receiver:
    """Answers each POST with the next of ``answers`` (then 200); with ``hang`` set,
    answers none until ``release``."""

    answers: list[int] = field(default_factory=list)
    body: str = ""
    hang: bool = False
    release: asyncio.Event = field(default_factory=asyncio.Event)
    got: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)
    waiting: int = 0
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.got.append(await request.json())
        self.headers.append(dict(request.headers))
        self.queries.append(request.query_string)
        if self.hang:
            self.waiting += 1
            await self.release.wait()
        status = self.answers.pop(0) if self.answers else 200
        return web.Response(status=status, text=self.body)


@asynccontextmanager
async def receiving(r: Receiver) -> AsyncIterator[Receiver]:
    app = web.Application()
    app.router.add_post("/{tail:.*}", r.handle)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    r.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        yield r
    finally:
        r.release.set()
        await runner.cleanup()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with receiving(Receiver()) as r:
        yield r


@asynccontextmanager
async def sending(hook: Webhook) -> AsyncIterator[Webhook]:
    task = asyncio.create_task(hook.run())
    try:
        yield hook
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


def settings(url: str, **kw: Any) -> WebhookSettings:
    return WebhookSettings(url=url, **{"timeout": 2.0, "backoff": 0.01, **kw})


def reported(name: str = "web", result: str = "forced") -> Reported:
    return Reported(
        time=1_800_000_000.0,
        service_id="svc-id",
        service_name=name,
        stack="shop",
        reason="replicas_missing",
        result=result,
        action="force" if result in ("forced", "dry_run", "error", "conflict") else "none",
        attempts=1,
        next_allowed=1_800_000_300.0,
        running=0,
        desired=2,
        error="task: non-zero exit (1)",
        force_error="",
        dry_run=False,
        node_id="node-1",
        hostname="m1",
    )


def hooked(sample: SampleSet, url: str, **kw: Any) -> tuple[Healer, Clock, Webhook, Any]:
    """A healer of the sampled swarm whose forces of crashy and hungry fail, reporting
    into a webhook: forced, error, gave_up and every kind of skip come out of it."""
    s = replace(SETTINGS, rate_limit=1, cooldown=60, max_cooldown=60, max_attempts=2)
    h, forcer, clock, model = healer(sample, s)
    ids = {svc.name: sid for sid, svc in model.services.items()}
    failing = {ids["crashy"], ids["hungry"]}

    async def answer(service_id: str, new_state: HealState, seen: HealState) -> ForceResult:
        if service_id in failing:
            return ForceResult(Outcome.ERROR, "500 the engine is unwell")
        return ForceResult(Outcome.FORCED, force_update=1)

    forcer.force = answer  # type: ignore[method-assign]
    hook = Webhook(settings(url, **kw), engine=ENGINE, store=h.metrics.store)
    h.notify = hook.submit
    return h, clock, hook, model


async def passes(h: Healer, clock: Clock, n: int) -> None:
    await h.evaluate()
    clock.now += SETTINGS.threshold + 1
    for _ in range(n):
        await h.evaluate()
        clock.now += 61


async def test_one_post_per_decision_reported(sample: SampleSet, receiver: Receiver) -> None:
    h, clock, hook, model = hooked(sample, receiver.url)
    with capture_logs() as logs:
        async with sending(hook):
            await passes(h, clock, 8)
            await asyncio.wait_for(hook.queue.join(), 10)
    counted = Counter({(n, r, res, a): c for (n, _, r, res, a), c in h.metrics.actions.items()})
    posted = Counter(
        (d["service_name"], d["reason"], d["result"], d["action"]) for d in receiver.got
    )
    assert posted == counted
    decisions = [e for e in logs if e["event"] == "healer_decision"]
    assert len(receiver.got) == len(decisions) == sum(counted.values()) == hook.sent
    results = {d["result"] for d in receiver.got}
    assert {"forced", "error", "gave_up", "skipped_rate_limit"} <= results
    print(f"[{sample}] one POST per reported decision: {len(receiver.got)}, {sorted(results)}")
    # What a receiver gets: the service, the decision, this instance.
    info = model.info
    assert info is not None
    error = next(d for d in receiver.got if d["result"] == "error")
    assert error["service_id"] == next(i for i, s in model.services.items() if s.name == "crashy")
    # The write it tried: a force that failed.
    assert error["force_error"] == "500 the engine is unwell" and error["action"] == "force"
    assert error["attempts"] == 1 and error["next_allowed"].endswith("Z")
    assert error["instance"]["engine"] == ENGINE
    assert error["instance"]["node_id"] == info.node_id
    assert error["dry_run"] is False and error["desired"] >= 1
    assert receiver.headers[0]["Content-Type"] == "application/json"
    assert receiver.headers[0]["User-Agent"].startswith("swarm-sentinel/")
    text = h.metrics.store.render().decode()
    assert f"dockerswarm_healer_webhook_sent_total {hook.sent}\n" in text
    assert "dockerswarm_healer_webhook_failures_total 0\n" in text
    assert "dockerswarm_healer_webhook_dropped_total 0\n" in text


async def test_a_dry_run_says_so(sample: SampleSet, receiver: Receiver) -> None:
    h, clock, hook, _ = hooked(sample, receiver.url)
    h.settings = replace(h.settings, dry_run=True)
    async with sending(hook):
        await passes(h, clock, 1)
        await asyncio.wait_for(hook.queue.join(), 10)
    dry = [d for d in receiver.got if d["result"] == Result.DRY_RUN]
    assert dry and all(d["dry_run"] and d["action"] == "force" for d in dry)


async def test_a_5xx_is_tried_again_until_it_is_taken(receiver: Receiver) -> None:
    receiver.answers = [500, 503]
    hook = Webhook(settings(receiver.url), engine=ENGINE)
    async with sending(hook):
        hook.submit(reported())
        await asyncio.wait_for(hook.queue.join(), 10)
    assert len(receiver.got) == 3 and receiver.got[0] == receiver.got[2]
    assert (hook.sent, hook.failures) == (1, 0)


async def test_a_4xx_is_final(receiver: Receiver) -> None:
    receiver.answers, receiver.body = [400], "no such channel"
    hook = Webhook(settings(receiver.url), engine=ENGINE)
    with capture_logs() as logs:
        async with sending(hook):
            hook.submit(reported())
            await asyncio.wait_for(hook.queue.join(), 10)
    assert len(receiver.got) == 1 and (hook.sent, hook.failures) == (0, 1)
    (failed,) = [e for e in logs if e["event"] == "healer_webhook_failed"]
    assert failed["error"] == "HTTP 400 no such channel" and failed["attempts"] == 1


async def test_a_refused_connection_is_tried_again_then_given_up() -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"
    hook = Webhook(settings(url, attempts=3), engine=ENGINE)
    with capture_logs() as logs:
        async with sending(hook):
            hook.submit(reported())
            await asyncio.wait_for(hook.queue.join(), 10)
    assert (hook.sent, hook.failures) == (0, 1)
    (failed,) = [e for e in logs if e["event"] == "healer_webhook_failed"]
    assert failed["attempts"] == 3 and "Cannot connect" in failed["error"]
    assert len([e for e in logs if e["event"] == "healer_webhook_retry"]) == 2


async def test_a_hung_receiver_delays_no_evaluation(sample: SampleSet, receiver: Receiver) -> None:
    """The healer loop at a 50 ms interval for 1.5 s while every POST hangs (each cut
    off after its 1 s timeout): it keeps its pace, and no pass takes longer for it."""
    receiver.hang = True
    h, clock, hook, _ = hooked(sample, receiver.url, timeout=1.0, attempts=2)
    h.settings = replace(h.settings, interval=0.05)
    durations: list[float] = []
    evaluate = h.evaluate

    async def timed() -> Any:
        clock.now += 61  # a minute of the healer's clock per pass: decisions keep coming
        t0 = time.perf_counter()
        out = await evaluate()
        durations.append(time.perf_counter() - t0)
        return out

    h.evaluate = timed  # type: ignore[method-assign]
    await h.evaluate()  # the broken services start their threshold
    durations.clear()
    with capture_logs() as logs:
        async with sending(hook):
            loop = asyncio.create_task(h.run())
            await asyncio.sleep(1.5)
            hung = receiver.waiting
            loop.cancel()
            with suppress(asyncio.CancelledError):
                await loop
            await asyncio.sleep(1.0)  # the first POST's second attempt times out too
    assert hung >= 1, "a POST was hanging while the healer evaluated"
    assert len(durations) >= 20, f"only {len(durations)} passes in 1.5 s at a 50 ms interval"
    # A pass that waited for the webhook would take its timeout (1 s); a busy machine
    # may still stretch one now and then.
    assert max(durations) < 0.5, f"slowest pass {max(durations) * 1000:.1f} ms"
    assert hook.failures >= 1
    failed = [e for e in logs if e["event"] == "healer_webhook_failed"]
    assert failed and failed[0]["error"] == "no answer within 1s"
    print(
        f"[{sample}] receiver hung: {len(durations)} passes in 1.5 s at a 50 ms interval, "
        f"slowest {max(durations) * 1000:.2f} ms, median "
        f"{sorted(durations)[len(durations) // 2] * 1000:.2f} ms; {hook.failures} given up"
    )


async def test_a_full_queue_drops_and_counts(sample: SampleSet, receiver: Receiver) -> None:
    h, clock, hook, _ = hooked(sample, receiver.url, queue_size=2)
    with capture_logs() as logs:
        await passes(h, clock, 3)  # nothing sends: the queue fills
    reported_n = sum(h.metrics.actions.values())
    assert reported_n > 2 and hook.queue.qsize() == 2
    assert hook.dropped == reported_n - 2
    assert len([e for e in logs if e["event"] == "healer_webhook_dropping"]) == 1
    text = h.metrics.store.render().decode()
    assert f"dockerswarm_healer_webhook_dropped_total {reported_n - 2}\n" in text
    async with sending(hook):
        await asyncio.wait_for(hook.queue.join(), 10)
    assert hook.sent == len(receiver.got) == 2
    assert hook.sent + hook.failures + hook.dropped == reported_n


async def test_the_urls_secrets_are_never_logged(receiver: Receiver) -> None:
    secret_url = receiver.url.replace("http://", "http://alerts:pa55-w0rd@") + "?token=t0k3n-9"
    # A hostile (or merely chatty) receiver repeats what it was sent.
    auth = base64.b64encode(b"alerts:pa55-w0rd").decode()
    receiver.answers = [500, 500]
    receiver.body = f"bad token t0k3n-9 for {secret_url}, Authorization: Basic {auth}"
    hook = Webhook(settings(secret_url, attempts=2), engine=ENGINE)
    refused = Webhook(settings("http://alerts:pa55-w0rd@127.0.0.1:1/hook?token=t0k3n-9"))
    with capture_logs() as logs:
        async with sending(hook), sending(refused):
            hook.submit(reported())
            refused.submit(reported())
            await asyncio.wait_for(hook.queue.join(), 10)
            await asyncio.wait_for(refused.queue.join(), 10)
    # The receiver got the credentials and the token...
    assert receiver.headers[0]["Authorization"] == f"Basic {auth}"
    assert receiver.queries[0] == "token=t0k3n-9"
    # ...and no log line repeats them.
    said = json.dumps(logs)
    assert "pa55-w0rd" not in said and "t0k3n-9" not in said and "alerts:" not in said
    assert auth not in said  # the Basic token the receiver echoed
    assert {e["url"] for e in logs if "url" in e} == {
        receiver.url.removesuffix("/hook") + "/…",
        "http://127.0.0.1:1/…",
    }
    assert hook.failures == refused.failures == 1


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("http://u:secret@hooks.example.com:8443/T0/B1/xyz?token=abc", "http://hooks.example.com:8443/…"),
        ("https://hooks.example.com", "https://hooks.example.com"),
        ("HTTPS://[::1]:9/", "https://[::1]:9"),
        ("ftp://u:secret@example.com/", "…"),
    ],
)  # fmt: skip
def test_logs_show_scheme_host_and_port_only(text: str, shown: str) -> None:
    assert shown_url(text) == shown


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("ftp://u:secret@example.com/x", "not an http:// or https:// URL"),
        ("hooks.example.com:8080/secret", "not an http:// or https:// URL"),
        ("http:///secret", "http://…: no host in the URL"),
        ("http://u:secret@example.com:99999/", "not a URL"),
        ("http://example.com/a b?secret", "spaces or control characters"),
    ],
)
def test_a_bad_url_is_refused_without_repeating_it(text: str, problem: str) -> None:
    with pytest.raises(ValueError) as err:
        check_webhook_url(text)
    assert problem in str(err.value) and "secret" not in str(err.value)


def test_the_flags_make_the_settings() -> None:
    config = from_args(parse_args([]))
    assert config.healer.webhook == WebhookSettings()
    assert config.healer.webhook.url == "" and config.healer.webhook.timeout == 5.0
    config = from_args(
        parse_args(["--healer.webhook-url", " https://h/x ", "--healer.webhook-timeout", "2s"])
    )
    assert config.healer.webhook.url == "https://h/x" and config.healer.webhook.timeout == 2.0


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EXE, *args], capture_output=True, text=True, timeout=30, check=False, env=env
    )


@pytest.fixture
def clean_env() -> Iterator[dict[str, str]]:
    yield {k: v for k, v in os.environ.items() if not k.startswith("SWARM_SENTINEL_")}


def test_a_bad_url_ends_the_process_with_one_line(clean_env: dict[str, str]) -> None:
    assert "--healer.webhook-url" in run("--help").stdout
    for out, name in [
        (run("--healer.webhook-url", "ftp://u:s3cret@x/y", env=clean_env), "--healer.webhook-url"),
        (
            run(env={**clean_env, "SWARM_SENTINEL_HEALER_WEBHOOK_URL": "tcp://u:s3cret@x"}),
            "environment SWARM_SENTINEL_HEALER_WEBHOOK_URL",
        ),
        (run("--healer.webhook-timeout", "0s", env=clean_env), "--healer.webhook-timeout"),
    ]:
        assert out.returncode == 2 and out.stdout == "", out.stderr
        line = out.stderr.strip().splitlines()[-1]
        assert name in line and "s3cret" not in out.stderr, out.stderr
    print(line)


async def test_every_result_the_healer_reports_goes_out(sample: SampleSet) -> None:
    """No result is left out on the way: ``names`` of a pass and the documents agree."""
    h, clock, _, model = hooked(sample, "http://127.0.0.1:1/")
    got: list[Reported] = []
    h.notify = got.append
    await h.evaluate()
    clock.now += SETTINGS.threshold + 1
    decided = names(model, await h.evaluate())
    assert {r.service_name: r.result for r in got} == decided
