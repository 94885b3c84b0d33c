"""End to end, the README's people demo against the local stack: a recruiter connects through the browser round
trip, books an interview with two colleagues, a room and a Teams meeting, a colleague declines, and free/busy
answers. Asserts on what the demo saw, in the order the booking system saw it."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest

from local.demo_people import COLLEAGUES, RECRUITER, ROOM, demo_people
from local.stack import LocalStack

pytestmark = pytest.mark.e2e


def test_the_people_demo_connects_books_hears_a_decline_and_finds_free_slots(stack: LocalStack) -> None:
    assert stack.simulator is not None and stack.booking is not None
    seen = demo_people(stack)

    assert seen is not None and seen.returned_to is not None
    assert seen.returned_to in [f"{stack.booking.base_url}{path}" for path in stack.booking.returns]
    assert parse_qs(urlsplit(seen.returned_to).query) == {"connection": ["connected"]}
    assert seen.connection["state"] == "connected" and "Calendars.ReadWrite" in seen.connection["scopes"]

    assert seen.written is not None
    event_id = seen.written["data"]["graph"]["eventId"]
    [meeting] = [e for e in stack.calendar(RECRUITER[0]) if e["id"] == event_id]
    assert seen.written["data"]["joinUrl"] == meeting["onlineMeeting"]["joinUrl"]
    assert seen.written["data"]["joinUrl"].startswith("https://")
    invited = {a["emailAddress"]["address"]: a["type"] for a in meeting["attendees"]}
    assert invited == {COLLEAGUES[0][0]: "required", COLLEAGUES[1][0]: "required", ROOM[0]: "resource"}

    assert seen.declined is not None
    assert (seen.declined["attendee"]["email"], seen.declined["response"]) == (COLLEAGUES[0][0], "declined")
    told = [(e["type"], e["data"].get("attendee", {}).get("email")) for e in stack.booking.events
            if e["subject"] == seen.written["subject"]]
    assert told.index(("appointment.written", None)) < told.index(("appointment.response", COLLEAGUES[0][0]))

    assert seen.free_slots and seen.interview_day is not None
    begins = datetime.combine(seen.interview_day, time(10), ZoneInfo("Europe/Berlin"))
    assert all(datetime.fromisoformat(slot["end"]) <= begins or
               datetime.fromisoformat(slot["start"]) >= begins + timedelta(hours=1) for slot in seen.free_slots)
