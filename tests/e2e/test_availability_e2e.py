"""End to end, availability: POST /api/availability through the local Functions host, the real Graph adapter and
the Graph simulator; the function key is required; 20 people and 5 rooms are answered (the time is printed,
never asserted)."""

from __future__ import annotations

import time

import pytest

from local.stack import LocalStack

pytestmark = pytest.mark.e2e

PEOPLE = [f"worker{i:02d}@contoso.com" for i in range(20)]
ROOMS = [f"room.e2e{i}@contoso.com" for i in range(5)]


def test_free_slots_of_twenty_people_and_five_rooms(stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    assert stack.host is not None and stack.simulator is not None
    state = stack.simulator.state
    for room in ROOMS:
        state.add_room(room, room.split("@")[0])
    state.set_working_hours(PEOPLE[0], timeZone="Eastern Standard Time")  # 14:00–23:00 Berlin in June
    state.create_event(ROOMS[0], {"subject": "Taken", "start": {"dateTime": "2026-06-01T15:00:00", "timeZone": "UTC"},
                                  "end": {"dateTime": "2026-06-01T16:00:00", "timeZone": "UTC"}})
    body = {"people": PEOPLE + ["nobody@contoso.com"], "rooms": ROOMS, "start": "2026-06-01T00:00:00",
            "end": "2026-06-06T00:00:00", "timeZone": "Europe/Berlin", "durationMinutes": 60}
    with stack.client() as client:
        assert client.post("/api/availability", json=body).status_code == 401
        elapsed = []
        for _ in range(2):  # the first one after the host started also imports msgraph-sdk and gets a token
            began = time.perf_counter()
            response = client.post("/api/availability", json=body,
                                   headers={"x-functions-key": stack.host.function_key})
            elapsed.append((time.perf_counter() - began) * 1000)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert len(answer["schedules"]) == 26 and answer["schedules"][20]["error"]["code"] == "5009"
    # Together (UTC working hours 08:00–17:00 = 10:00–19:00 Berlin; New York's 14:00–23:00), the room taken 17–18.
    assert answer["freeSlots"][:2] == [{"start": "2026-06-01T14:00:00+02:00", "end": "2026-06-01T17:00:00+02:00"},
                                       {"start": "2026-06-01T18:00:00+02:00", "end": "2026-06-01T19:00:00+02:00"}]
    assert len(answer["freeSlots"]) == 6  # the other four weekdays, 14:00–19:00
    with capsys.disabled():
        print(f"\nPOST /api/availability, 20 people and 5 rooms over 5 days, through the host: "
              f"first {elapsed[0]:.0f} ms,"
              f" then {elapsed[1]:.0f} ms")


def test_a_request_graph_would_refuse_is_a_400_naming_the_field(stack: LocalStack) -> None:
    assert stack.host is not None
    body = {"people": ["worker00@contoso.com"], "start": "2026-06-01T00:00:00", "end": "2026-09-01T00:00:00",
            "timeZone": "Europe/Berlin"}
    with stack.client() as client:
        response = client.post("/api/availability", json=body, headers={"x-functions-key": stack.host.function_key})
    assert response.status_code == 400 and response.json()["field"] == "end"
