"""The graph-notifications worker: one queued room work item → read Graph → publish what changed (a watched
organizer's work goes to ``shared.app.people.watching``).

Sessions (session = room mailbox) serialise a room's work, so reservation state rows need no locks.
Every step is safe to repeat: state rows dedupe on event id + changeKey and on content.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any

from shared.app.messaging import GRAPH_QUEUE, Delivery, Settlement
from shared.app.people.watching import WatchDeps, handle_organizer_work
from shared.app.ports.clock import Clock
from shared.app.ports.rooms import BackfillJob, DeltaPage, OwnWrites, ReservationStore, Room, RoomGraph, RoomStore
from shared.app.rooms.publisher import PublisherDeps, publish
from shared.app.rooms.subscriptions import SubscriptionDeps, from_old_subscription, on_lifecycle, queue_work
from shared.app.rooms.tenancy import ScopedOwnWrites, ScopedReservations, ScopedWatches, subscribing_for
from shared.app.rooms.tenant_streams import publishing_in
from shared.app.rooms.upkeep import UpkeepDeps, sync_users_directory, upkeep_in
from shared.app.tenants.acting import tenant_named
from shared.config import Settings
from shared.domain.rooms import outbound_events as reservations
from shared.domain.rooms.client_state import ORGANIZER
from shared.domain.rooms.echo import is_tagged, slot_key
from shared.domain.rooms.notifications import RoomWork
from shared.errors import InvalidMessage, NotFound, PermanentError

__all__ = ["WorkerDeps", "handle_work", "process_event", "run_work"]

logger = logging.getLogger(__name__)

DELTA_PAST = timedelta(days=30)
DELTA_FUTURE = timedelta(days=730)
# Long work (a backfill, a resync, a first directory round) runs as steps: each reads at most this many
# delta pages, well within a minute, then queues the next step to its session. Far below the lock renewal
# and functionTimeout, so no other instance takes the session while a step runs.
PAGES_PER_STEP = 5
MAX_STEPS = 2000  # a chain of next links that never ends is dead-lettered with the reason


@dataclass(frozen=True)
class WorkerDeps:
    settings: Settings
    rooms: RoomStore
    reservations: ReservationStore
    own_writes: OwnWrites
    graph: RoomGraph
    subscribing: SubscriptionDeps
    publisher: PublisherDeps
    upkeep: UpkeepDeps
    settle: Settlement
    clock: Clock
    dropped: Counter[str]  # notifications dropped by this instance since it started, by reason
    organizers: WatchDeps | None = None  # watched organizers' work (None: not wired in this container)


async def run_work(body: bytes, delivery: Delivery, deps: WorkerDeps) -> str:
    """Handle one graph-notifications message and settle it by the one settle policy."""
    return await deps.settle.settle(GRAPH_QUEUE, body, delivery, lambda: handle_work(body, deps))


async def handle_work(body: bytes, deps: WorkerDeps) -> str:
    try:
        work = RoomWork.from_json(body)
    except (ValueError, TypeError) as exc:
        raise InvalidMessage(f"invalid room work item: {exc}") from None
    deps = await in_tenant(work.tenant, deps)
    if work.kind == "directory":
        counts = await sync_users_directory(deps.upkeep, work)
        return f"directory step: {counts['read']} read, {counts['published']} published"
    if work.calendar == ORGANIZER:
        if deps.organizers is None:
            logger.warning("work for organizer %s dropped: organizers are not wired in", work.room)
            return "organizers not wired"
        return await handle_organizer_work(work, deps.organizers)
    room = await deps.rooms.get(work.room)
    if room is None:
        logger.info("work for %s dropped: the room is not registered", work.room)
        return "unknown room"
    if from_old_subscription(work, room, deps.dropped):
        return "stale subscription"
    if work.kind == "change":
        assert work.event_id and work.change_type
        return await process_event(room, work.event_id, deps, deleted=work.change_type == "deleted")
    if work.kind == "lifecycle":
        return await _lifecycle(room, work, deps)
    if work.kind == "resync":
        return await resync(room, deps, work)
    if work.kind == "backfill":
        return await backfill(room, work, deps)
    raise InvalidMessage(f"unknown room work kind {work.kind!r}")


async def in_tenant(tenant_id: str | None, deps: WorkerDeps) -> WorkerDeps:
    """The worker's dependencies acting in the work's tenant (from its clientState, or a directory step's): the
    tenant's stores, log, streams, directory and Graph clients; unchanged for the default tenant. A stopped or
    unregistered tenant's work goes to the dead-letter list (``tenant_named``), to be replayed once the tenant is
    active again."""
    subscribing = deps.subscribing
    tenant = await tenant_named(tenant_id or None, deps.settings, subscribing.tenants)
    if tenant is None or tenant.scope is None:
        return deps
    scoped = subscribing_for(subscribing, tenant)
    assert subscribing.tenant_clients is not None  # subscribing_for raised otherwise
    graph = subscribing.tenant_clients.room_graph(tenant)
    organizers = deps.organizers
    publisher = publishing_in(deps.publisher, tenant.id)
    if organizers is not None and scoped.organizers is not None:
        organizers = replace(organizers, organizers=scoped.organizers, graph=graph, subscribing=scoped,
                             watches=ScopedWatches(organizers.watches, tenant.id),
                             publisher=publishing_in(organizers.publisher, tenant.id))
    return replace(deps, rooms=scoped.rooms, reservations=ScopedReservations(deps.reservations, tenant.id),
                   own_writes=ScopedOwnWrites(deps.own_writes, tenant.id), graph=graph, subscribing=scoped,
                   organizers=organizers, publisher=publisher, upkeep=upkeep_in(deps.upkeep, tenant))


async def process_event(room: Room, event_id: str, deps: WorkerDeps, *, deleted: bool = False,
                        event: dict[str, Any] | None = None, backfill: bool = False) -> str:
    if not deleted and event is None:
        event = await deps.graph.get_event(room.email, event_id)
    if deleted:
        event = None
    state = await deps.reservations.get(room.email, event_id)
    data = None
    own = False
    if event is not None:
        data = reservations.reservation_data(event, room.email, deps.settings.time_zone,
                                             show_subject=room.show_subject)
        ical = event.get("iCalUId")
        own = is_tagged(event)
        if not own and ical and not (state and state.change_key == event.get("changeKey")):
            # The room's auto-accepted copy of a meeting the connector booked has no extended property
            # of ours, but keeps the organizer's iCalUId, which the connector recorded at create.
            own = (state is not None and state.ignored == "own write") or await deps.own_writes.contains(str(ical)) \
                or await _own_slot(room.email, event, deps.own_writes)
    decision = reservations.decide(event, data, state, room=room.email, event_id=event_id, own=own,
                                   activated_at=room.activated_at, backfill=backfill)
    if decision.type is not None:
        stored = decision.state or state
        assert stored is not None
        subject = reservations.reservation_subject(room.email, stored.ical_uid, event_id)
        payload = data if data is not None else _cancelled_data(room.email, stored)
        version = (event or {}).get("changeKey") or "cancelled"
        cloud_event = reservations.cloud_event(decision.type, subject, payload, source=_source(deps),
                                               version_key=f"{event_id}\n{version}", now=deps.clock())
        await publish([cloud_event], deps.publisher)
    if decision.state is not None:
        await deps.reservations.save(decision.state)
    logger.info("room %s event %s: %s", room.email, event_id, decision.reason)
    return decision.reason


async def _own_slot(room: str, event: dict[str, Any], own_writes: OwnWrites) -> bool:
    organizer = ((event.get("organizer") or {}).get("emailAddress") or {}).get("address")
    start, end = reservations.parse_graph_time(event.get("start")), reservations.parse_graph_time(event.get("end"))
    if not organizer or start is None or end is None:
        return False
    return bool(await own_writes.contains(slot_key(room, str(organizer), start, end)))


def _cancelled_data(room: str, state: reservations.ReservationState) -> dict[str, Any]:
    return {"room": room, "graph": {"eventId": state.event_id, "iCalUId": state.ical_uid, "changeKey": None}}


def _source(deps: WorkerDeps) -> str:
    tenant = deps.subscribing.tenant or deps.settings.tenant_id or "local"
    return f"urn:m365-calendar-connector:{tenant}:rooms"


async def _lifecycle(room: Room, work: RoomWork, deps: WorkerDeps) -> str:
    event = work.lifecycle_event
    logger.info("room %s lifecycle notification %s", room.email, event)
    outcome = await on_lifecycle(room, event, deps.subscribing)
    return outcome if outcome is not None else await resync(room, deps)


async def _apply_page(room: Room, deps: WorkerDeps, page: DeltaPage, *, backfill: bool) -> int:
    """Process one delta page; returns the number of events published."""
    published = 0
    masters: set[str] = set()
    for item in page.events:
        if item.get("type") == "occurrence" and item.get("seriesMasterId"):
            masters.add(str(item["seriesMasterId"]))  # a series is one reservation: read its master once
            continue
        reason = await process_event(room, str(item["id"]), deps, event=item, backfill=backfill)
        published += reason in ("created", "updated", "cancelled")
    for master in masters:
        reason = await process_event(room, master, deps, backfill=backfill)
        published += reason in ("created", "updated", "cancelled")
    for removed in page.removed:
        published += await process_event(room, removed, deps, deleted=True) == "cancelled"
    return published


async def _delta_step(room: Room, deps: WorkerDeps, links: list[str | None], start: datetime, end: datetime,
                      *, backfill: bool) -> _Step:
    """Read at most PAGES_PER_STEP delta pages, from the first of ``links`` whose state has not expired."""
    graph = deps.graph
    step = _Step()
    try:
        page = await graph.calendar_delta_page(room.email, links[0], start, end)
    except NotFound:
        if len(links) == 1:
            raise
        # Delta and skip tokens expire: start over from the next candidate; state rows keep publishing once.
        logger.warning("room %s: delta state expired; reading again from %s", room.email,
                       "the last round's link" if links[1] else "the start of the window")
        return await _delta_step(room, deps, links[1:], start, end, backfill=backfill)
    for pages in range(1, PAGES_PER_STEP + 1):
        step.seen += len(page.events) + len(page.removed)
        step.published += await _apply_page(room, deps, page, backfill=backfill)
        step.next_link, step.delta_link = page.next_link, page.delta_link
        if page.next_link is None or pages == PAGES_PER_STEP:
            break
        page = await graph.calendar_delta_page(room.email, page.next_link, start, end)
    return step


async def _continue(work: RoomWork, deps: WorkerDeps, cursor: str) -> None:
    """Queue the next step of ``work`` in the room's session, after what is already queued there."""
    await queue_work(replace(work, cursor=cursor, step=(work.step or 0) + 1), deps.subscribing.queue)


def _within_bounds(work: RoomWork) -> None:
    if (work.step or 0) >= MAX_STEPS:
        raise PermanentError(f"{work.kind} of {work.room} did not end within {MAX_STEPS} steps; "
                             "Graph kept returning next links")


async def resync(room: Room, deps: WorkerDeps, work: RoomWork | None = None) -> str:
    """Catch up with the room through its delta link (after `missed`, a recreate, or registration).

    One step reads a bounded number of pages; a longer round continues in a message to the room's session.
    """
    now = deps.clock()
    if work is None or not work.cursor:
        # The run is named by where it starts: two resyncs queued from one delta link are one chain.
        origin = room.delta_link or now.isoformat()
        work = replace(work or RoomWork("resync", room.email), step=0,
                       chain=hashlib.sha256(origin.encode()).hexdigest()[:16])
    _within_bounds(work)
    links = list(dict.fromkeys([work.cursor or room.delta_link, room.delta_link, None]))
    step = await _delta_step(room, deps, links, now - DELTA_PAST, now + DELTA_FUTURE, backfill=False)
    if step.next_link:
        await _continue(work, deps, step.next_link)
        logger.info("room %s resync step %d: %d change(s) seen, %d published; continuing",
                    room.email, work.step or 0, step.seen, step.published)
        return "resync continues"
    current = await deps.rooms.get(room.email) or room
    await deps.rooms.save(replace(current, delta_link=step.delta_link))
    logger.info("room %s resynced: %d change(s) seen, %d published", room.email, step.seen, step.published)
    return "resynced"


async def backfill(room: Room, work: RoomWork, deps: WorkerDeps) -> str:
    """Publish the room's existing bookings from ``work.backfill_from`` on (not before DAYS_BACK), a bounded
    number of delta pages per step; the job row adds up what each step saw and published."""
    step_no = work.step or 0
    job = room.backfill
    if step_no and (job is None or job.id != work.job_id):
        logger.info("room %s backfill %s dropped at step %d: a newer one replaced it", room.email, work.job_id, step_no)
        return "backfill superseded"
    job = job or BackfillJob(id=work.job_id or "", start=work.backfill_from or "", status="queued")
    if job.status != "running":
        room = await deps.rooms.save(replace(room, backfill=replace(job, status="running")))
    now = deps.clock()
    earliest = now - timedelta(days=deps.settings.days_back)
    start = max(datetime.combine(date.fromisoformat(work.backfill_from or now.date().isoformat()), time(),
                                 tzinfo=now.tzinfo), earliest)
    try:
        _within_bounds(work)
        step = await _delta_step(room, deps, list(dict.fromkeys([work.cursor, None])), start,
                                 now + DELTA_FUTURE, backfill=True)
    except Exception as exc:
        current = await deps.rooms.get(room.email) or room
        failed = replace(current.backfill or job, status="failed", error=str(exc)[:500], finished_at=deps.clock())
        await deps.rooms.save(replace(current, backfill=failed))
        raise
    current = await deps.rooms.get(room.email) or room
    job = current.backfill if current.backfill and current.backfill.id == job.id else job
    if job.steps == step_no:  # not counted yet (a repeated step is)
        job = replace(job, seen=job.seen + step.seen, published=job.published + step.published, steps=step_no + 1)
    if step.next_link:
        await deps.rooms.save(replace(current, backfill=replace(job, status="running", error=None)))
        await _continue(replace(work, chain=work.chain or job.id), deps, step.next_link)
        logger.info("room %s backfill %s step %d: %d seen, %d published; continuing", room.email, job.id,
                    step_no, step.seen, step.published)
        return "backfill continues"
    finished = replace(job, status="done", error=None, finished_at=deps.clock())
    await deps.rooms.save(replace(current, backfill=finished))
    logger.info("room %s backfill %s from %s: %d seen, %d published", room.email, job.id, job.start, finished.seen,
                finished.published)
    return "backfilled"


@dataclass
class _Step:
    seen: int = 0
    published: int = 0
    next_link: str | None = None
    delta_link: str | None = None
