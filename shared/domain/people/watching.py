"""A watched organizer's meetings → what goes back to the scheduling system. Pure: Graph JSON in, CloudEvents out.

Only meetings the connector wrote count: they carry its source-key extended property, whose subject is
``appointment/{id}``. Graph notifies every change of the organizer's event (an attendee answering, the
organizer moving it, the connector's own update) and repeats notifications, so one state row per event keeps
the last known answer of each attendee and the last known times:

- ``appointment.response`` for each attendee whose answer (accepted, declined, tentativelyAccepted, with the
  time they proposed instead) differs from the last known one; a repeated notification finds nothing new;
- ``appointment.changed-in-outlook`` when start or end differ from the last known times and are not the times
  the connector itself wrote (``expect_write`` records those before it writes): its own move never echoes back.
  The first sight of an event is the baseline: nothing to compare with, so no move is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from shared.domain.rooms.outbound_events import parse_graph_time
from shared.domain.tagging import SOURCE_KEY_PROPERTY
from shared.domain.timezones import TimeZone

__all__ = ["CHANGED_IN_OUTLOOK", "PUBLISHED_RESPONSES", "RESPONSE", "AppointmentWatch", "Publication",
           "WatchDecision", "appointment_of", "decide", "expect_write"]

RESPONSE, CHANGED_IN_OUTLOOK = "appointment.response", "appointment.changed-in-outlook"
PUBLISHED_RESPONSES = frozenset({"accepted", "declined", "tentativelyAccepted"})
_SUBJECT_PREFIX = "appointment/"


@dataclass(frozen=True)
class AppointmentWatch:
    """What the connector last knew of one meeting in a watched organizer's calendar."""

    organizer: str
    event_id: str
    appointment_id: str
    responses: dict[str, str] = field(default_factory=dict)  # attendee email → answer (see ``_answer``)
    start: str | None = None  # last known times, UTC ISO
    end: str | None = None
    written_start: str | None = None  # times the connector is writing, not yet seen back (UTC ISO)
    written_end: str | None = None
    change_key: str | None = None
    etag: str | None = None


@dataclass(frozen=True)
class Publication:
    type: str
    data: dict[str, Any]
    version_key: str  # what the CloudEvent id derives from: a redelivery repeats it


@dataclass(frozen=True)
class WatchDecision:
    publications: list[Publication]
    state: AppointmentWatch | None  # the row to store, or None to store nothing
    reason: str


def appointment_of(event: dict[str, Any]) -> str | None:
    """The appointment id of a meeting the connector wrote (its source key's subject ``appointment/{id}``)."""
    wanted = SOURCE_KEY_PROPERTY.lower()
    for prop in event.get("singleValueExtendedProperties") or []:
        value = prop.get("value")
        if str(prop.get("id", "")).lower() == wanted and isinstance(value, str):
            # "{source} {subject}" as the planning sync writes it, or the bare subject.
            subject = value.rpartition(" ")[2]
            if subject.startswith(_SUBJECT_PREFIX) and len(subject) > len(_SUBJECT_PREFIX):
                return subject[len(_SUBJECT_PREFIX):]
    return None


def expect_write(state: AppointmentWatch, start: str, end: str) -> AppointmentWatch:
    """The row once the connector is about to move the meeting to [start, end) (UTC ISO)."""
    return replace(state, written_start=start, written_end=end)


def utc_iso(value: dict[str, Any] | None) -> str | None:
    instant = parse_graph_time(value)
    return instant.astimezone(UTC).isoformat() if instant else None


def decide(event: dict[str, Any], state: AppointmentWatch | None, *, organizer: str, zone: TimeZone) -> WatchDecision:
    """What to publish for the organizer's event as Graph shows it now (deleted events are not decided here)."""
    appointment = appointment_of(event)
    if appointment is None:
        # Not written by the connector (or not an appointment): the organizer's own business.
        return WatchDecision([], None, "not an appointment")
    if event.get("isCancelled"):
        return WatchDecision([], None, "cancelled")
    change_key = event.get("changeKey")
    if state is not None and change_key and state.change_key == change_key:
        # Graph's repeated notification of a version already handled.
        return WatchDecision([], None, "duplicate")
    event_id = str(event.get("id"))
    base = state or AppointmentWatch(organizer=organizer, event_id=event_id, appointment_id=appointment)
    graph = {"eventId": event_id, "iCalUId": event.get("iCalUId"), "changeKey": change_key}
    common = {"appointmentId": appointment, "organizer": organizer}
    publications: list[Publication] = []
    answers = dict(base.responses)
    for attendee in event.get("attendees") or []:
        address = str((attendee.get("emailAddress") or {}).get("address") or "").lower()
        if not address or address == organizer:
            continue
        answer, response, proposal = _answer(attendee, zone)
        if answers.get(address) != answer and response in PUBLISHED_RESPONSES:
            # An answer the scheduling system has not heard yet.
            status = attendee.get("status") or {}
            publications.append(Publication(RESPONSE, {
                **common,
                "attendee": {"email": address, "name": (attendee.get("emailAddress") or {}).get("name"),
                             "type": attendee.get("type")},
                "response": response, "proposedNewTime": proposal,
                "respondedAt": _responded_at(status.get("time")), "graph": graph,
            }, f"{event_id}\n{address}\n{answer}\n{change_key}"))
        answers[address] = answer
    start, end = utc_iso(event.get("start")), utc_iso(event.get("end"))
    stored = replace(base, responses=answers, start=start, end=end, change_key=change_key)
    if state is not None and (start, end) != (state.start, state.end):
        if (start, end) == (state.written_start, state.written_end):
            # The connector's own move coming back: seen now, nothing to tell.
            stored = replace(stored, written_start=None, written_end=None)
        else:
            publications.append(Publication(CHANGED_IN_OUTLOOK, {
                **common, "start": _local(start, zone), "end": _local(end, zone), "timeZone": zone.iana,
                "previous": {"start": _local(state.start, zone), "end": _local(state.end, zone)}, "graph": graph,
            }, f"{event_id}\nmoved\n{start}\n{end}\n{change_key}"))
    elif (start, end) == (base.written_start, base.written_end):
        stored = replace(stored, written_start=None, written_end=None)
    reason = ", ".join(p.type for p in publications) or ("baseline" if state is None else "nothing new")
    return WatchDecision(publications, stored, reason)


def _answer(attendee: dict[str, Any], zone: TimeZone) -> tuple[str, str, dict[str, str | None] | None]:
    """(the answer as stored, Graph's response, the proposed time in ``zone`` or None)."""
    response = str((attendee.get("status") or {}).get("response") or "none")
    slot = attendee.get("proposedNewTime") or None
    if not isinstance(slot, dict):
        return response, response, None
    start, end = utc_iso(slot.get("start")), utc_iso(slot.get("end"))
    if start is None and end is None:
        return response, response, None
    return f"{response}|{start}|{end}", response, {"start": _local(start, zone), "end": _local(end, zone)}


def _local(value: str | None, zone: TimeZone) -> str | None:
    return datetime.fromisoformat(value).astimezone(zone.zone).isoformat() if value else None


def _responded_at(value: object) -> str | None:
    # Graph's "0001-01-01T00:00:00Z" means never.
    return value if isinstance(value, str) and value and not value.startswith("0001-") else None
