"""Free slots from Graph's getSchedule answers.

A free slot is a time when every person is free and within their working hours, and every room is free:

* Free means Graph's status ``free`` or ``workingElsewhere`` (which Graph itself shows as 0, free, in the
  availabilityView). ``tentative`` counts as busy: an interview offered over a meeting someone has half accepted is
  the clash the caller asked us to avoid. ``busy``, ``oof`` and ``unknown`` are busy.
* The busy times come from the schedule items (exact times); a schedule with no items but a non-free
  availabilityView (Graph sends only the view when the caller may see no more) is busy for each non-free
  interval of the view.
* Working hours restrict people only: a room's calendar says when it is booked, and its mailbox's working hours
  are an Exchange default nobody maintains. A person without working hours (Graph sent none) is not restricted.
* A schedule Graph could not read (its ``error``) is left out of the computation and its entry carries the error,
  as Outlook's scheduling assistant shows an unknown attendee as "no information" and still suggests times.

Slots are the maximal free stretches inside [start, end), shrunk to the interval grid of the request's zone
(wall-clock times whose minutes since local midnight are a multiple of the interval; wall times that a DST switch
skips are no grid points), and kept when at least the duration long. Sorted, disjoint and never touching.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Any

from shared.domain.people.working_hours import WorkingHours, parse_working_hours, working_intervals
from shared.domain.timezones import resolve_time_zone

__all__ = ["FREE_STATUSES", "Interval", "Schedule", "ScheduleItem", "free_slots", "grid_points", "parse_schedule",
           "render_instant", "render_schedule"]

Interval = tuple[datetime, datetime]
FREE_STATUSES = frozenset({"free", "workingelsewhere"})
_VIEW_FREE = "0"


@dataclass(frozen=True)
class ScheduleItem:
    start: datetime  # UTC
    end: datetime
    status: str


@dataclass(frozen=True)
class Schedule:
    email: str
    availability_view: str
    items: tuple[ScheduleItem, ...]
    working_hours: WorkingHours | None
    error: dict[str, str] | None = None

    def busy(self, start: datetime, interval: timedelta) -> list[Interval]:
        """The busy stretches, from the items, or from the view when Graph sent no items."""
        if self.items:
            return [(i.start, i.end) for i in self.items if i.status.lower() not in FREE_STATUSES and i.start < i.end]
        return [(start + n * interval, start + (n + 1) * interval)
                for n, digit in enumerate(self.availability_view) if digit != _VIEW_FREE]


def _graph_instant(raw: Any, fallback: tzinfo) -> datetime | None:
    """Graph's ``dateTimeTimeZone`` → a UTC instant (7 fractional digits tolerated)."""
    if not isinstance(raw, Mapping) or not raw.get("dateTime"):
        return None
    text = str(raw["dateTime"]).removesuffix("Z")
    head, _, fraction = text.partition(".")
    wall = datetime.fromisoformat(head + (f".{fraction[:6]}" if fraction else ""))
    zone: tzinfo = fallback
    if name := raw.get("timeZone"):
        try:
            zone = resolve_time_zone(str(name)).zone
        except ValueError:
            zone = fallback
    return (wall if wall.tzinfo else wall.replace(tzinfo=zone)).astimezone(UTC)


def parse_schedule(raw: Mapping[str, Any], zone: tzinfo, zone_name: str) -> Schedule:
    """One ``scheduleInformation`` of Graph's answer (JSON); ``zone`` reads times that name no zone Graph uses."""
    error = raw.get("error")
    if isinstance(error, Mapping):
        return Schedule(str(raw.get("scheduleId", "")).lower(), str(raw.get("availabilityView") or ""), (), None,
                        {"code": str(error.get("responseCode") or "error"), "message": str(error.get("message") or "")})
    items = []
    for item in raw.get("scheduleItems") or []:
        start, end = _graph_instant(item.get("start"), zone), _graph_instant(item.get("end"), zone)
        if start is not None and end is not None:
            items.append(ScheduleItem(start, end, str(item.get("status") or "unknown")))
    return Schedule(str(raw.get("scheduleId", "")).lower(), str(raw.get("availabilityView") or ""),
                    tuple(sorted(items, key=lambda i: (i.start, i.end))),
                    parse_working_hours(raw.get("workingHours"), zone, zone_name))


def _merge(intervals: Iterable[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for lo, hi in sorted(intervals):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def _intersect(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo < hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def _subtract(free: Sequence[Interval], busy: Sequence[Interval]) -> list[Interval]:
    out: list[Interval] = []
    j = 0
    for lo, hi in free:
        while j < len(busy) and busy[j][1] <= lo:
            j += 1
        k, cursor = j, lo
        while k < len(busy) and busy[k][0] < hi:
            if busy[k][0] > cursor:
                out.append((cursor, busy[k][0]))
            cursor = max(cursor, busy[k][1])
            k += 1
        if cursor < hi:
            out.append((cursor, hi))
    return out


def grid_points(start: datetime, end: datetime, interval_minutes: int, zone: tzinfo) -> list[datetime]:
    """Every UTC instant in [start, end] whose wall time in ``zone`` is a multiple of the interval after local
    midnight; a wall time the zone skips is none, one it repeats is two."""
    points: set[datetime] = set()
    day = (start.astimezone(UTC) - timedelta(days=2)).date()
    last = (end.astimezone(UTC) + timedelta(days=2)).date()
    step = timedelta(minutes=interval_minutes)
    while day <= last:
        wall = datetime.combine(day, time())
        next_day = wall + timedelta(days=1)
        while wall < next_day:
            for fold in (0, 1):
                local = wall.replace(tzinfo=zone, fold=fold)
                instant = local.astimezone(UTC)
                if instant.astimezone(zone).replace(tzinfo=None) == wall and start <= instant <= end:
                    points.add(instant)
            wall += step
        day += timedelta(days=1)
    return sorted(points)


def free_slots(start: datetime, end: datetime, people: Sequence[Schedule], rooms: Sequence[Schedule], *,
               duration: timedelta, interval_minutes: int, zone: tzinfo) -> list[Interval]:
    """The free slots (UTC) of the module docstring; schedules with an error take no part."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    interval = timedelta(minutes=interval_minutes)
    free: list[Interval] = [(start, end)]
    for person in people:
        if person.error is None and person.working_hours is not None:
            free = _intersect(free, working_intervals(person.working_hours, start, end))
    busy = _merge(b for s in (*people, *rooms) if s.error is None for b in s.busy(start, interval))
    free = _subtract(free, busy)
    if not free:
        return []
    grid = grid_points(start, end, interval_minutes, zone)
    slots: list[Interval] = []
    for lo, hi in free:
        first, last = bisect_left(grid, lo), bisect_right(grid, hi) - 1
        if first <= last and grid[last] - grid[first] >= duration:
            slots.append((grid[first], grid[last]))
    return slots


def render_instant(instant: datetime, zone: tzinfo) -> str:
    """ISO 8601 in ``zone`` with its offset; in UTC when the offset has seconds (a zone's local mean time before
    standard time, such as Liberia's -00:44:30 until 1972), which RFC 3339 cannot write."""
    local = instant.astimezone(zone)
    offset = local.utcoffset()
    if offset is not None and offset.seconds % 60:
        local = instant.astimezone(UTC)
    return local.isoformat(timespec="seconds")


def render_schedule(schedule: Schedule, zone: tzinfo) -> dict[str, Any]:
    """One entry of the answer's ``schedules``: times in the request's zone, with their offset."""
    return {
        "email": schedule.email,
        "availabilityView": schedule.availability_view,
        "items": [{"start": render_instant(i.start, zone), "end": render_instant(i.end, zone), "status": i.status}
                  for i in schedule.items],
        "workingHours": schedule.working_hours.as_json() if schedule.working_hours else None,
        "error": schedule.error,
    }
