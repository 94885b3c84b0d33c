"""The availability use case against the fake ScheduleReader: the answer's shape, chunks of 100 asked at once,
which mailbox each chunk goes through, a person's connection, and Graph's refusals as HTTP answers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.app.people.availability import AvailabilityDeps, find_availability
from shared.errors import Forbidden, Throttled
from tests.fakes.availability import FakeScheduleReader

ANNA, BEN, ROOM = "anna@contoso.com", "ben@contoso.com", "room.alpha@contoso.com"
BERLIN_HOURS = {"daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
                "startTime": "08:00:00.0000000", "endTime": "17:00:00.0000000",
                "timeZone": {"name": "W. Europe Standard Time"}}


def body(**changes: Any) -> bytes:
    return json.dumps({"people": [ANNA, BEN], "rooms": [ROOM], "start": "2026-06-01T00:00:00",
                       "end": "2026-06-02T00:00:00", "timeZone": "Europe/Berlin", **changes}).encode()


@pytest.fixture
def reader() -> FakeScheduleReader:
    fake = FakeScheduleReader(connected={BEN})
    fake.add_person(ANNA, (datetime(2026, 6, 1, 8, tzinfo=UTC), datetime(2026, 6, 1, 9, tzinfo=UTC), "busy"),
                    hours=BERLIN_HOURS)
    fake.add_person(BEN, (datetime(2026, 6, 1, 12, tzinfo=UTC), datetime(2026, 6, 1, 13, tzinfo=UTC), "tentative"),
                    hours=BERLIN_HOURS)
    fake.add_person(ROOM, (datetime(2026, 6, 1, 14, tzinfo=UTC), datetime(2026, 6, 1, 14, 30, tzinfo=UTC), "busy"))
    return fake


async def ask(reader: FakeScheduleReader, raw: bytes) -> tuple[int, Any, dict[str, str]]:
    reply = await find_availability(raw, AvailabilityDeps(reader=reader))
    return reply.status, reply.json(), reply.headers


class TestAnswer:
    async def test_schedules_in_order_and_the_free_slots_in_the_requests_zone(self, reader: FakeScheduleReader
                                                                             ) -> None:
        status, answer, _ = await ask(reader, body())
        assert status == 200 and answer["timeZone"] == "Europe/Berlin"
        assert [s["email"] for s in answer["schedules"]] == [ANNA, BEN, ROOM]
        anna = answer["schedules"][0]
        assert anna["items"] == [{"start": "2026-06-01T10:00:00+02:00", "end": "2026-06-01T11:00:00+02:00",
                                  "status": "busy"}]
        assert anna["workingHours"] == {"daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
                                        "startTime": "08:00:00", "endTime": "17:00:00",
                                        "timeZone": "W. Europe Standard Time"}
        assert anna["error"] is None and len(anna["availabilityView"]) == 96
        assert answer["freeSlots"] == [
            {"start": "2026-06-01T08:00:00+02:00", "end": "2026-06-01T10:00:00+02:00"},
            {"start": "2026-06-01T11:00:00+02:00", "end": "2026-06-01T14:00:00+02:00"},
            {"start": "2026-06-01T15:00:00+02:00", "end": "2026-06-01T16:00:00+02:00"},
            {"start": "2026-06-01T16:30:00+02:00", "end": "2026-06-01T17:00:00+02:00"}]
        assert reader.calls == [(ANNA, False, (ANNA, BEN, ROOM))]

    async def test_an_unknown_person_is_an_entry_with_an_error(self, reader: FakeScheduleReader) -> None:
        status, answer, _ = await ask(reader, body(people=[ANNA, "ghost@contoso.com"], rooms=[]))
        assert status == 200
        ghost = answer["schedules"][1]
        assert ghost["email"] == "ghost@contoso.com" and ghost["error"]["code"] == "5009"
        assert ghost["items"] == [] and ghost["workingHours"] is None
        assert answer["freeSlots"][0] == {"start": "2026-06-01T08:00:00+02:00", "end": "2026-06-01T10:00:00+02:00"}


class TestChunks:
    async def test_more_than_100_addresses_go_in_chunks_asked_at_once(self, reader: FakeScheduleReader) -> None:
        people = [f"p{n:03d}@contoso.com" for n in range(150)]
        for address in people:
            reader.add_person(address)
        reader.delay = 0.05
        status, answer, _ = await ask(reader, body(people=people, rooms=[ROOM]))
        assert status == 200 and len(answer["schedules"]) == 151
        assert [(mailbox, len(chunk)) for mailbox, _, chunk in reader.calls] == [("p000@contoso.com", 100),
                                                                                 ("p100@contoso.com", 51)]
        assert reader.peak == 2

    async def test_a_mailbox_graph_does_not_know_gives_way_to_the_next_address(self, reader: FakeScheduleReader
                                                                              ) -> None:
        status, answer, _ = await ask(reader, body(people=["ghost@contoso.com", ANNA]))
        assert status == 200 and [c[0] for c in reader.calls] == ["ghost@contoso.com", ANNA]
        assert answer["schedules"][0]["error"]["code"] == "5009"

    async def test_when_no_address_of_a_chunk_is_a_mailbox_graph_refused(self, reader: FakeScheduleReader) -> None:
        ghosts = [f"ghost{n}@contoso.com" for n in range(5)]
        status, answer, _ = await ask(reader, body(people=ghosts, rooms=[]))
        assert status == 502 and "unknown" in answer["detail"] and len(reader.calls) == 3


class TestAsUser:
    async def test_every_chunk_goes_through_the_persons_connection(self, reader: FakeScheduleReader) -> None:
        status, _, _ = await ask(reader, body(asUser=BEN))
        assert status == 200 and reader.calls == [(BEN, True, (ANNA, BEN, ROOM))]

    async def test_a_person_without_a_working_connection_must_reconnect(self, reader: FakeScheduleReader) -> None:
        status, answer, _ = await ask(reader, body(asUser=ANNA))
        assert status == 409 and answer["user"] == ANNA and answer["state"] == "needs-reconnect"
        assert "reconnect" in answer["detail"] and "AADSTS50173" in answer["reason"]


class FailingReader(FakeScheduleReader):
    error: Exception = Throttled("Graph answered 429", retry_after=7.2)

    async def get_schedule(self, request: Any, *, mailbox: str, as_user: bool = False) -> Any:
        raise self.error


@pytest.mark.parametrize(("error", "status", "retry_after"), [
    (Throttled("Graph answered 429", retry_after=7.2), 503, "7"),
    (Throttled("Graph answered 503"), 503, None),
    (Forbidden("access to mailbox anna denied: Graph answered 403 ErrorAccessDenied"), 502, None),
])
async def test_graphs_refusals_become_answers(error: Exception, status: int, retry_after: str | None) -> None:
    reader = FailingReader()
    reader.error = error
    got, answer, headers = await ask(reader, body())
    assert got == status and answer["status"] == status and headers.get("Retry-After") == retry_after


@pytest.mark.parametrize(("raw", "code", "field"), [
    (b"{", 400, "$"), (b'"x"', 400, "$"), (body(end="2026-09-01T00:00:00"), 400, "end"),
    (body(people=["nope"]), 400, "people[0]"), (b" " * 200_000, 413, None)])
async def test_bad_requests_are_answered_before_graph(reader: FakeScheduleReader, raw: bytes, code: int,
                                                      field: str | None) -> None:
    status, answer, _ = await ask(reader, raw)
    assert status == code and answer.get("field") == field and reader.calls == []
