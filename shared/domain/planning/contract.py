"""The inbound planning-event contract: JSON Schema plus the rules a schema cannot say.

Pure: ``check_event`` turns one decoded JSON value into a ``PlanningEvent`` or a list of
``ContractViolation`` (index, JSON path, message), so a batch can report every error at once.

Two validators of the one schema, both built on first use: a compiled one (fastjsonschema, about 15× faster) says
whether an event is valid, and jsonschema's ``iter_errors``, the authority, names every violation of an event the
first one refused. A valid event, the common case, never reaches the slow one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import cache
from importlib import resources
from typing import Any

from shared.domain.planning.model import PlanningEvent
from shared.domain.timezones import TimeZone, resolve_time_zone

__all__ = ["ContractViolation", "check_event", "parse_instant", "schema", "schema_violations"]


@dataclass(frozen=True)
class ContractViolation:
    index: int
    path: str
    message: str

    def as_dict(self) -> dict[str, object]:
        return {"index": self.index, "path": self.path, "message": self.message}


@cache
def schema() -> dict[str, Any]:
    text = resources.files("shared.schemas").joinpath("planning-event.schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@cache
def _validator() -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema())


@cache
def _compiled(event_type: str | None = None) -> Callable[[Any], Any]:
    """The compiled check of the whole schema, or (``event_type``) of the schema as it stands for an event of that
    type: its ``allOf`` of ``if type is …, then …`` branches reduced to the ``then`` of the branch that type
    meets. The same verdict for an event of that type; without it every branch whose ``if`` fails costs the
    compiled code a raised and caught exception (five per event)."""
    import fastjsonschema

    # The schema uses no keyword whose meaning changed after draft 7 (a unit test keeps it so), and fastjsonschema
    # knows drafts 4, 6 and 7. Formats stay annotations, as in 2020-12 and in jsonschema without a format checker;
    # use_default=False: the compiled function must not fill defaults into the caller's event.
    draft7 = schema() | {"$schema": "http://json-schema.org/draft-07/schema#"}
    if event_type is not None:
        draft7["allOf"] = [branch["then"] for branch in draft7["allOf"] if _type_meets(branch["if"], event_type)]
    check: Callable[[Any], Any] = fastjsonschema.compile(draft7, use_formats=False, use_default=False)
    return check


def _type_meets(condition: dict[str, Any], event_type: str) -> bool:
    """Whether an event of ``event_type`` meets an ``if`` that asks about its ``type`` only (const or enum)."""
    asked = condition["properties"]["type"]
    return event_type == asked["const"] if "const" in asked else event_type in asked["enum"]


def _check_for(raw: Any) -> Callable[[Any], Any]:
    """The compiled check for ``raw``: by its type when the schema knows the type, else the whole schema's."""
    event_type = raw.get("type") if isinstance(raw, dict) else None
    if isinstance(event_type, str) and event_type in schema()["properties"]["type"]["enum"]:
        return _compiled(event_type)
    return _compiled()


def schema_violations(raw: Any, index: int) -> list[ContractViolation]:
    """The event's JSON Schema violations, sorted by path: none at the cost of the compiled check for a valid event."""
    from fastjsonschema import JsonSchemaValueException

    try:
        _check_for(raw)(raw)
        return []
    except JsonSchemaValueException:
        pass
    # jsonschema decides (and names the fields): should the two ever disagree, its verdict is the contract's.
    return [ContractViolation(index, error.json_path, error.message)
            for error in sorted(_validator().iter_errors(raw), key=lambda e: e.json_path)]


def parse_instant(value: str, zone: TimeZone) -> datetime:
    """RFC 3339 with offset, or a local date-time without offset read in ``zone``."""
    if "T" not in value and " " not in value:
        raise ValueError("must be a date-time such as 2026-05-04T08:00:00+02:00")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        # fold=0: an ambiguous wall-clock time (DST fall-back) is read as its first occurrence.
        parsed = parsed.replace(tzinfo=zone.zone)
    return parsed


def check_event(raw: Any, index: int, default_zone: TimeZone) -> PlanningEvent | list[ContractViolation]:
    errors = schema_violations(raw, index)
    if errors:
        return errors
    violations: list[ContractViolation] = []

    def fail(path: str, message: str) -> None:
        violations.append(ContractViolation(index, path, message))

    family = raw["type"].split(".", 1)[0]
    if not raw["subject"].startswith(family + "/"):
        fail("$.subject", f"a {raw['type']} event needs a subject of the form {family}/<id>")
    try:
        event_time = datetime.fromisoformat(raw["time"])
        if event_time.tzinfo is None:
            fail("$.time", "must carry an offset (RFC 3339)")
    except ValueError:
        fail("$.time", "is not an RFC 3339 date-time")
    data = raw.get("data")
    timed = ("task", "unavailability", "reservation", "appointment")
    if isinstance(data, dict) and family in timed and "start" in data:
        _check_interval(data, default_zone, fail)
    if isinstance(data, dict) and family == "workingday" and "date" in data:
        _check_working_day(data, fail)
    if violations:
        return violations
    sequence = raw.get("sequence")
    return PlanningEvent(
        id=raw["id"],
        source=raw["source"],
        type=raw["type"],
        subject=raw["subject"],
        time=event_time,
        sequence=int(sequence) if sequence is not None else None,
        data=data if isinstance(data, dict) else None,
    )


def _zone_of(data: dict[str, Any], default_zone: TimeZone, fail: Any) -> TimeZone | None:
    name = data.get("timeZone")
    if name is None:
        return default_zone
    try:
        return resolve_time_zone(name)
    except ValueError as exc:
        fail("$.data.timeZone", str(exc))
        return None


def _check_interval(data: dict[str, Any], default_zone: TimeZone, fail: Any) -> None:
    zone = _zone_of(data, default_zone, fail)
    if zone is None:
        return
    bounds: dict[str, datetime] = {}
    for name in ("start", "end"):
        try:
            bounds[name] = parse_instant(data[name], zone)
        except ValueError as exc:
            fail(f"$.data.{name}", f"is not a valid date-time: {exc}")
    if len(bounds) == 2 and bounds["end"] <= bounds["start"]:
        fail("$.data.end", "must be after start")


def _check_working_day(data: dict[str, Any], fail: Any) -> None:
    try:
        date.fromisoformat(data["date"])
    except ValueError:
        fail("$.data.date", "is not a calendar date (YYYY-MM-DD)")
    if ("start" in data) != ("end" in data):
        fail("$.data.end" if "start" in data else "$.data.start", "working hours need both start and end")
    elif "start" in data and _minutes(data["end"]) <= _minutes(data["start"]):
        fail("$.data.end", "must be after start")
    if "timeZone" in data:
        try:
            resolve_time_zone(data["timeZone"])
        except ValueError as exc:
            fail("$.data.timeZone", str(exc))


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def clock_time(hhmm: str) -> tuple[time, int]:
    """``HH:MM`` as a time of day plus a day offset (``24:00`` is midnight of the next day)."""
    if hhmm == "24:00":
        return time(0, 0), 1
    hours, minutes = hhmm.split(":")
    return time(int(hours), int(minutes)), 0
