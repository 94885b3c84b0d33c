"""The availability trigger, called with a stub request: decode, one use case, encode; and the container's
default for delegated connections until the connections adapter is wired."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import entrypoints.availability
from shared.bootstrap.lazy import Lazy
from tests.fakes.availability import FakeScheduleReader
from tests.unit.entrypoints.conftest import Stage, request, user_function

ANNA = "anna@contoso.com"


async def test_the_trigger_answers_with_the_free_slots(stage: Stage) -> None:
    reader = FakeScheduleReader()
    reader.add_person(ANNA, (datetime(2026, 6, 1, 9, tzinfo=UTC), datetime(2026, 6, 1, 10, tzinfo=UTC), "busy"))
    stage.container.schedules = Lazy.given(reader)
    body = {"people": [ANNA], "start": "2026-06-01T08:00:00Z", "end": "2026-06-01T12:00:00Z", "timeZone": "UTC"}
    handler = user_function(entrypoints.availability.find_availability)
    response = await handler(request("POST", "/api/availability", json.dumps(body).encode(), token=None))
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert json.loads(response.get_body())["freeSlots"] == [
        {"start": "2026-06-01T08:00:00+00:00", "end": "2026-06-01T09:00:00+00:00"},
        {"start": "2026-06-01T10:00:00+00:00", "end": "2026-06-01T12:00:00+00:00"}]


async def test_without_delegated_connections_nobody_is_connected(stage: Stage) -> None:
    delegated = stage.container.delegated()
    assert await delegated.is_connected(ANNA) is False
    handler = user_function(entrypoints.availability.find_availability)
    body = {"people": [ANNA], "start": "2026-06-01T08:00:00Z", "end": "2026-06-01T12:00:00Z", "timeZone": "UTC",
            "asUser": "bad"}
    response = await handler(request("POST", "/api/availability", json.dumps(body).encode(), token=None))
    assert response.status_code == 400 and json.loads(response.get_body())["field"] == "asUser"
