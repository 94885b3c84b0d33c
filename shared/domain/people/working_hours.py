"""A person's working hours as Graph's getSchedule reports them, turned into instants.

Graph's ``workingHours`` names days of the week, a start and an end time of day, and a time zone: either a zone
name (``{"name": "Pacific Standard Time"}``, Windows or IANA) or a ``customTimeZone`` (a bias and the rules of
its two yearly transitions, what Exchange sends for a zone set as "Customized Time Zone"). Both become a
``tzinfo``, so 08:00–17:00 in Berlin is 07:00–16:00 UTC in winter and 06:00–15:00 UTC in summer.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from shared.domain.timezones import resolve_time_zone

__all__ = ["DAYS", "CustomZone", "Transition", "WorkingHours", "parse_working_hours", "working_intervals"]

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")  # Python's weekday order


@dataclass(frozen=True)
class Transition:
    """One yearly switch of a custom zone: the ``occurrence``-th (5: the last) ``weekday`` of ``month`` at ``at``,
    local time before the switch."""

    month: int
    weekday: int
    occurrence: int
    at: time

    def on(self, year: int) -> datetime:
        first_weekday, days = calendar.monthrange(year, self.month)
        day = 1 + (self.weekday - first_weekday) % 7 + 7 * (max(1, self.occurrence) - 1)
        while day > days:  # occurrence 5 means the last one of the month
            day -= 7
        return datetime.combine(date(year, self.month, day), self.at)


class CustomZone(tzinfo):
    """Graph's ``customTimeZone``: local time = UTC - bias, and in daylight time UTC - (bias + daylightBias),
    all in minutes. Only local → UTC is needed (``utcoffset`` reads the wall time it is given)."""

    def __init__(self, bias: int, *, standard_bias: int = 0, daylight_bias: int = 0,
                 standard: Transition | None = None, daylight: Transition | None = None,
                 name: str = "Customized Time Zone") -> None:
        self.bias, self.standard_bias, self.daylight_bias = bias, standard_bias, daylight_bias
        self.standard, self.daylight, self.name = standard, daylight, name

    def _in_daylight(self, wall: datetime) -> bool:
        if self.standard is None or self.daylight is None or self.daylight_bias == 0:
            return False
        begins, ends = self.daylight.on(wall.year), self.standard.on(wall.year)
        # The switch back happens at ``ends`` in daylight time: the hour after it is read as standard time.
        if begins < ends:  # northern hemisphere: summer inside the year
            return begins <= wall < ends
        return wall >= begins or wall < ends  # southern hemisphere: summer across the new year

    def utcoffset(self, dt: datetime | None) -> timedelta:
        if dt is None:
            return timedelta(minutes=-(self.bias + self.standard_bias))
        extra = self.daylight_bias if self._in_daylight(dt.replace(tzinfo=None)) else self.standard_bias
        return timedelta(minutes=-(self.bias + extra))

    def dst(self, dt: datetime | None) -> timedelta:
        if dt is None or not self._in_daylight(dt.replace(tzinfo=None)):
            return timedelta(0)
        return timedelta(minutes=-(self.daylight_bias - self.standard_bias))

    def tzname(self, dt: datetime | None) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"CustomZone(bias={self.bias}, daylight={self.daylight}, standard={self.standard})"


@dataclass(frozen=True)
class WorkingHours:
    """``days``: Python weekdays (Monday 0); an ``end`` at or before ``start`` ends on the next day."""

    days: frozenset[int]
    start: time
    end: time
    zone: tzinfo
    zone_name: str

    def as_json(self) -> dict[str, Any]:
        return {"daysOfWeek": [DAYS[d] for d in sorted(self.days)], "startTime": self.start.isoformat("seconds"),
                "endTime": self.end.isoformat("seconds"), "timeZone": self.zone_name}


def _time_of_day(value: Any) -> time:
    text = str(value)
    return time.fromisoformat(text.partition(".")[0])  # Graph sends 7 fractional digits, always zero here


def _transition(raw: Any) -> Transition | None:
    if not isinstance(raw, Mapping) or not raw.get("month"):
        return None
    weekday = DAYS.index(str(raw.get("dayOfWeek", "sunday")).lower())
    return Transition(int(raw["month"]), weekday, int(raw.get("dayOccurrence") or 1),
                      _time_of_day(raw.get("time") or "00:00:00"))


def _zone(raw: Any, fallback: tzinfo, fallback_name: str) -> tuple[tzinfo, str]:
    if not isinstance(raw, Mapping):
        return fallback, fallback_name
    name = str(raw.get("name") or "")
    if "bias" in raw and ("customTimeZone" in str(raw.get("@odata.type", "")) or not name):
        daylight: Mapping[str, Any] = raw.get("daylightOffset") or {}
        standard: Mapping[str, Any] = raw.get("standardOffset") or {}
        zone = CustomZone(int(raw.get("bias") or 0), standard_bias=int(standard.get("standardBias") or 0),
                          daylight_bias=int(daylight.get("daylightBias") or 0), standard=_transition(standard),
                          daylight=_transition(daylight), name=name or "Customized Time Zone")
        return zone, zone.name
    try:
        return resolve_time_zone(name).zone, name
    except ValueError:
        # A zone name we cannot read: the request's zone is the likelier guess than UTC.
        return fallback, name or fallback_name


def parse_working_hours(raw: Any, fallback: tzinfo, fallback_name: str) -> WorkingHours | None:
    """Graph's ``workingHours`` JSON, or None when the schedule has none (an error entry, some resources)."""
    if not isinstance(raw, Mapping) or raw.get("startTime") is None or raw.get("endTime") is None:
        return None
    days = frozenset(DAYS.index(str(d).lower()) for d in raw.get("daysOfWeek") or [] if str(d).lower() in DAYS)
    zone, name = _zone(raw.get("timeZone"), fallback, fallback_name)
    return WorkingHours(days, _time_of_day(raw["startTime"]), _time_of_day(raw["endTime"]), zone, name)


def _instant(wall: datetime, zone: tzinfo) -> datetime:
    return wall.replace(tzinfo=zone).astimezone(UTC)


def working_intervals(hours: WorkingHours, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The working time within [start, end) as sorted, disjoint UTC intervals.

    Each working day's wall times are converted in the working-hours zone, so a day spanning a DST switch is an
    hour shorter or longer; a wall time in the spring gap is read with the offset before it (as zoneinfo does)."""
    found: list[tuple[datetime, datetime]] = []
    day = (start.astimezone(UTC) - timedelta(days=2)).date()  # any zone's local date is within a day of UTC's
    last = (end.astimezone(UTC) + timedelta(days=2)).date()
    while day <= last:
        if day.weekday() in hours.days:
            begins = _instant(datetime.combine(day, hours.start), hours.zone)
            end_day = day if hours.end > hours.start else day + timedelta(days=1)
            ends = _instant(datetime.combine(end_day, hours.end), hours.zone)
            lo, hi = max(begins, start), min(ends, end)
            if lo < hi:
                found.append((lo, hi))
        day += timedelta(days=1)
    merged: list[tuple[datetime, datetime]] = []
    for lo, hi in sorted(found):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged
