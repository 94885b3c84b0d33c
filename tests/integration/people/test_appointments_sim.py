"""An appointment's whole life through msgraph-sdk against the HTTPS simulator: the use case with the real
meeting adapter (a delegated connection for the organizer, here a credential the simulator accepts), the
stores and the outbound channel as fakes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from local.graphsim.server import RunningSimulator
from shared.adapters.graph.meetings import GraphMeetingCalendar
from shared.adapters.graph.session import GraphSession
from shared.app.messaging import Delivery
from shared.app.people.appointments import sync_appointment_message
from shared.bootstrap import Container, RoomStores
from shared.domain.tagging import SOURCE_KEY_PROPERTY
from tests.fakes.planning import InMemoryResourceStore
from tests.support.builders import body, sim_settings
from tests.unit.people.world import COLLEAGUES, ORGANIZER, ROOM, PeopleWorld, appointment, cancelled, scheduled, updated

DAN = "dan@contoso.com"


class AppCredentialAsPerson:
    """The organizer's delegated connection, standing in with the app's credential (the simulator issues app
    tokens only); what counts here is that the adapter writes through ``GraphSession.client_for``."""

    def __init__(self, session: GraphSession) -> None:
        self.session = session
        self.asked: list[str] = []

    def for_user(self, user: str) -> Any:
        self.asked.append(user)
        return self.session.credential

    async def is_connected(self, user: str) -> bool:
        return user == ORGANIZER


@pytest.fixture
async def world(simulator: RunningSimulator) -> AsyncIterator[tuple[PeopleWorld, Container, AppCredentialAsPerson]]:
    state = simulator.state
    state.reset()
    for email, name in ((ORGANIZER, "Rita"), (COLLEAGUES[0], "Ben"), (COLLEAGUES[1], "Cleo"), (DAN, "Dan")):
        state.add_user(email, name)
    state.add_room(ROOM, "Room Alpha")
    world = PeopleWorld()
    session = GraphSession(sim_settings(simulator))
    delegated = AppCredentialAsPerson(session)
    stores = RoomStores(rooms=world.rooms, reservations=world.reservations, own_writes=world.own_writes,
                        log=world.log, users=world.users, outbox=world.outbox)
    container = Container(sim_settings(simulator), queue=world.queue, mappings=world.mappings,
                          resources=InMemoryResourceStore(), deadletters=world.deadletters, calendar=world.calendar,
                          clock=lambda: world.now, room_stores=stores, credential_state=world.credential_state,
                          breakers=world.breakers, meetings=GraphMeetingCalendar(session, delegated),
                          delegated=delegated)
    yield world, container, delegated
    await session.close()


async def deliver(container: Container, event: dict[str, Any], **props: Any) -> str:
    delivery = Delivery(event["id"], 1, event["subject"], {"subject": event["subject"], **props})
    return await sync_appointment_message(body(event), delivery, container.appointments())


def invitation(simulator: RunningSimulator, mailbox: str) -> dict[str, Any]:
    [copy] = simulator.state.events_of(mailbox)
    return copy


class TestAppointmentLife:
    async def test_scheduled_updated_cancelled(self, world: Any, simulator: RunningSimulator) -> None:
        people, container, delegated = world
        state = simulator.state
        assert await deliver(container, scheduled()) == "create"
        [meeting] = state.events_of(ORGANIZER)
        assert meeting["isOnlineMeeting"] and meeting["onlineMeeting"]["joinUrl"].startswith("https://teams.")
        assert {"id": SOURCE_KEY_PROPERTY, "value": f"{scheduled()['source']} appointment/A-1"} \
            in meeting["singleValueExtendedProperties"]
        assert delegated.asked == [ORGANIZER]  # written with the organizer's connection (auto, connected)
        for colleague in COLLEAGUES:
            copy = invitation(simulator, colleague)
            assert copy["iCalUId"] == meeting["iCalUId"] and copy["isOrganizer"] is False
            assert copy["responseStatus"]["response"] == "none"
            assert copy["organizer"]["emailAddress"]["address"] == ORGANIZER
        room = next(a for a in meeting["attendees"] if a["type"] == "resource")
        assert room["status"]["response"] == "accepted" and len(state.events_of(ROOM)) == 1
        [written] = people.written()
        assert written["data"] == {"graph": {"eventId": meeting["id"], "iCalUId": meeting["iCalUId"],
                                             "webLink": meeting["webLink"]},
                                   "joinUrl": meeting["onlineMeeting"]["joinUrl"]}

        state.clear_requests()
        assert await deliver(container, updated(appointment(attendees=(*COLLEAGUES, DAN)), 2)) == "update"
        [patch] = [r for r in state.requests() if r["method"] == "PATCH"]
        assert len(state.requests()) == 1 and patch["path"].endswith(meeting["id"])
        assert invitation(simulator, DAN)["iCalUId"] == meeting["iCalUId"]

        assert await deliver(container, cancelled("The candidate withdrew", 3)) == "remove"
        assert state.events_of(ORGANIZER) == [] and state.events_of(ROOM) == []
        for attendee in (*COLLEAGUES, DAN):
            copy = invitation(simulator, attendee)
            assert copy["isCancelled"] and "The candidate withdrew" in copy["body"]["content"]
        assert len(people.written()) == 1

    async def test_a_join_link_that_comes_on_a_later_read_is_published_then(self, world: Any,
                                                                             simulator: RunningSimulator) -> None:
        people, container, _ = world
        simulator.state.join_url_after_reads = 1
        await deliver(container, scheduled(appointment(attendees=())))
        assert people.written() == []
        [readback] = people.take("planning-events")
        delivery = Delivery(readback.message_id, 1, readback.session_id, readback.application_properties)
        assert await sync_appointment_message(readback.body, delivery, container.appointments()) \
            == "join link published"
        [written] = people.written()
        [meeting] = simulator.state.events_of(ORGANIZER)
        assert written["data"]["joinUrl"] == meeting["onlineMeeting"]["joinUrl"]

    async def test_a_retried_create_makes_no_second_meeting(self, world: Any, simulator: RunningSimulator) -> None:
        people, container, _ = world
        event = scheduled(appointment(attendees=(), online=False))
        await deliver(container, event)
        people.mappings.rows.clear()
        await deliver(container, event, **{"connector-attempt": 1})
        assert len(simulator.state.events_of(ORGANIZER)) == 1
