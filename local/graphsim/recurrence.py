"""Recurring events: ``patternedRecurrence`` validated on write, expanded into occurrences for
calendarView and its delta.

Only what rooms need is simulated: patterns daily, weekly and absoluteMonthly; ranges endDate,
noEnd and numbered. Other patterns are refused with 400 rather than silently mis-expanded.
Occurrences are computed on read from the series master, as Exchange does; they carry a stable id
derived from the master id and the occurrence start, ``type`` "occurrence" and ``seriesMasterId``.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import hashlib
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from . import zones
from .errors import GraphError

DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
PATTERNS = {"daily", "weekly", "absoluteMonthly"}
RANGES = {"endDate", "noEnd", "numbered"}
# A guard against pathological series (interval 1, noEnd, window years away).
MAX_STEPS = 50_000


def _bad(message: str) -> GraphError:
    return GraphError(400, "ErrorPropertyValidationFailure", message)


def _date(value: Any, name: str) -> date:
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError as exc:
        raise _bad(f"The recurrence {name} '{value}' is not a valid date.") from exc


def normalize(value: Any, start_local: datetime, start_zone: str) -> dict[str, Any]:
    """Graph's full ``patternedRecurrence`` shape, or 400 for what graphsim cannot expand."""
    if not isinstance(value, dict) or not isinstance(value.get("pattern"), dict) \
            or not isinstance(value.get("range"), dict):
        raise _bad("recurrence needs a pattern and a range.")
    pat, rng = value["pattern"], value["range"]
    kind = pat.get("type")
    if kind not in PATTERNS:
        raise GraphError(400, "BadRequest",
                         f"graphsim does not simulate the recurrence pattern '{kind}'.")
    interval = int(pat.get("interval") or 1)
    if interval < 1:
        raise _bad("The recurrence interval must be at least 1.")
    days = [str(d).lower() for d in pat.get("daysOfWeek") or []]
    if any(d not in DAYS for d in days) or (kind == "weekly" and not days):
        raise _bad("A weekly recurrence needs daysOfWeek.")
    day_of_month = int(pat.get("dayOfMonth") or 0)
    if kind == "absoluteMonthly" and not 1 <= day_of_month <= 31:
        raise _bad("An absoluteMonthly recurrence needs dayOfMonth 1-31.")
    range_kind = rng.get("type")
    if range_kind not in RANGES:
        raise _bad(f"Unknown recurrence range type '{range_kind}'.")
    start = _date(rng["startDate"], "startDate") if rng.get("startDate") else start_local.date()
    end = _date(rng.get("endDate"), "endDate") if range_kind == "endDate" else None
    if range_kind == "endDate" and (end is None or end < start):
        raise _bad("The recurrence endDate must not be before its startDate.")
    count = int(rng.get("numberOfOccurrences") or 0)
    if range_kind == "numbered" and count < 1:
        raise _bad("A numbered recurrence needs numberOfOccurrences of at least 1.")
    return {
        "pattern": {"type": kind, "interval": interval, "month": 0,
                    "dayOfMonth": day_of_month, "daysOfWeek": days,
                    "firstDayOfWeek": str(pat.get("firstDayOfWeek") or "sunday").lower(),
                    "index": "first"},
        "range": {"type": range_kind, "startDate": start.isoformat(),
                  "endDate": end.isoformat() if end else "0001-01-01",
                  "recurrenceTimeZone": rng.get("recurrenceTimeZone") or start_zone,
                  "numberOfOccurrences": count},
    }


def _dates(rec: dict[str, Any]) -> Iterator[date]:
    """Occurrence dates in order, honouring the range's end and count."""
    pat, rng = rec["pattern"], rec["range"]
    start = date.fromisoformat(rng["startDate"])
    end = date.fromisoformat(rng["endDate"]) if rng["type"] == "endDate" else None
    left = rng["numberOfOccurrences"] if rng["type"] == "numbered" else None
    for n, day in enumerate(_raw_dates(pat, start)):
        if n > MAX_STEPS or (end is not None and day > end) or left == 0:
            return
        if left is not None:
            left -= 1
        yield day


def _raw_dates(pat: dict[str, Any], start: date) -> Iterator[date]:
    interval = pat["interval"]
    if pat["type"] == "daily":
        day = start
        while True:
            yield day
            day += timedelta(days=interval)
    elif pat["type"] == "weekly":
        first = DAYS.index(pat["firstDayOfWeek"]) if pat["firstDayOfWeek"] in DAYS else 6
        week = start - timedelta(days=(start.weekday() - first) % 7)
        wanted = {DAYS.index(d) for d in pat["daysOfWeek"]}
        while True:
            for offset in range(7):
                day = week + timedelta(days=offset)
                if day >= start and day.weekday() in wanted:
                    yield day
            week += timedelta(weeks=interval)
    else:  # absoluteMonthly; months without that day are skipped
        year, month = start.year, start.month
        while True:
            try:
                day = date(year, month, pat["dayOfMonth"])
            except ValueError:
                day = None
            if day is not None and day >= start:
                yield day
            month += interval
            year, month = year + (month - 1) // 12, (month - 1) % 12 + 1


def occurrence_id(master_id: str, start: datetime) -> str:
    digest = hashlib.sha256(f"{master_id}|{start.isoformat()}".encode()).digest()
    return "AAMkA" + base64.urlsafe_b64encode(digest * 3).decode()


def _starts(master: Any) -> Iterator[datetime]:
    """Start instants of the series, in order (wall-clock time kept across DST changes)."""
    rec = master.props.get("recurrence")
    if not rec:
        return
    tz = zones.resolve_zone(rec["range"].get("recurrenceTimeZone") or master.start_zone)
    wall = master.start.astimezone(tz).timetz().replace(tzinfo=None)
    for day in _dates(rec):
        yield datetime.combine(day, wall).replace(tzinfo=tz).astimezone(UTC)


def _occurrence(master: Any, start: datetime) -> Any:
    props = copy.deepcopy(master.props)
    props.update(type="occurrence", seriesMasterId=master.id, recurrence=None)
    return dataclasses.replace(master, id=occurrence_id(master.id, start), start=start,
                               end=start + (master.end - master.start), props=props)


def occurrences(master: Any, window_start: datetime, window_end: datetime) -> list[Any]:
    """The master's occurrences overlapping the window, as StoredEvent copies."""
    duration = master.end - master.start
    out = []
    for start in _starts(master):
        if start >= window_end:
            break
        end = start + duration
        if end > window_start or start == end == window_start:
            out.append(_occurrence(master, start))
    return out


def find_occurrence(items: list[Any], event_id: str) -> Any | None:
    """The occurrence with that id among the masters in ``items`` (GET of an occurrence id)."""
    for master in items:
        if master.props.get("type") == "seriesMaster":
            for start in _starts(master):
                if occurrence_id(master.id, start) == event_id:
                    return _occurrence(master, start)
    return None


def expand(items: list[Any], window_start: datetime, window_end: datetime) -> list[Any]:
    """calendarView semantics: single instances overlapping the window, masters as occurrences."""
    out = []
    for ev in items:
        if ev.props.get("type") == "seriesMaster":
            out.extend(occurrences(ev, window_start, window_end))
        elif ev.start < window_end and (ev.end > window_start or ev.start == ev.end == window_start):
            out.append(ev)
    return out
