"""The graph-notifications worker's part for watched organizers: one queued work item → at most one Graph read →
``appointment.response`` / ``appointment.changed-in-outlook`` on the outbound channel (design.md section 11).

Sessions (session = the organizer's mailbox) serialise an organizer's work, so its state rows need no locks.
Every step is safe to repeat: the state row remembers the answers and times already told, and a CloudEvent's id
derives from what it reports, so a step repeated after a crash repeats the same ids.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shared.app.ports.clock import Clock
from shared.app.ports.organizers import AppointmentWatchStore, Organizer, OrganizerStore
from shared.app.ports.rooms import RoomGraph
from shared.app.rooms.publisher import PublisherDeps, publish
from shared.app.rooms.subscriptions import SubscriptionDeps, from_old_subscription, on_lifecycle
from shared.config import Settings
from shared.domain.people import watching
from shared.domain.people.watching import AppointmentWatch
from shared.domain.rooms.notifications import RoomWork
from shared.domain.rooms.outbound_events import cloud_event
from shared.errors import InvalidMessage

__all__ = ["WatchDeps", "expect_connector_write", "handle_organizer_work", "process_appointment_event"]

logger = logging.getLogger(__name__)

# A resync re-reads the meetings it knows that have not ended this long ago; older answers change nothing.
RESYNC_PAST = timedelta(days=1)


@dataclass(frozen=True)
class WatchDeps:
    settings: Settings
    organizers: OrganizerStore
    watches: AppointmentWatchStore
    graph: RoomGraph  # reads an event of any mailbox, the connector's extended property expanded
    subscribing: SubscriptionDeps
    publisher: PublisherDeps
    clock: Clock
    dropped: Counter[str]  # notifications dropped by this instance since it started, by reason


async def handle_organizer_work(work: RoomWork, deps: WatchDeps) -> str:
    organizer = await deps.organizers.get(work.room)
    if organizer is None:
        logger.info("work for organizer %s dropped: not watched", work.room)
        return "unknown organizer"
    if from_old_subscription(work, organizer, deps.dropped):
        return "stale subscription"
    if work.kind == "change":
        if not work.event_id:
            raise InvalidMessage("a change without an event id")
        if work.change_type == "deleted":
            # The connector cancels through the appointments; a deletion tells the scheduling system nothing here.
            return "deleted"
        return await process_appointment_event(organizer, work.event_id, deps)
    if work.kind == "lifecycle":
        logger.info("organizer %s lifecycle notification %s", organizer.email, work.lifecycle_event)
        outcome = await on_lifecycle(organizer, work.lifecycle_event, deps.subscribing)
        return outcome if outcome is not None else await resync(organizer, deps)
    if work.kind == "resync":
        return await resync(organizer, deps)
    raise InvalidMessage(f"unknown organizer work kind {work.kind!r}")


async def process_appointment_event(organizer: Organizer, event_id: str, deps: WatchDeps) -> str:
    """Read the event once; publish what the scheduling system has not heard of a meeting the connector wrote."""
    event = await deps.graph.get_event(organizer.email, event_id)
    if event is None:
        return "gone"
    state = await deps.watches.get(organizer.email, event_id)
    decision = watching.decide(event, state, organizer=organizer.email, zone=deps.settings.time_zone)
    if decision.publications:
        tenant = deps.subscribing.tenant or deps.settings.tenant_id or "local"
        source = f"urn:m365-calendar-connector:{tenant}:appointments"
        now = deps.clock()
        assert decision.state is not None
        subject = f"appointment/{decision.state.appointment_id}"
        await publish([cloud_event(p.type, subject, p.data, source=source, version_key=p.version_key, now=now)
                       for p in decision.publications], deps.publisher)
    if decision.state is not None:
        await deps.watches.save(decision.state)
    logger.info("organizer %s event %s: %s", organizer.email, event_id, decision.reason)
    return decision.reason


async def resync(organizer: Organizer, deps: WatchDeps) -> str:
    """After a gap (``missed``, a recreated subscription): read again every known meeting not long over."""
    since = deps.clock() - RESYNC_PAST
    known = [s for s in await deps.watches.list(organizer.email)
             if s.end is None or datetime.fromisoformat(s.end) >= since]
    for state in known:
        await process_appointment_event(organizer, state.event_id, deps)
    logger.info("organizer %s resynced: %d meeting(s) read again", organizer.email, len(known))
    return "resynced"


async def expect_connector_write(organizer: str, event_id: str, appointment_id: str, start: datetime,
                                 end: datetime, watches: AppointmentWatchStore) -> None:
    """Before the connector moves a meeting in a watched organizer's calendar: its notification is no Outlook move.

    For the appointments' writer (an update); a create needs nothing, the first sight of a meeting is its baseline.
    """
    organizer = organizer.lower()
    state = await watches.get(organizer, event_id) or AppointmentWatch(
        organizer=organizer, event_id=event_id, appointment_id=appointment_id)
    await watches.save(watching.expect_write(state, start.astimezone(UTC).isoformat(),
                                             end.astimezone(UTC).isoformat()))
