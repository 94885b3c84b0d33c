"""Room events → reservation CloudEvents. Pure: Graph JSON in, decisions and CloudEvents out.

Graph sends one ``created`` and several ``updated`` notifications for a single booking in a room,
and redelivers at least once, so the worker keeps one state row per room event and publishes only
what changed: a changeKey already seen is a duplicate; a new changeKey with the same reservation
content (Exchange touching the item, e.g. the auto-accept) records the key and publishes nothing.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from shared.domain.timezones import TimeZone, resolve_time_zone

__all__ = ["CANCELLED", "CREATED", "UPDATED", "Decision", "ReservationState", "cloud_event", "content_hash", "decide",
           "parse_graph_time", "reservation_data", "reservation_subject"]

NAMESPACE = uuid.UUID("3b0f5d6e-2f4c-4e8a-b1c7-9a0d2e6f4c15")
CREATED, UPDATED, CANCELLED = "reservation.created", "reservation.updated", "reservation.cancelled"


@dataclass(frozen=True)
class ReservationState:
    """What the connector last saw and published for one event of a room calendar."""

    room: str
    event_id: str
    ical_uid: str | None = None
    change_key: str | None = None
    content_hash: str | None = None
    published: bool = False  # a reservation.created went out and no .cancelled since
    ignored: str | None = None  # why this event is not published ("own write", "before activation")
    etag: str | None = None


@dataclass(frozen=True)
class Decision:
    type: str | None  # the CloudEvent type to publish, or None
    state: ReservationState | None  # the row to store, or None to store nothing
    reason: str


def parse_graph_time(value: dict[str, Any] | None) -> datetime | None:
    """Graph's dateTimeTimeZone (7 fractional digits, zone by Windows or IANA name) → an aware datetime."""
    if not value or not value.get("dateTime"):
        return None
    # Graph writes seven fractional digits, sometimes a Z: fromisoformat reads both (Python 3.11+);
    # the wall-clock time counts, in the zone Graph names.
    zone = resolve_time_zone(value.get("timeZone") or "UTC")
    return datetime.fromisoformat(str(value["dateTime"])).replace(tzinfo=zone.zone)


def reservation_data(event: dict[str, Any], room: str, zone: TimeZone, *, show_subject: bool = True) -> dict[str, Any]:
    """The published ``data`` of a reservation (design.md section 10)."""
    start, end = parse_graph_time(event.get("start")), parse_graph_time(event.get("end"))
    organizer = ((event.get("organizer") or {}).get("emailAddress")) or {}
    attendees = [a for a in event.get("attendees") or []
                 if ((a.get("emailAddress") or {}).get("address") or "").lower() != room]
    return {
        "room": room,
        "organizer": {"name": organizer.get("name"), "email": (organizer.get("address") or "").lower() or None},
        "subject": event.get("subject") if show_subject else None,
        "start": start.astimezone(zone.zone).isoformat() if start else None,
        "end": end.astimezone(zone.zone).isoformat() if end else None,
        "timeZone": zone.iana,
        "isAllDay": bool(event.get("isAllDay")),
        "recurrence": event.get("recurrence") or None,
        "seriesMasterId": event.get("seriesMasterId"),
        "attendeeCount": len(attendees),
        "graph": {"eventId": event.get("id"), "iCalUId": event.get("iCalUId"), "changeKey": event.get("changeKey")},
    }


def content_hash(data: dict[str, Any]) -> str:
    """Hash of what a booking system cares about: Graph's bookkeeping (ids, changeKey) left out."""
    relevant = {k: v for k, v in data.items() if k != "graph"}
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode("utf-8")).hexdigest()


def decide(event: dict[str, Any] | None, data: dict[str, Any] | None, state: ReservationState | None, *,
           room: str, event_id: str, own: bool, activated_at: datetime | None, backfill: bool = False) -> Decision:
    """What to publish for one room event; ``event`` None means it is gone (deleted or 404)."""
    if event is None or event.get("isCancelled"):
        if state is not None and state.published:
            # A reservation the booking system knows about is gone: tell it once.
            return Decision(CANCELLED, replace(state, published=False, change_key=None), "cancelled")
        return Decision(None, None, "gone, never published")
    assert data is not None
    change_key = event.get("changeKey")
    base = state or ReservationState(room=room, event_id=event_id, ical_uid=event.get("iCalUId"))
    if state is not None and change_key and state.change_key == change_key and not backfill:
        # Graph's repeated notification for a version already handled.
        return Decision(None, None, "duplicate")
    if own:
        # The connector's own booking coming back from the room: publishing it would echo.
        return Decision(None, replace(base, change_key=change_key, ignored="own write"), "own write")
    if state is not None and state.ignored and not backfill:
        return Decision(None, replace(state, change_key=change_key), state.ignored)
    created_at = _instant(event.get("createdDateTime"))
    if state is None and not backfill and activated_at and created_at and created_at < activated_at:
        # The seed vendors' rule: only bookings made after the room was activated (backfill reaches older ones).
        return Decision(None, replace(base, change_key=change_key, ignored="before activation"), "before activation")
    new_hash = content_hash(data)
    stored = replace(base, change_key=change_key, content_hash=new_hash, published=True, ignored=None)
    if not base.published:
        return Decision(CREATED, stored, "created")
    if base.content_hash == new_hash:
        # A new changeKey but nothing the booking system sees changed: no spurious update.
        return Decision(None, stored, "unchanged")
    return Decision(UPDATED, stored, "updated")


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    parsed = datetime.fromisoformat(value)  # seven fractional digits and Z too (Python 3.11+)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=resolve_time_zone("UTC").zone)


def cloud_event(type_: str, subject: str, data: dict[str, Any], *, source: str, version_key: str,
                now: datetime) -> dict[str, Any]:
    """A CloudEvent whose id is derived from what it reports, so a retry or a redelivery repeats the id."""
    event_id = str(uuid.uuid5(NAMESPACE, f"{source}\n{subject}\n{type_}\n{version_key}"))
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": source,
        "type": type_,
        "subject": subject,
        "time": now.isoformat(),
        "datacontenttype": "application/json",
        "data": data,
    }


def reservation_subject(room: str, ical_uid: str | None, event_id: str) -> str:
    return f"room/{room}/event/{ical_uid or event_id}"
