"""An appointment through the local host: posted to the ingest endpoint → the planning queue → the appointment
worker → a Teams meeting in the organizer's calendar (the simulator) with invitations → appointment.written with
the join link on the outbound channel (the signed webhook to the local receiver, and the pull API)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local.stack import LocalStack
from tests.e2e.conftest import wait_for

pytestmark = pytest.mark.e2e

ORGANIZER = "anna.berger@contoso.com"
COLLEAGUE = "ben.okafor@contoso.com"
START = (datetime.now(UTC) + timedelta(days=4)).replace(hour=10, minute=0, second=0, microsecond=0)


def scheduled(subject: str) -> dict[str, Any]:
    return {
        "specversion": "1.0", "id": uuid.uuid4().hex, "source": "https://recruiting.example.com/ebms",
        "type": "appointment.scheduled", "subject": subject, "time": datetime.now(UTC).isoformat(),
        "sequence": "1",
        "data": {"organizer": {"email": ORGANIZER, "name": "Anna Berger"},
                 "attendees": [{"email": COLLEAGUE, "name": "Ben Okafor", "type": "required"}],
                 "start": START.isoformat(), "end": (START + timedelta(hours=1)).isoformat(),
                 "subject": "Interview", "body": "<p>First round</p>", "online": True, "reminderMinutes": 10},
    }


def written_of(stack: LocalStack, subject: str) -> list[dict[str, Any]]:
    assert stack.booking is not None
    return [e for e in stack.booking.of_type("appointment.") if e["subject"] == subject]


class TestAppointments:
    def test_scheduled_reaches_the_scheduling_system_as_written_with_the_join_link(self, stack: LocalStack) -> None:
        assert stack.simulator is not None
        subject = f"appointment/{uuid.uuid4().hex[:10]}"
        stack.simulator.state.join_url_after_reads = 1  # Graph fills the link after the create: read it back
        assert stack.post_events([scheduled(subject)]).status_code == 202
        [written] = wait_for(lambda: written_of(stack, subject), timeout=90, message="appointment.written delivered")
        [meeting] = [e for e in stack.simulator.state.events_of(ORGANIZER) if e["subject"] == "Interview"]
        assert written["type"] == "appointment.written"
        assert written["data"]["joinUrl"] == meeting["onlineMeeting"]["joinUrl"]
        assert written["data"]["graph"]["eventId"] == meeting["id"]
        assert [e["iCalUId"] for e in stack.simulator.state.events_of(COLLEAGUE)] == [meeting["iCalUId"]]
