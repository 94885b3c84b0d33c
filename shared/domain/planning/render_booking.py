"""A booking-system reservation rendered as the Graph event the connector writes. Pure.

The meeting goes to the booker's calendar with the room as a ``resource`` attendee and
``location.locationEmailAddress`` (so Exchange's booking policy for the room applies), or straight
into the room's calendar. A recurring reservation is ONE series (Graph's ``recurrence``), never
instances written night by night.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.domain.planning.contract import parse_instant
from shared.domain.timezones import TimeZone

__all__ = ["reservation_content"]


def _wall(instant: datetime, display: TimeZone) -> dict[str, str]:
    local = instant.astimezone(display.zone)
    return {"dateTime": local.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": display.windows}


def reservation_content(data: dict[str, Any], zone: TimeZone, display: TimeZone, *,
                        in_room_calendar: bool) -> dict[str, Any]:
    room = str(data["room"]).strip().lower()
    booker = data["booker"]
    subject = (data.get("subject") or "").strip() or "Reservation"
    start = parse_instant(data["start"], zone)
    content: dict[str, Any] = {
        "subject": subject[:255],
        "body": {"contentType": "html", "content": ""},
        "start": _wall(start, display),
        "end": _wall(parse_instant(data["end"], zone), display),
        "isAllDay": False,
        "showAs": "busy",
        "location": {"displayName": room, "locationEmailAddress": room, "locationType": "conferenceRoom"},
        "categories": [],
    }
    if in_room_calendar:
        booker_email = str(booker["email"]).strip().lower()
        content["attendees"] = [{"type": "required",
                                 "emailAddress": {"address": booker_email, "name": booker.get("name") or booker_email}}]
    else:
        content["attendees"] = [{"type": "resource", "emailAddress": {"address": room, "name": room}}]
    recurrence = data.get("recurrence")
    if recurrence:
        content["recurrence"] = {"pattern": dict(recurrence["pattern"]), "range": dict(recurrence["range"])}
    return content
