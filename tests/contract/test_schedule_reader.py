"""One contract for the ScheduleReader: the fake of the unit tests and the msgraph-sdk adapter against the HTTPS
simulator answer getSchedule alike."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from local.graphsim.server import RunningSimulator
from shared.adapters.graph.schedule import GraphScheduleReader
from shared.adapters.graph.session import GraphSession
from shared.app.ports.availability import ScheduleRequest
from shared.domain.timezones import resolve_time_zone
from shared.errors import NeedsReconnect, RejectedByGraph, UnknownMailbox
from tests.fakes.availability import FakeScheduleReader
from tests.support.builders import sim_settings
from tests.support.delegated import SimDelegatedCredentials

ANNA, BEN = "anna@contoso.com", "ben@contoso.com"
BERLIN = resolve_time_zone("Europe/Berlin")
EVENTS = [(datetime(2026, 6, 1, 7, tzinfo=UTC), datetime(2026, 6, 1, 8, tzinfo=UTC), "busy"),
          (datetime(2026, 6, 1, 9, tzinfo=UTC), datetime(2026, 6, 1, 9, 30, tzinfo=UTC), "tentative")]


def request(*schedules: str) -> ScheduleRequest:
    return ScheduleRequest(schedules, datetime(2026, 6, 1, 8, tzinfo=BERLIN.zone),
                           datetime(2026, 6, 1, 12, tzinfo=BERLIN.zone), BERLIN, 60)


@pytest.fixture
async def real_reader(simulator: RunningSimulator) -> AsyncIterator[Any]:
    state = simulator.state
    state.reset()
    for person in (ANNA, BEN):
        state.add_user(person, person.split("@")[0].title())
    for start, end, status in EVENTS:
        state.create_event(ANNA, {"subject": "x", "showAs": status,
                                  "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
                                  "end": {"dateTime": end.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}})
    session = GraphSession(sim_settings(simulator))
    reader = GraphScheduleReader(session, SimDelegatedCredentials(simulator, connected={BEN}))
    yield reader
    await session.close()


@pytest.fixture(params=["fake", pytest.param("graph", marks=pytest.mark.graphsim)])
def reader(request: pytest.FixtureRequest) -> Any:
    if request.param == "fake":
        fake = FakeScheduleReader(connected={BEN})
        fake.add_person(ANNA, *EVENTS)
        fake.add_person(BEN)
        return fake
    return request.getfixturevalue("real_reader")


class TestScheduleReader:
    async def test_items_and_view_come_in_the_requests_zone(self, reader: Any) -> None:
        [anna] = await reader.get_schedule(request(ANNA), mailbox=ANNA)
        assert anna["scheduleId"] == ANNA and anna["availabilityView"] == "0201"
        assert [(i["status"], i["start"]["dateTime"][:19], i["start"]["timeZone"]) for i in anna["scheduleItems"]] == [
            ("busy", "2026-06-01T09:00:00", "W. Europe Standard Time"),
            ("tentative", "2026-06-01T11:00:00", "W. Europe Standard Time")]
        assert anna["workingHours"]["daysOfWeek"][0] == "monday" and anna["workingHours"]["startTime"][:5] == "08:00"

    async def test_an_address_graph_cannot_see_is_an_entry_with_an_error(self, reader: Any) -> None:
        ghost, ben = await reader.get_schedule(request("ghost@contoso.com", BEN), mailbox=ANNA)
        assert ghost["scheduleId"] == "ghost@contoso.com" and ghost["error"]["responseCode"] == "5009"
        assert ben["scheduleId"] == BEN and "error" not in ben

    async def test_an_unknown_mailbox_in_the_url_is_unknown_mailbox(self, reader: Any) -> None:
        with pytest.raises(UnknownMailbox):
            await reader.get_schedule(request(ANNA), mailbox="ghost@contoso.com")

    async def test_more_than_100_schedules_are_refused(self, reader: Any) -> None:
        with pytest.raises(RejectedByGraph, match="ErrorMailboxDataArrayTooBig"):
            await reader.get_schedule(request(*(f"p{n}@contoso.com" for n in range(101))), mailbox=ANNA)

    async def test_as_a_person_needs_their_connection(self, reader: Any) -> None:
        [anna] = await reader.get_schedule(request(ANNA), mailbox=BEN, as_user=True)
        assert anna["availabilityView"] == "0201"
        with pytest.raises(NeedsReconnect) as refused:
            await reader.get_schedule(request(BEN), mailbox=ANNA, as_user=True)
        assert refused.value.user == ANNA
