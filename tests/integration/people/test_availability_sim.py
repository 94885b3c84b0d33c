"""Availability end to end below HTTP: the use case, the msgraph-sdk adapter and the session's limiter against the
HTTPS Graph simulator (people and rooms across zones, an unknown person, more schedules than one request takes,
a person's delegated connection)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from local.graphsim.server import RunningSimulator
from shared.adapters.graph.schedule import GraphScheduleReader
from shared.adapters.graph.session import GraphSession
from shared.app.people.availability import AvailabilityDeps, find_availability
from tests.support.builders import sim_settings
from tests.support.delegated import SimDelegatedCredentials

ANNA, BEN, ROOM = "anna@contoso.com", "ben@contoso.com", "room.harbour@contoso.com"


@dataclass
class World:
    sim: RunningSimulator
    delegated: SimDelegatedCredentials
    deps: AvailabilityDeps

    def event(self, mailbox: str, start: str, end: str, zone: str = "UTC", show_as: str = "busy") -> None:
        self.sim.state.create_event(mailbox, {"subject": "x", "showAs": show_as,
                                              "start": {"dateTime": start, "timeZone": zone},
                                              "end": {"dateTime": end, "timeZone": zone}})

    async def ask(self, **body: Any) -> tuple[int, Any]:
        reply = await find_availability(json.dumps(body).encode(), self.deps)
        return reply.status, reply.json()

    def schedule_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.sim.state.requests() if r["path"].endswith("/calendar/getSchedule")]


@pytest.fixture
async def world(simulator: RunningSimulator) -> AsyncIterator[World]:
    state = simulator.state
    state.reset()
    state.add_user(ANNA, "Anna")  # Berlin, 08:00–17:00
    state.add_user(BEN, "Ben")  # New York, 09:00–17:00
    state.add_room(ROOM, "Harbour")
    state.set_working_hours(ANNA, timeZone="W. Europe Standard Time")
    state.set_working_hours(BEN, timeZone="Eastern Standard Time", startTime="09:00")
    session = GraphSession(sim_settings(simulator))
    delegated = SimDelegatedCredentials(simulator, connected={BEN})
    yield World(simulator, delegated, AvailabilityDeps(reader=GraphScheduleReader(session, delegated)))
    await session.close()


async def test_people_and_rooms_across_zones(world: World) -> None:
    # Monday 2026-06-01: Berlin works 06:00–15:00 UTC, New York 13:00–21:00 UTC; together 13:00–15:00 UTC.
    world.event(ROOM, "2026-06-01T13:30:00", "2026-06-01T14:00:00")
    world.event(ANNA, "2026-06-01T16:30:00", "2026-06-01T17:00:00", zone="W. Europe Standard Time")  # 14:30 UTC
    world.event(BEN, "2026-06-01T10:15:00", "2026-06-01T10:20:00", zone="Eastern Standard Time", show_as="free")
    status, answer = await world.ask(people=[ANNA, BEN], rooms=[ROOM], start="2026-06-01T00:00:00",
                                     end="2026-06-02T00:00:00", timeZone="Europe/London", durationMinutes=30)
    assert status == 200, answer
    assert answer["freeSlots"] == [{"start": "2026-06-01T14:00:00+01:00", "end": "2026-06-01T14:30:00+01:00"},
                                   {"start": "2026-06-01T15:00:00+01:00", "end": "2026-06-01T15:30:00+01:00"}]
    anna, ben, room = answer["schedules"]
    assert anna["items"] == [{"start": "2026-06-01T15:30:00+01:00", "end": "2026-06-01T16:00:00+01:00",
                              "status": "busy"}]
    assert ben["workingHours"]["timeZone"] == "Eastern Standard Time" and ben["items"][0]["status"] == "free"
    assert room["availabilityView"][57:61] == "0220" and room["error"] is None  # 14:15 to 15:15 London
    [call] = world.schedule_requests()
    assert call["mailbox"] == world.sim.state.find_user(ANNA)["id"]  # type: ignore[index]


async def test_a_custom_zone_from_graph_is_read_with_its_daylight_rule(world: World) -> None:
    world.sim.state.set_working_hours(ANNA, timeZone={
        "@odata.type": "#microsoft.graph.customTimeZone", "bias": 480, "name": "Customized Time Zone",
        "standardOffset": {"time": "02:00:00.0000000", "dayOccurrence": 1, "dayOfWeek": "sunday", "month": 11,
                           "year": 0},
        "daylightOffset": {"daylightBias": -60, "time": "02:00:00.0000000", "dayOccurrence": 2,
                           "dayOfWeek": "sunday", "month": 3, "year": 0}})
    status, answer = await world.ask(people=[ANNA], start="2026-06-01T00:00:00", end="2026-06-02T00:00:00",
                                     timeZone="America/Los_Angeles")
    assert status == 200 and answer["freeSlots"] == [{"start": "2026-06-01T08:00:00-07:00",
                                                      "end": "2026-06-01T17:00:00-07:00"}]


async def test_an_unknown_person_comes_back_with_an_error(world: World) -> None:
    status, answer = await world.ask(people=["nobody@contoso.com", ANNA], start="2026-06-01T08:00:00",
                                     end="2026-06-01T12:00:00", timeZone="Europe/Berlin")
    assert status == 200
    nobody = answer["schedules"][0]
    assert nobody["error"] == {"code": "5009", "message": "Unable to resolve e-mail address nobody@contoso.com to an "
                                                          "Active Directory object."}
    assert answer["freeSlots"] == [{"start": "2026-06-01T08:00:00+02:00", "end": "2026-06-01T12:00:00+02:00"}]
    # Its first address is no mailbox: the request went through the next one.
    assert [r["status"] for r in world.schedule_requests()] == [404, 200]


async def test_more_schedules_than_graph_takes_go_in_chunks(world: World) -> None:
    people = [f"p{n:03d}@contoso.com" for n in range(130)]
    for address in people:
        world.sim.state.add_user(address)
    world.event("p120@contoso.com", "2026-06-01T09:00:00", "2026-06-01T10:00:00")
    status, answer = await world.ask(people=people, rooms=[ROOM], start="2026-06-01T08:00:00Z",
                                     end="2026-06-01T12:00:00Z", timeZone="UTC", intervalMinutes=60)
    assert status == 200 and len(answer["schedules"]) == 131
    assert all(s["error"] is None for s in answer["schedules"])
    assert answer["freeSlots"] == [{"start": "2026-06-01T08:00:00+00:00", "end": "2026-06-01T09:00:00+00:00"},
                                   {"start": "2026-06-01T10:00:00+00:00", "end": "2026-06-01T12:00:00+00:00"}]
    calls = world.schedule_requests()
    assert sorted(c["status"] for c in calls) == [200, 200]
    ids = {world.sim.state.find_user(a)["id"] for a in ("p000@contoso.com", "p100@contoso.com")}  # type: ignore[index]
    assert {c["mailbox"] for c in calls} == ids


async def test_as_a_person_through_their_delegated_connection(world: World) -> None:
    world.event(ANNA, "2026-06-01T14:00:00", "2026-06-01T15:00:00")
    status, answer = await world.ask(people=[ANNA], rooms=[ROOM], asUser=BEN, start="2026-06-01T13:00:00Z",
                                     end="2026-06-01T16:00:00Z", timeZone="UTC")
    assert status == 200 and answer["schedules"][0]["items"][0]["status"] == "busy"
    assert world.delegated.issued == [BEN]
    [call] = world.schedule_requests()
    assert call["mailbox"] == world.sim.state.find_user(BEN)["id"]  # type: ignore[index]


async def test_a_person_who_must_reconnect_is_told_so(world: World) -> None:
    status, answer = await world.ask(people=[BEN], asUser=ANNA, start="2026-06-01T13:00:00Z",
                                     end="2026-06-01T16:00:00Z", timeZone="UTC")
    assert status == 409 and answer["user"] == ANNA and answer["state"] == "needs-reconnect"
    assert world.schedule_requests() == []


async def test_twenty_people_and_five_rooms_in_one_round_trip(world: World, capsys: pytest.CaptureFixture[str]
                                                              ) -> None:
    people = [f"w{n:02d}@contoso.com" for n in range(20)]
    rooms = [f"room{n}@contoso.com" for n in range(5)]
    for address in people:
        world.sim.state.add_user(address)
        world.event(address, "2026-06-02T09:00:00", "2026-06-02T09:30:00")
    for address in rooms:
        world.sim.state.add_room(address, address)
    began = time.perf_counter()
    status, answer = await world.ask(people=people, rooms=rooms, start="2026-06-01T00:00:00Z",
                                     end="2026-06-06T00:00:00Z", timeZone="Europe/Berlin")
    elapsed = time.perf_counter() - began
    assert status == 200 and len(answer["schedules"]) == 25 and len(world.schedule_requests()) == 1
    with capsys.disabled():
        print(f"\navailability of 20 people and 5 rooms over 5 days: {elapsed * 1000:.0f} ms")


async def test_as_a_person_who_is_not_connected_is_a_409_with_the_reason(world: World) -> None:
    reply = await find_availability(json.dumps({"people": [BEN], "asUser": ANNA, "start": "2026-06-01T13:00:00Z",
                                                "end": "2026-06-01T16:00:00Z", "timeZone": "UTC"}).encode(),
                                    world.deps)
    assert reply.status == 409 and reply.json()["reason"] == "AADSTS50173: the provided grant has expired"
    assert world.delegated.issued == [] and world.schedule_requests() == []
