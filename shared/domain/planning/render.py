"""What a field worker sees: a planning event rendered as the Graph event the connector writes.

Pure. The result is Graph's JSON shape (camelCase dicts), not SDK objects, so it can be hashed,
compared and tested without Graph. Times are written as wall-clock times in the configured zone,
under its Windows name, which every Graph tenant accepts.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from html import escape
from typing import Any

from shared.domain.planning.contract import clock_time, parse_instant
from shared.domain.planning.model import PlanningEvent
from shared.domain.timezones import TimeZone, resolve_time_zone

__all__ = ["Desired", "content_hash", "desired_state", "mailbox_of"]


@dataclass(frozen=True)
class Desired:
    """The calendar entry an entity should have: which mailbox, and its content."""

    mailbox: str
    content: dict[str, Any]

    @property
    def content_hash(self) -> str:
        return content_hash(self.mailbox, self.content)


def content_hash(mailbox: str, content: dict[str, Any]) -> str:
    canonical = json.dumps({"mailbox": mailbox.lower(), "content": content}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def mailbox_of(data: dict[str, Any]) -> str:
    resource = data["resource"]
    email = resource if isinstance(resource, str) else resource["email"]
    return str(email).strip().lower()


def desired_state(event: PlanningEvent, display: TimeZone, *, room_mode: str = "organizer") -> Desired | None:
    """The entry the event asks for, or None when the entity should be in no calendar.

    ``room_mode`` places a reservation in the booker's calendar with the room as a resource attendee
    ("organizer", so Exchange's booking policy of the room applies) or directly in the room's ("room").
    """
    if event.is_removal or event.data is None:
        return None
    family = event.type.split(".", 1)[0]
    data = event.data
    zone = resolve_time_zone(data["timeZone"]) if "timeZone" in data else display
    if family == "reservation":
        from shared.domain.planning.render_booking import reservation_content

        room = str(data["room"]).strip().lower()
        mailbox = room if room_mode == "room" else str(data["booker"]["email"]).strip().lower()
        return Desired(mailbox, reservation_content(data, zone, display, in_room_calendar=room_mode == "room"))
    if family == "task":
        content = _task(data, zone, display)
    elif family == "unavailability":
        content = _unavailability(data, zone, display)
    else:
        content = _working_day(data, zone, display)
    return Desired(mailbox_of(data), content)


def _wall(instant: datetime, display: TimeZone) -> dict[str, str]:
    local = instant.astimezone(display.zone)
    return {"dateTime": local.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": display.windows}


def _whole_days(first: date, after_last: date, display: TimeZone) -> dict[str, Any]:
    return {
        "start": {"dateTime": f"{first.isoformat()}T00:00:00", "timeZone": display.windows},
        "end": {"dateTime": f"{after_last.isoformat()}T00:00:00", "timeZone": display.windows},
        "isAllDay": True,
    }


def _task(data: dict[str, Any], zone: TimeZone, display: TimeZone) -> dict[str, Any]:
    customer = data.get("customer") or {}
    title = data["title"].strip()
    subject = f"{title} – {customer['name'].strip()}" if customer.get("name") else title
    return {
        "subject": subject[:255],
        "body": {"contentType": "html", "content": _task_body(data, customer)},
        "start": _wall(parse_instant(data["start"], zone), display),
        "end": _wall(parse_instant(data["end"], zone), display),
        "isAllDay": False,
        "showAs": "busy",
        "location": _location(customer),
        "categories": [data["taskType"]] if data.get("taskType") else [],
    }


def _task_body(data: dict[str, Any], customer: dict[str, Any]) -> str:
    rows: list[tuple[str, str]] = []
    if data.get("reference"):
        rows.append(("Reference", escape(data["reference"])))
    if data.get("taskType"):
        rows.append(("Type", escape(data["taskType"])))
    if customer.get("name"):
        rows.append(("Customer", escape(customer["name"])))
    if customer.get("phone"):
        number = "".join(ch for ch in customer["phone"] if ch.isdigit() or ch == "+")
        rows.append(("Phone", f'<a href="tel:{escape(number)}">{escape(customer["phone"])}</a>'))
    if customer.get("email"):
        rows.append(("Email", f'<a href="mailto:{escape(customer["email"])}">{escape(customer["email"])}</a>'))
    address = _address_line(customer.get("address") or {})
    if address:
        rows.append(("Address", escape(address)))
    parts = ["<html><body>"]
    if data.get("description"):
        parts.append("<p>" + escape(data["description"]).replace("\n", "<br>") + "</p>")
    if rows:
        parts.append("<table>")
        parts.extend(f"<tr><th align=\"left\">{label}</th><td>{value}</td></tr>" for label, value in rows)
        parts.append("</table>")
    if data.get("url"):
        parts.append(f'<p><a href="{escape(data["url"])}">Open in the planning system</a></p>')
    parts.append("</body></html>")
    return "".join(parts)


def _address_line(address: dict[str, Any]) -> str:
    town = " ".join(p for p in (address.get("postalCode"), address.get("city")) if p)
    parts = (address.get("street"), town, address.get("state"), address.get("countryOrRegion"))
    return ", ".join(p for p in parts if p)


def _location(customer: dict[str, Any]) -> dict[str, Any]:
    address = customer.get("address") or {}
    coordinates = customer.get("coordinates")
    display_name = _address_line(address)
    if not display_name and coordinates:
        display_name = f"{coordinates['latitude']}, {coordinates['longitude']}"
    # Always sent, even empty, so an update clears an address the task no longer has.
    location: dict[str, Any] = {"displayName": display_name}
    if address:
        location["address"] = {
            key: address[key]
            for key in ("street", "city", "state", "postalCode", "countryOrRegion")
            if address.get(key)
        }
    if coordinates:
        location["coordinates"] = {"latitude": coordinates["latitude"], "longitude": coordinates["longitude"]}
    return location


def _unavailability(data: dict[str, Any], zone: TimeZone, display: TimeZone) -> dict[str, Any]:
    start = parse_instant(data["start"], zone)
    end = parse_instant(data["end"], zone)
    content: dict[str, Any] = {
        "subject": (data.get("reason") or "Unavailable").strip()[:255] or "Unavailable",
        "body": {"contentType": "html", "content": ""},
        "showAs": "oof",
        "location": {"displayName": ""},
        "categories": [],
        "isReminderOn": False,
    }
    if data.get("allDay"):
        first = start.astimezone(display.zone).date()
        local_end = end.astimezone(display.zone)
        after_last = local_end.date() if local_end.time() == datetime.min.time() else local_end.date() + timedelta(1)
        content.update(_whole_days(first, max(after_last, first + timedelta(1)), display))
    else:
        content.update({"start": _wall(start, display), "end": _wall(end, display), "isAllDay": False})
    return content


def _working_day(data: dict[str, Any], zone: TimeZone, display: TimeZone) -> dict[str, Any]:
    day = date.fromisoformat(data["date"])
    note = (data.get("note") or "").strip()
    content: dict[str, Any] = {
        "subject": f"Exceptional working day: {note}"[:255] if note else "Exceptional working day",
        "body": {"contentType": "html", "content": ""},
        "showAs": "free",
        "location": {"displayName": ""},
        "categories": [],
        "isReminderOn": False,
    }
    if "start" in data:
        begin, _ = clock_time(data["start"])
        finish, extra_days = clock_time(data["end"])
        start = datetime.combine(day, begin, tzinfo=zone.zone)
        end = datetime.combine(day + timedelta(extra_days), finish, tzinfo=zone.zone)
        content.update({"start": _wall(start, display), "end": _wall(end, display), "isAllDay": False})
    else:
        content.update(_whole_days(day, day + timedelta(1), display))
    return content
