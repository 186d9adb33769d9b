"""Events followed up several at once (``exporter.followup``): never two follow-ups of
one object at once, its latest event when its turn comes, others meanwhile."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from exporter.followup import FollowUps


@dataclass(frozen=True)
class Ev:
    type: str
    actor_id: str
    n: int


async def test_objects_at_once_one_object_at_a_time_its_latest_event() -> None:
    gates: dict[int, asyncio.Event] = {}
    running: set[tuple[str, str]] = set()
    most = 0
    handled: list[tuple[str, str, int]] = []

    async def handle(e: Ev) -> None:
        nonlocal most
        key = (e.type, e.actor_id)
        assert key not in running  # one follow-up of an object at a time
        running.add(key)
        most = max(most, len(running))
        gates[e.n] = asyncio.Event()
        await gates[e.n].wait()
        running.discard(key)
        handled.append((e.type, e.actor_id, e.n))

    async def settle() -> None:
        for _ in range(5):
            await asyncio.sleep(0)

    f: FollowUps[Ev] = FollowUps(handle, 3)
    workers = asyncio.create_task(f.run())
    try:
        for n, who in enumerate("abcde"):
            f.submit(Ev("service", who, n))
        await settle()
        assert {k[1] for k in running} == {"a", "b", "c"} and f.backlog == 2  # three at once
        assert f.pending == 5
        # "a" changes twice more while its follow-up runs: followed up once more, with
        # the latest; a node of the same ID is another object.
        f.submit(Ev("service", "a", 10))
        f.submit(Ev("service", "a", 11))
        f.submit(Ev("node", "a", 12))
        gates[0].set()
        await settle()
        assert {k[1] for k in running} == {"b", "c", "d"}
        for n in (1, 2, 3):
            gates[n].set()
        await settle()
        assert running == {("service", "e"), ("service", "a"), ("node", "a")}
        for n in (4, 11, 12):
            gates[n].set()
        await settle()
    finally:
        workers.cancel()
        await asyncio.gather(workers, return_exceptions=True)
    assert most == 3
    assert [n for t, who, n in handled if (t, who) == ("service", "a")] == [0, 11]
    assert sorted(n for *_, n in handled) == [0, 1, 2, 3, 4, 11, 12]  # 10: coalesced
    assert f.backlog == 0 and f.pending == 0 and not running
