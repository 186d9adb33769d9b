"""The healer's webhook from a real swarm-sentinel process on the lab swarm: one POST
per decision it reports (compared with its dockerswarm_healer_actions_total and its
healer_decision log lines), the URL's secrets kept out of its logs, and a receiver
that hangs delaying no force."""

from __future__ import annotations

import base64
import json
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lab import Lab
from lab.engines import ENGINES
from tests.lab.test_healer import (
    actions,
    broken_service,
    fix,
    leader,
    running,
    stays,
    wait_given_up,
)
from tests.lab.test_healer import start as start_sentinel
from tests.support.sentinel import Sentinel, wait_for
from tests.support.swarm_services import Services
from tests.support.webhook_receiver import Receiver

pytestmark = pytest.mark.lab
LAB_ENGINES = ENGINES

SECRET_PASSWORD = "pa55-w0rd"
SECRET_TOKEN = "t0k3n-9"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    try:
        yield r
    finally:
        r.stop()


@pytest.fixture
def hung_receiver() -> Iterator[Receiver]:
    r = Receiver(hang=True).start()
    try:
        yield r
    finally:
        r.stop()


def hook_url(r: Receiver) -> str:
    return f"http://alerts:{SECRET_PASSWORD}@127.0.0.1:{r.port}/hook?token={SECRET_TOKEN}"


def reported(proc: Sentinel) -> Counter[tuple[str, str, str]]:
    """The healer's own count of reported decisions, by (service, reason, result)."""
    out: Counter[tuple[str, str, str]] = Counter()
    for labels, value in proc.series("dockerswarm_healer_actions_total").items():
        d = dict(labels)
        out[(d["service_name"], d["reason"], d["result"])] += int(value)
    return out


def posted(r: Receiver) -> Counter[tuple[str, str, str]]:
    return Counter((b["service_name"], b["reason"], b["result"]) for b in r.bodies)


def test_one_post_per_reported_decision(
    lab: Lab,
    made: Services,
    sentinels: list[Sentinel],
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    # One the force heals; one whose cause stays: forced, then cooling down.
    healed = broken_service(made, tmp_path, "hooked", wait=False)
    still = broken_service(made, tmp_path, "hooked-still", wait=False)
    for sid in (healed, still):
        wait_given_up(made, sid)
    fix(tmp_path, "hooked")
    node = lab.node(leader(lab))
    proc = start_sentinel(lab, sentinels, node.name, "--healer.webhook-url", hook_url(receiver))
    wait_for(lambda: running(made, healed) == 1, 60, "hooked to run after its force")
    wait_for(
        lambda: actions(proc, "hooked-still", "skipped_cooldown") >= 1,
        60,
        "hooked-still forced and then cooling down",
    )
    wait_for(lambda: posted(receiver) == reported(proc), 10, "a POST per reported decision")
    # Nothing more comes, and nothing is sent twice.
    stays(lambda: posted(receiver) == reported(proc), 8, "one POST per reported decision")
    counted = reported(proc)
    decisions = [line for line in proc.logs().splitlines() if '"healer_decision"' in line]
    n = len(receiver.posts)
    assert n == sum(counted.values()) == len(decisions)
    assert proc.value("dockerswarm_healer_webhook_sent_total") == n
    assert proc.value("dockerswarm_healer_webhook_failures_total") == 0
    assert proc.value("dockerswarm_healer_webhook_dropped_total") == 0
    assert counted[("hooked", "replicas_missing", "forced")] == 1
    assert counted[("hooked-still", "replicas_missing", "forced")] == 1
    print(f"[{lab.config.engine}] POSTs {n}, actions_total {dict(counted)}")

    forced = next(b for b in receiver.bodies if b["service_name"] == "hooked")
    print(f"[{lab.config.engine}] payload: {forced}")
    assert forced["service_id"] == healed and forced["result"] == "forced"
    assert (forced["running"], forced["desired"], forced["attempts"]) == (0, 1, 1)
    assert forced["dry_run"] is False and forced["action"] == "force"
    assert forced["next_allowed"] > forced["time"]
    when = datetime.strptime(forced["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs(time.time() - when.timestamp()) < 300
    info = node.info()
    assert forced["instance"]["engine"] == node.url
    assert forced["instance"]["node_id"] == info["Swarm"]["NodeID"]
    assert forced["instance"]["hostname"] == info["Name"]
    # The credentials and the token went to the receiver, and nowhere else.
    post = receiver.posts[0]
    auth = base64.b64encode(f"alerts:{SECRET_PASSWORD}".encode()).decode()
    assert post.headers["Authorization"] == f"Basic {auth}"
    assert post.query == f"token={SECRET_TOKEN}" and post.path == "/hook"
    assert post.headers["Content-Type"] == "application/json"
    logs = proc.logs()
    assert SECRET_PASSWORD not in logs and SECRET_TOKEN not in logs
    events = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    assert {e["url"] for e in events if "url" in e} == {f"http://127.0.0.1:{receiver.port}/…"}


def test_a_hung_receiver_delays_no_force(
    lab: Lab,
    made: Services,
    sentinels: list[Sentinel],
    hung_receiver: Receiver,
    tmp_path: Path,
) -> None:
    sid = broken_service(made, tmp_path, "hooked-hung")
    fix(tmp_path, "hooked-hung")
    # A second one, broken from now on: forced in the same pass, or the next, while the
    # POST of the first decision hangs.
    later = broken_service(made, tmp_path, "hooked-later", wait=False)
    url = hook_url(hung_receiver)
    started = time.monotonic()
    proc = start_sentinel(
        lab, sentinels, leader(lab), "--healer.webhook-url", url, "--healer.webhook-timeout", "2s"
    )
    wait_for(lambda: running(made, sid) == 1, 60, "hooked-hung to run after its force")
    wait_for(lambda: actions(proc, "hooked-later", "forced") == 1, 60, "hooked-later forced")
    healed_in = time.monotonic() - started
    assert hung_receiver.posts, "the receiver got the first POST (and holds it)"
    # Each document: 4 attempts of 2 s, 1 s + 2 s + 4 s apart.
    wait_for(
        lambda: (
            proc.value("dockerswarm_healer_webhook_failures_total") == sum(reported(proc).values())
        ),
        120,
        "every document given up on",
    )
    assert proc.value("dockerswarm_healer_webhook_sent_total") == 0
    assert made.force_update_counter(later) >= 1
    print(
        f"[{lab.config.engine}] receiver hung: both services forced {healed_in:.1f}s after "
        f"start (threshold 3s); {len(hung_receiver.posts)} POSTs held"
    )
