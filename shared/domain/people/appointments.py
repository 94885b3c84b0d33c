"""An appointment (design.md section 11) as the Graph meeting the connector writes in the organizer's calendar,
and the PATCH that brings one rendering to another.

Pure. Like ``shared.domain.planning.render`` the result is Graph's JSON shape (camelCase dicts), so it can be
hashed, compared and tested without Graph. Times are wall-clock times in the configured zone under its Windows
name. The extended property and ``transactionId`` are added by the writer, as for planning events.
"""

from __future__ import annotations

from typing import Any

from shared.domain.planning.contract import parse_instant
from shared.domain.planning.model import PlanningEvent
from shared.domain.planning.render import Desired
from shared.domain.timezones import TimeZone, resolve_time_zone

__all__ = ["APPOINTMENT_FAMILY", "appointment_desired", "attendee_set", "changed_fields", "is_appointment_subject",
           "render_appointment", "turns_online_on"]

APPOINTMENT_FAMILY = "appointment"
TEAMS = "teamsForBusiness"


def is_appointment_subject(subject: object) -> bool:
    return isinstance(subject, str) and subject.startswith(APPOINTMENT_FAMILY + "/")


def organizer_of(data: dict[str, Any]) -> str:
    return str(data["organizer"]["email"]).strip().lower()


def appointment_desired(event: PlanningEvent, display: TimeZone) -> Desired | None:
    """The meeting an appointment event asks for in its organizer's calendar; None once it is cancelled."""
    if event.is_removal or event.data is None:
        return None
    return Desired(organizer_of(event.data), render_appointment(event.data, display))


def render_appointment(data: dict[str, Any], display: TimeZone) -> dict[str, Any]:
    """The Graph event of an appointment: attendees with their type, rooms as resource attendees, the HTML body,
    the location text, the reminder and, for an online appointment, a Teams meeting."""
    zone = resolve_time_zone(data["timeZone"]) if data.get("timeZone") else display
    organizer = organizer_of(data)
    attendees: list[dict[str, Any]] = []
    seen: set[str] = set()
    for person in data.get("attendees") or []:
        email = str(person["email"]).strip().lower()
        if email in seen or email == organizer:
            continue  # the organizer is no attendee of their own meeting; a person is invited once
        seen.add(email)
        address = {"address": email, **({"name": person["name"]} if person.get("name") else {})}
        attendees.append({"emailAddress": address, "type": person.get("type") or "required"})
    for room in data.get("rooms") or []:
        email = str(room).strip().lower()
        if email not in seen:
            seen.add(email)
            attendees.append({"emailAddress": {"address": email}, "type": "resource"})
    reminder = data.get("reminderMinutes")
    content: dict[str, Any] = {
        "subject": str(data.get("subject") or "").strip()[:255],
        "body": {"contentType": "html", "content": data.get("body") or ""},
        "start": _wall(data["start"], zone, display),
        "end": _wall(data["end"], zone, display),
        "isAllDay": False,
        "showAs": "busy",
        # Always sent, even empty, so an update clears a location the appointment no longer has.
        "location": {"displayName": str(data.get("location") or "").strip()},
        "attendees": attendees,
        "isReminderOn": reminder is not None,
        "reminderMinutesBeforeStart": int(reminder) if reminder is not None else 0,
        "isOnlineMeeting": bool(data.get("online")),
    }
    if content["isOnlineMeeting"]:
        content["onlineMeetingProvider"] = TEAMS
    return content


def _wall(value: str, zone: TimeZone, display: TimeZone) -> dict[str, str]:
    local = parse_instant(value, zone).astimezone(display.zone)
    return {"dateTime": local.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": display.windows}


def attendee_set(attendees: list[dict[str, Any]] | None) -> frozenset[tuple[str, str]]:
    """Attendees as Graph compares them for an invitation: (address, type); names and order do not count."""
    return frozenset((str(a["emailAddress"]["address"]).lower(), str(a.get("type") or "required").lower())
                     for a in attendees or [])


def changed_fields(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """The fields of ``new`` that differ from ``old`` (the whole of ``new`` without ``old``): a PATCH body.
    An empty answer means Graph has nothing to do. Attendees count as a set of (address, type); once
    online, the Teams provider is sent together with ``isOnlineMeeting``."""
    if old is None:
        return dict(new)
    patch: dict[str, Any] = {}
    for key, value in new.items():
        if key == "attendees":
            if attendee_set(old.get(key)) != attendee_set(value):
                patch[key] = value
        elif old.get(key) != value:
            patch[key] = value
    if "isOnlineMeeting" in patch and new.get("onlineMeetingProvider"):
        patch["onlineMeetingProvider"] = new["onlineMeetingProvider"]
    return patch


def turns_online_on(old: dict[str, Any] | None, new: dict[str, Any]) -> bool:
    return bool(new.get("isOnlineMeeting")) and not (old or {}).get("isOnlineMeeting")
