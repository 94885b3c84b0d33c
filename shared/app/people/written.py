"""``appointment.written``: the scheduling system learns the meeting's ids and its Teams join link.

Published on the outbound channel of the rooms (``shared.app.rooms.publisher``: the pull API and the signed
webhook) once the meeting exists, and again when an update turns a meeting online. Graph may fill
``onlineMeeting.joinUrl`` only after the create: without it in the create's answer, a follow-up message on the
appointment's session reads the meeting back a bounded number of times (``READBACK_WAITS``, scheduled on the
queue, never a sleeping function) and the event is published when the link is there, or, after the last read,
without it. The CloudEvent id derives from the meeting and its link, so a repeat publishes the same id.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from shared.app.messaging import PLANNING_QUEUE, TENANT_PROPERTY, Delivery, OutboundMessage, source_tag
from shared.app.ports.clock import Clock
from shared.app.ports.people import Acting, Meeting, MeetingCalendar
from shared.app.ports.planning import MappingStore
from shared.app.rooms.publisher import PublisherDeps, publish
from shared.config import Settings
from shared.domain.planning.model import EntityKey
from shared.domain.rooms.outbound_events import cloud_event
from shared.domain.tenants.keys import tenant_queue_id
from shared.errors import InvalidMessage, NotFound

__all__ = ["READBACK_PROPERTY", "READBACK_WAITS", "WRITTEN", "WrittenDeps", "announce", "read_back",
           "written_data"]

logger = logging.getLogger(__name__)

WRITTEN = "appointment.written"
READBACK_PROPERTY = "connector-appointment-readback"  # marks a join-link read-back on the planning queue
READBACK_WAITS = (2, 5, 10, 20, 30)  # seconds before each read; about a minute in all


@dataclass(frozen=True)
class WrittenDeps:
    settings: Settings
    meetings: MeetingCalendar
    mappings: MappingStore
    publisher: PublisherDeps
    acting: Callable[[str], Awaitable[Acting]]
    clock: Clock


def written_data(meeting: Meeting) -> dict[str, Any]:
    return {"graph": {"eventId": meeting.id, "iCalUId": meeting.ical_uid, "webLink": meeting.web_link},
            "joinUrl": meeting.join_url}


async def announce(key: EntityKey, organizer: str, meeting: Meeting, online: bool, deps: WrittenDeps) -> None:
    """Publish ``appointment.written`` now, or, for an online meeting still without its join link, read it back."""
    if online and not meeting.join_url:
        await _schedule(key, organizer, meeting.id, 1, deps)
        return
    await _publish(key, meeting, deps)


async def read_back(body: bytes, delivery: Delivery, deps: WrittenDeps, tenant: str | None = None) -> str:
    """One scheduled read of a new online meeting, waiting for Graph's join link (``tenant``: the appointment's,
    None for the default tenant)."""
    try:
        job = json.loads(body)
        key = EntityKey(str(job["source"]), str(job["subject"]), tenant)
        organizer, event_id, attempt = str(job["organizer"]), str(job["eventId"]), int(job["attempt"])
    except (ValueError, KeyError, TypeError):
        raise InvalidMessage("invalid join-link read-back: it names source, subject, organizer, eventId, attempt") \
            from None
    mapping = await deps.mappings.get(key)
    if mapping is None or mapping.event_id != event_id:
        return "read-back obsolete"  # cancelled or moved since: the newer meeting is announced on its own
    try:
        meeting = await deps.meetings.read(organizer, event_id, acting=await deps.acting(organizer))
    except NotFound:
        return "read-back obsolete"
    if meeting.join_url:
        await _publish(key, meeting, deps)
        return "join link published"
    if attempt < len(READBACK_WAITS):
        await _schedule(key, organizer, event_id, attempt + 1, deps)
        return "join link awaited"
    logger.warning("meeting %s of %s has no Teams join link after %d reads; announced without it",
                   event_id, key.subject, attempt)
    await _publish(key, meeting, deps)
    return "published without join link"


async def _schedule(key: EntityKey, organizer: str, event_id: str, attempt: int, deps: WrittenDeps) -> None:
    job = {"source": key.source, "subject": key.subject, "organizer": organizer, "eventId": event_id,
           "attempt": attempt}
    tag = source_tag(key.source)
    await deps.publisher.queue.send(PLANNING_QUEUE, [OutboundMessage(
        body=json.dumps(job).encode("utf-8"), content_type="application/json",
        message_id=tenant_queue_id(key.tenant, "readback", event_id, str(attempt)),
        # The appointment's session: a later update or cancellation is handled after the read, in order.
        session_id=tenant_queue_id(key.tenant, key.subject, tag),
        application_properties={READBACK_PROPERTY: attempt, "subject": key.subject, "source": key.source,
                                **({TENANT_PROPERTY: key.tenant} if key.tenant else {})},
        scheduled_enqueue_time=deps.clock() + timedelta(seconds=READBACK_WAITS[attempt - 1]),
    )])


async def _publish(key: EntityKey, meeting: Meeting, deps: WrittenDeps) -> None:
    source = f"urn:m365-calendar-connector:{key.tenant or deps.settings.tenant_id or 'local'}:people"
    event = cloud_event(WRITTEN, key.subject, written_data(meeting), source=source,
                        version_key=f"{key.value}\n{meeting.id}\n{meeting.join_url or ''}", now=deps.clock())
    await publish([event], deps.publisher)
