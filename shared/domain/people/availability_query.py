"""The availability request (``POST /api/availability``): checked field by field against what Graph's getSchedule
takes, so a request Graph would refuse is answered 400 naming the field before any Graph call.

Graph's limits (shared/graph/facts.md §0 row 14, §4): at most 100 schedules per request
(``ErrorMailboxDataArrayTooBig``, observed; the documents once said 20), a window of at most 62 days
(``ErrorTimeIntervalTooBig``), ``availabilityViewInterval`` from 5 to 1440 minutes and no longer than the window
(``ErrorInvalidMergedFreeBusyInterval``). The connector asks in chunks of 100, so the request may name more.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.domain.timezones import TimeZone, resolve_time_zone

__all__ = ["EMAIL_PATTERN", "GRAPH_MAX_SCHEDULES", "GRAPH_MAX_WINDOW", "MAX_PEOPLE", "MAX_ROOMS", "AvailabilityQuery",
           "InvalidQuery", "chunked", "parse_query"]

GRAPH_MAX_SCHEDULES = 100
GRAPH_MAX_WINDOW = timedelta(days=62)
MIN_MINUTES, MAX_MINUTES = 5, 1440  # availabilityViewInterval's range; a slot longer than a day is no meeting
MAX_PEOPLE, MAX_ROOMS = 150, 50  # at most two getSchedule requests of 100, asked at once
EMAIL_PATTERN = r"^[^@\s/]+@[^@\s/]+\.[^@\s/]+$"
DATE_TIME_PATTERN = (r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,7})?)?"
                     r"(Z|[+-][0-9]{2}:[0-9]{2})?$")
_DATE_TIME = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?P<fraction>\.[0-9]{1,7})?)?"
                        r"(?:Z|[+-][0-9]{2}:[0-9]{2})?$")
FIELDS = frozenset({"people", "rooms", "start", "end", "timeZone", "durationMinutes", "intervalMinutes", "asUser"})
_EMAIL = re.compile(EMAIL_PATTERN)


class InvalidQuery(ValueError):
    """``field`` names the offending member of the request body."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True)
class AvailabilityQuery:
    people: tuple[str, ...]
    rooms: tuple[str, ...]
    start: datetime  # aware
    end: datetime
    zone: TimeZone
    duration: timedelta
    interval_minutes: int
    as_user: str | None

    @property
    def addresses(self) -> tuple[str, ...]:
        return self.people + self.rooms


def _email(value: Any, field: str) -> str:
    if not isinstance(value, str) or len(value) > 254 or not _EMAIL.fullmatch(value):
        raise InvalidQuery(field, f"{str(value)[:80]!r} is not an email address")
    return value.lower()


def _addresses(body: Mapping[str, Any], field: str, limit: int) -> tuple[str, ...]:
    values = body.get(field, [])
    if not isinstance(values, list):
        raise InvalidQuery(field, "must be a list of email addresses")
    if len(values) > limit:
        raise InvalidQuery(field, f"at most {limit} addresses (this request has {len(values)})")
    seen: dict[str, None] = {}
    for index, value in enumerate(values):
        seen.setdefault(_email(value, f"{field}[{index}]"), None)
    return tuple(seen)


def _minutes(body: Mapping[str, Any], field: str, default: int) -> int:
    value = body.get(field, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidQuery(field, "must be a whole number of minutes")
    if not MIN_MINUTES <= value <= MAX_MINUTES:
        raise InvalidQuery(field, f"must be from {MIN_MINUTES} to {MAX_MINUTES} minutes")
    return value


def _instant(body: Mapping[str, Any], field: str, zone: TimeZone) -> datetime:
    value = body.get(field)
    match = _DATE_TIME.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise InvalidQuery(field, "must be a date and time such as 2026-03-02T09:00:00 (in timeZone) "
                                  "or with an offset (2026-03-02T08:00:00Z)")
    text = str(value)
    if fraction := match.group("fraction"):  # up to 7 digits, as Graph writes them; Python reads 6
        text = text.replace(fraction, "." + fraction[1:7].ljust(6, "0"), 1)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidQuery(field, f"{value!r} is not a valid date and time") from exc
    if not 1601 <= parsed.year <= 9998:  # Exchange's calendar starts in 1601; room for the window's end
        raise InvalidQuery(field, "must be between the years 1601 and 9998")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone.zone)


def parse_query(body: Any) -> AvailabilityQuery:
    """The request body, decoded from JSON → an ``AvailabilityQuery``; raises ``InvalidQuery`` naming the field."""
    if not isinstance(body, Mapping):
        raise InvalidQuery("$", "the body must be a JSON object")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise InvalidQuery(unknown[0], "is not a field of an availability request"
                                       f" (fields: {', '.join(sorted(FIELDS))})")
    zone_name = body.get("timeZone")
    if not isinstance(zone_name, str) or not zone_name.strip() or len(zone_name) > 100:
        raise InvalidQuery("timeZone", "is required: an IANA or Windows time zone name such as Europe/Berlin")
    try:
        zone = resolve_time_zone(zone_name)
    except ValueError as exc:
        raise InvalidQuery("timeZone", str(exc)) from exc
    people = _addresses(body, "people", MAX_PEOPLE)
    rooms = _addresses(body, "rooms", MAX_ROOMS)
    if not people and not rooms:
        raise InvalidQuery("people", "name at least one person or room")
    if both := set(people) & set(rooms):
        raise InvalidQuery("rooms", f"{sorted(both)[0]} is listed both as a person and as a room")
    start, end = _instant(body, "start", zone), _instant(body, "end", zone)
    if end <= start:
        raise InvalidQuery("end", "must be after start")
    if end - start > GRAPH_MAX_WINDOW:
        raise InvalidQuery("end", f"the window may span at most {GRAPH_MAX_WINDOW.days} days (Graph's limit)")
    duration = _minutes(body, "durationMinutes", 30)
    interval = _minutes(body, "intervalMinutes", 15)
    if timedelta(minutes=interval) > end - start:
        raise InvalidQuery("intervalMinutes", "must not be longer than the window from start to end")
    as_user = None
    if "asUser" in body:
        as_user = _email(body["asUser"], "asUser")
    return AvailabilityQuery(people, rooms, start, end, zone, timedelta(minutes=duration), interval, as_user)


def chunked(addresses: Sequence[str], size: int = GRAPH_MAX_SCHEDULES) -> list[tuple[str, ...]]:
    """The addresses in requests Graph takes: at most ``size`` each, in order."""
    return [tuple(addresses[i:i + size]) for i in range(0, len(addresses), size)]
