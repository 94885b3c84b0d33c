"""Recognising the connector's own bookings when a room's calendar reports them. Pure.

The room's auto-accepted copy of a meeting the connector created carries none of its extended
properties, only the organizer's iCalUId, which the connector learns when the create answers. The
copy's notification can outrun that, so the connector also records the booking's slot (room,
organizer, start, end in UTC) *before* it creates the meeting; either record marks the copy as ours.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared.domain.tagging import SOURCE_KEY_PROPERTY
from shared.domain.timezones import resolve_time_zone

__all__ = ["SOURCE_KEY_PROPERTY", "is_tagged", "slot_key", "slot_of_content"]

# Single-value extended property that marks every event the connector writes with its source key.


def is_tagged(event: dict[str, Any]) -> bool:
    """True when the Graph event carries the connector's source-key extended property (its own write)."""
    wanted = SOURCE_KEY_PROPERTY.lower()
    return any(str(p.get("id", "")).lower() == wanted and p.get("value")
               for p in event.get("singleValueExtendedProperties") or [])


def slot_key(room: str, organizer: str, start: datetime, end: datetime) -> str:
    def utc(value: datetime) -> str:
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")

    return f"slot|{room.lower()}|{organizer.lower()}|{utc(start)}|{utc(end)}"


def _instant(value: dict[str, Any]) -> datetime:
    zone = resolve_time_zone(value.get("timeZone") or "UTC")
    return datetime.fromisoformat(str(value["dateTime"])).replace(tzinfo=zone.zone)


def slot_of_content(mailbox: str, content: dict[str, Any]) -> str | None:
    """The slot key of a meeting the connector is about to write to ``mailbox`` (None: no room in it)."""
    room = (content.get("location") or {}).get("locationEmailAddress")
    if not room or str(room).lower() == mailbox.lower() or "start" not in content or "end" not in content:
        return None
    return slot_key(str(room), mailbox, _instant(content["start"]), _instant(content["end"]))
