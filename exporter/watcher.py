"""Keeps the model in step with the engine: events, polling and relists.

- Node and service events update the model at once (the object is
  inspected again, so a replayed or duplicated event is harmless).
- The engine emits no task events: each poll asks ``/services?status=true``
  (one call, or one per 500 services split by ID prefix) and lists tasks
  only of the services whose counts moved or
  that are not converged; every ``resync_interval`` everything is listed.
  A service whose count rose back to all running, with every slot's task the
  model holds running or on its way, is not listed: the tasks on their way are
  fetched by ID, and listed only if one of them does not run
  (``planning.recoveries``).
  The lists hold current tasks only (the nodes count exits exactly); a task
  found replaced is fetched by ID to count it if it failed. Where that task is
  gone from the engine (a crash loop faster than the polls went through more
  tasks of its slot than the engine keeps), the service's whole history is
  listed at once, so that its failures, their reason and error are counted from
  what the engine still holds. ``task_history`` lists every service's whole history, for
  managers-only deployments.
- A lost event stream is opened again from the last event seen (``since``):
  the engine replays what it still holds (its last 256 events), and the next
  poll lists every node. A stream lost for longer than ``relist_after_gap`` is
  followed by a full relist instead. While the stream says nothing for a poll
  interval (down, or connected but silent), each poll lists every node, so a
  node change is never hidden for longer than that.
- The poll loop and the event loop are supervised: if one fails for any
  reason, it is logged, ``up`` drops to 0, and it starts again.
- When the manager says the swarm has no leader, the model keeps its last
  known state, ``up`` and ``has_leader`` drop to 0, and polling goes on
  until the leader is back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import structlog

from common.supervise import supervise
from exporter import gc_tuning, planning
from exporter.certs import NodeCertificate
from exporter.engine import ID_CHARS, Engine
from exporter.errors import EngineError, NoLeader, NotFound, NotManager, Refused, Unreachable
from exporter.followup import FollowUps
from exporter.health import Health
from exporter.metrics.publish import Changes
from exporter.model import SwarmModel
from exporter.nodelog import note_nodes
from exporter.slots import Ended
from exporter.stream import StreamFollower
from exporter.types import Event, Service
from exporter.watch import WatcherMetrics, WatchSettings

log = structlog.get_logger("exporter.watcher")

TASK_BATCH = 10
"""Services whose tasks are listed in one call (~50 tasks each with history):
larger answers held the event loop too long to decode and apply under churn."""
APPLY_SLICE = 250
"""Services compared and re-rendered between two yields to the event loop."""
STATUS_PART = 500
"""Services per ``/services?status=true`` call in a poll."""
ENDED_BATCH = 100
"""Replaced tasks fetched by ID in one call (the IDs go in the URL)."""
LISTS = ("network", "secret", "config")
"""The small lists read at a relist and again on their own events."""
RECOVERED_SLICE = 50
"""Services that look recovered, confirmed and re-rendered between two yields."""
FOLLOW_UPS = 8
"""Events followed up (an inspect each) at once (``exporter.followup``)."""


class Watcher:
    def __init__(
        self,
        engine: Engine,
        model: SwarmModel,
        health: Health,
        metrics: WatcherMetrics,
        settings: WatchSettings,
        *,
        on_change: Callable[[Changes], object] = lambda _: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``on_change`` gets what changed in the model (and the exporter's health)
        after each step; the app renders it into metrics text."""
        self.engine = engine
        self.model = model
        self.health = health
        self.metrics = metrics
        self.settings = settings
        self._on_change = on_change
        self._clock = clock
        self._health_changed = True
        self._wake = asyncio.Event()
        self._need_resync = True
        self._tasks_due: set[str] = set()
        # service id -> when an event last changed it in the model (monotonic):
        # a list answer asked for before that is older than the model.
        self._service_touched: dict[str, float] = {}
        self._last_resync = 0.0
        self._catch_up = False  # the next poll lists every node
        self._lists_due: set[str] = set()  # networks, secrets, configs to list again
        self._certificate = (
            NodeCertificate(settings.node_certificate) if settings.node_certificate else None
        )
        self._refused: set[str] = set()  # lists an engine (a proxy) refused, logged once
        self.stream = StreamFollower(
            "swarm",
            engine.events,
            settings.stream,
            metrics.reconnects,
            address=engine.address,
            on_open=self._stream_opened,
            # A worker has no swarm events: it asks again at every poll interval.
            wanted=lambda: self.health.role != "worker",
            idle=settings.poll_interval,
        )

    # ---- the two loops ---------------------------------------------------
    async def run(self) -> None:
        events = asyncio.create_task(
            supervise(
                "event stream", self._event_loop, on_failure=self._loop_failed("event stream")
            ),
            name="swarm-events",
        )
        try:
            await supervise("poll", self._poll_loop, on_failure=self._loop_failed("poll"))
        finally:
            events.cancel()
            await asyncio.gather(events, return_exceptions=True)

    def _loop_failed(self, name: str) -> Callable[[str], None]:
        """What to do when a loop dies (a bug, or something nobody foresaw): say so in
        the metrics too, and relist once it runs again."""

        def failed(problem: str) -> None:
            self.metrics.task_failures.labels(name).inc()
            self._failed(Unreachable(name, problem))
            self._publish()

        return failed

    async def _poll_loop(self) -> None:
        next_poll = 0.0
        while True:
            now = time.monotonic()
            try:
                if self._need_resync or now - self._last_resync >= self.settings.resync_interval:
                    await self.resync()
                    next_poll = time.monotonic() + self.settings.poll_interval
                elif now >= next_poll:
                    await self.poll()
                    next_poll = time.monotonic() + self.settings.poll_interval
                elif self._catch_up:
                    await self.poll()  # a reconnect: catch up now, not at the next poll
                elif self._lists_due:
                    await self._read_lists(set(self._lists_due))  # their events came
            except NotManager as exc:
                self._not_a_manager(exc)
                next_poll = time.monotonic() + self.settings.poll_interval
            except EngineError as exc:
                self._failed(exc)
                next_poll = time.monotonic() + self.settings.poll_interval
            if self._certificate is not None:
                self.model.set_node_certificate(self._certificate.expiry())
            self._publish()
            self._wake.clear()
            try:
                async with asyncio.timeout(max(0.0, next_poll - time.monotonic())):
                    await self._wake.wait()  # a reconnect wants a relist now
            except TimeoutError:
                pass

    async def _event_loop(self) -> None:
        follow_ups = FollowUps(self._apply_event, FOLLOW_UPS)
        self.metrics.follow_ups.set_function(lambda: follow_ups.pending)

        async def handle(event: Event) -> None:
            self.metrics.events.labels(event.type or "unknown").inc()
            if event.type in ("node", "service"):
                follow_ups.submit(event)

        tasks = [
            asyncio.create_task(self.stream.run(handle), name="swarm-stream"),
            asyncio.create_task(follow_ups.run(), name="follow-ups"),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # what ended it, for the supervisor
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _stream_opened(self, gap: float | None) -> None:
        if gap is None:
            return  # the first opening: the first resync lists everything
        if gap > self.settings.relist_after_gap:
            self._need_resync = True  # the engine's replay may not reach back that far
        else:
            self._catch_up = True
        self._wake.set()

    @property
    def _stream_silent(self) -> bool:
        """Whether the stream may have missed a change: down, or quiet for a poll."""
        return self.stream.silent(self.settings.poll_interval)

    # ---- refreshing ---------------------------------------------------------
    async def _read_info(self) -> None:
        """/info: the engine's role, its swarm's settings and CA (at every poll: no event
        says they changed); ``NotManager`` or ``NoLeader`` when it has no cluster view."""
        info = await self.engine.info()
        self.model.set_info(info)
        role = "manager" if info.control_available else "worker" if info.is_member else ""
        if role != self.health.role:
            log.info("engine_role", engine=self.engine.address, role=role or "none")
            self.health.role = role
            self._health_changed = True
        self.engine.require_manager(info)

    async def _read_lists(self, kinds: set[str]) -> None:
        """The networks, secrets or configs (``kinds``) listed again: small lists that
        change only on their events (and are read again at a relist or a catch-up)."""
        self._lists_due -= kinds
        for kind in LISTS:
            if kind not in kinds:
                continue
            try:
                if kind == "network":
                    self.model.replace_networks(await self.engine.networks())
                else:
                    listed = await (
                        self.engine.secrets if kind == "secret" else self.engine.configs
                    )()
                    self.model.replace_inventory(kind, listed)
            except (Refused, NotFound) as exc:
                # Not failed: a socket proxy that allows only some endpoints.
                if str(exc) not in self._refused:
                    self._refused.add(str(exc))
                    log.warning("list_refused", engine=self.engine.address, error=str(exc))

    async def resync(self) -> None:
        """List everything: info, nodes, services (with status), all tasks, and the
        networks, secrets and configs."""
        await self._read_info()
        nodes = await self.engine.nodes()
        asked = time.monotonic()
        services = await self.engine.services()
        note_nodes(self.health.synced, self.model.replace_nodes(nodes))
        await self._apply_services(services, asked)
        await self._read_lists(set(LISTS))
        tasks = await self._list_tasks([s.id for s in services])
        await self._explain_placements()
        self.metrics.relists.inc()
        self._need_resync = False
        self._last_resync = time.monotonic()
        self._tasks_due.clear()
        gc_tuning.settle()
        first = not self.health.synced
        self.health.synced = True
        self._succeeded()
        if first:
            log.info(
                "model_synced",
                engine=self.engine.address,
                nodes=len(nodes),
                services=len(services),
                tasks=tasks,
            )

    async def poll(self) -> None:
        """Cheap refresh: info, managers, service counts, and tasks of services that
        moved (the networks, secrets and configs too while the stream may miss events)."""
        await self._read_info()
        every_node = self._catch_up or self._stream_silent
        self._catch_up = False
        if every_node:
            self._lists_due |= set(LISTS)
        nodes = await self.engine.nodes(role=None if every_node else "manager")
        asked = time.monotonic()
        parts = -(-len(self.model.services) // STATUS_PART)
        services = await self.engine.services(parts=parts)
        fresh = {s.id: s for s in services}
        recovered: set[str] = set()
        wanted: set[str] = set()
        # Compared with the model a slice at a time: thousands of services in one go
        # held the loop as long as applying them did.
        for i in range(0, len(services), APPLY_SLICE):
            part = {s.id: s for s in services[i : i + APPLY_SLICE]}
            # A whole history would count the failures of other slots too: with
            # task_history, every move is listed.
            if not self.settings.task_history:
                recovered.update(planning.recoveries(self.model, part))
            wanted.update(planning.services_needing_tasks(self.model, part))
            await asyncio.sleep(0)
        recovered -= self._tasks_due
        wanted = (wanted - recovered) | (self._tasks_due & fresh.keys())
        if every_node:
            note_nodes(self.health.synced, self.model.replace_nodes(nodes))
        else:
            note_nodes(
                self.health.synced, [c for c in map(self.model.upsert_node, nodes) if c is not None]
            )
        # A split answer cannot show an ID outside the prefixes asked for: such
        # a service (none exist in swarm) is left to events and the relist.
        await self._apply_services(
            services, asked, removable=lambda sid: parts <= 1 or sid[:1] in ID_CHARS
        )
        wanted |= await self._confirm_recovered(sorted(recovered))
        if self._lists_due:
            await self._read_lists(set(self._lists_due))
        await self._list_tasks(sorted(wanted))
        self._tasks_due -= wanted
        await self._explain_placements()
        self._succeeded()
        gc_tuning.after_poll()

    async def _explain_placements(self) -> None:
        """``planning.explain_placements``, yielding to the loop between its steps."""
        for _ in planning.placement_steps(self.model):
            self._publish()
            await asyncio.sleep(0)

    async def _apply_services(
        self,
        services: list[Service],
        asked: float,
        removable: Callable[[str], bool] = lambda _: True,
    ) -> None:
        """``model.replace_services``, a slice at a time.

        Applying thousands of services (comparing each, recomputing those whose
        counts moved) and rendering them in one go holds the event loop under
        churn: scrapes and events get in between slices instead.
        """
        # An event handled since the answer was asked for (the calls and the
        # slices yield to the event task) is newer: it must not be undone by
        # removing a service just created or bringing back one just removed.
        touched = self._service_touched

        def newer(sid: str) -> bool:
            return touched.get(sid, 0.0) > asked

        fresh = {s.id for s in services}
        for gone in [s for s in self.model.services if s not in fresh and removable(s)]:
            if not newer(gone):
                self.model.remove_service(gone)
        for i in range(0, len(services), APPLY_SLICE):
            if i:
                self._publish()
                await asyncio.sleep(0)
            for svc in services[i : i + APPLY_SLICE]:
                if not newer(svc.id):
                    self.model.upsert_service(svc)
        for sid in [s for s, t in touched.items() if t <= asked]:
            del touched[sid]  # older than this answer: no later answer needs it

    async def _confirm_recovered(self, service_ids: list[str]) -> set[str]:
        """Fetch by ID the tasks on their way of services that look recovered
        (``SwarmModel.recoveries``); returns those not confirmed, to be listed."""
        unconfirmed: set[str] = set()
        # A slice at a time, rendered between: hundreds of services recomputed and
        # re-rendered in one go would hold scrapes and events.
        for i in range(0, len(service_ids), RECOVERED_SLICE):
            batch = service_ids[i : i + RECOVERED_SLICE]
            ids = planning.on_their_way(self.model, batch)
            fetched = []
            for j in range(0, len(ids), ENDED_BATCH):
                fetched += await self.engine.tasks_by_id(ids[j : j + ENDED_BATCH])
            missed = planning.confirm_recovered(self.model, batch, fetched)
            self.metrics.recoveries.inc(len(batch) - len(missed))
            unconfirmed.update(missed)
            self._publish()
            await asyncio.sleep(0)
        return unconfirmed

    async def _list_tasks(self, service_ids: list[str]) -> int:
        """Tasks of ``service_ids``, a batch of services per call.

        Batches keep each answer, and the event-loop time spent decoding it,
        small: one unfiltered list of a large swarm is hundreds of MB of JSON
        that would stall scrapes and events for seconds. Current tasks only,
        unless ``task_history`` or the service is a one-shot. The tasks a current
        list shows replaced are then fetched by ID, for whether they failed; a
        service whose replaced task the engine no longer holds (a crash loop
        faster than the polls, ``SwarmModel.record_ended``) has its whole history
        listed right after, to count every failure the engine still holds.
        """
        services = self.model.services
        whole = [s for s in service_ids if self.settings.task_history or _whole(services.get(s))]
        listed_whole = set(whole)
        current = [s for s in service_ids if s not in listed_whole]
        count = await self._list(whole, current_only=False)
        ended: list[Ended] = []
        count += await self._list(current, current_only=True, ended=ended)
        lost: list[str] = []
        for i in range(0, len(ended), ENDED_BATCH):
            batch = ended[i : i + ENDED_BATCH]
            fetched = await self.engine.tasks_by_id([e.task_id for e in batch])
            lost += self.model.record_ended(batch, fetched)
            self._publish()
        if lost:
            self.metrics.histories.inc(len(set(lost)))
            count += await self._list(sorted(set(lost)), current_only=False)
        return count

    async def _list(
        self, service_ids: list[str], *, current_only: bool, ended: list[Ended] | None = None
    ) -> int:
        """One kind of task list of ``service_ids``, a batch at a time; the replaced
        tasks a current list shows go to ``ended``."""
        count = 0
        for i in range(0, len(service_ids), TASK_BATCH):
            batch = service_ids[i : i + TASK_BATCH]
            tasks = await self.engine.tasks(batch, current_only=current_only)
            replaced = self.model.replace_tasks(tasks, batch, whole=not current_only)
            if ended is not None:
                ended += replaced
            count += len(tasks)
            self._publish()
            await asyncio.sleep(0)  # let scrapes and events in between batches
        return count

    async def _apply_event(self, event: Event) -> None:
        """An event followed up: the object inspected again (or removed) and published."""
        try:
            if event.type == "node":
                if event.action == "remove":
                    self.model.remove_node(event.actor_id)
                else:
                    moved = self.model.upsert_node(await self.engine.node(event.actor_id))
                    note_nodes(self.health.synced, [moved] if moved is not None else [])
            elif event.type == "service":
                if event.action == "remove":
                    self.model.remove_service(event.actor_id)
                    self._service_touched[event.actor_id] = time.monotonic()
                else:
                    svc = await self.engine.service(event.actor_id)
                    change = self.model.upsert_service(svc)
                    self._service_touched[svc.id] = time.monotonic()
                    if change is not None and (
                        change.old is None or _tasks_affected(change.old, change.new)
                    ):
                        # Its tasks are being replaced: list them at the next poll even
                        # if the counts look the same then. Not now: under a stream of
                        # updates that would list the same tasks many times a second.
                        self._tasks_due.add(svc.id)
            elif event.type in LISTS:
                # Listed by the poll loop, woken now: a burst of events makes one list.
                self._lists_due.add(event.type)
                self._wake.set()
                return
            else:
                return
        except NotFound:
            # Gone before we looked: the remove event follows, or a relist fixes it.
            return
        except EngineError as exc:
            log.info("event_refresh_failed", event_type=event.type, error=str(exc))
            self._need_resync = True
            return
        self._publish()

    # ---- bookkeeping -------------------------------------------------------
    def _publish(self) -> None:
        changes = Changes.of(self.model.take_changes(), health=self._health_changed)
        self._health_changed = False
        if changes:
            self._on_change(changes)

    def _succeeded(self) -> None:
        if self.health.last_error:
            log.info("engine_recovered", engine=self.engine.address)
        self.health.succeeded(self._clock(), has_leader=self.model.leader is not None)
        self._health_changed = True  # the refresh time, at least

    def _not_a_manager(self, exc: NotManager) -> None:
        """A worker's engine answers, and has no cluster view to give: the instance
        serves its own node's containers, and asks again in case it is promoted."""
        if self.health.role != "worker":
            self._failed(exc)  # not in a swarm at all: nothing to serve
            return
        if self.model.nodes or self.model.services:
            # Demoted: what it listed as a manager would go stale under its name.
            self.model.replace_nodes([])
            self.model.replace_services([])
        self.health.synced = False
        self.health.succeeded(self._clock(), has_leader=False)
        self._health_changed = True

    def _failed(self, exc: EngineError) -> None:
        self._need_resync = True
        if str(exc) != self.health.last_error:
            # One event per distinct problem, not one per poll.
            event = (
                "quorum_lost"
                if isinstance(exc, NoLeader) and self.health.has_leader
                else "engine_error"
            )
            log.error(event, engine=self.engine.address, error=str(exc))
        if self.health.failed(str(exc)):
            self._health_changed = True


def _whole(svc: Service | None) -> bool:
    """Whether a service's whole task history is listed even without ``task_history``:
    a one-shot's completed tasks say it is done, a failed job's (no longer current) that
    it failed."""
    return svc is not None and svc.runs_once


def _tasks_affected(old: Service, new: Service) -> bool:
    """Whether a service update replaces tasks (a label change does not).

    Any change to the task template starts a rolling update, which sets a new
    UpdateStatus (state and start time); scaling changes the replicas.
    """

    def key(s: Service) -> tuple[object, ...]:
        return (s.replicas, s.force_update, s.image, s.constraints, s.update_state,
                s.update_started_at)  # fmt: skip

    return key(old) != key(new)
