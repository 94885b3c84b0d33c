"""The room Graph adapters through the real msgraph-sdk against the HTTPS simulator."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local.graphsim.server import RunningSimulator
from shared.adapters.graph.calendar import SOURCE_KEY_PROPERTY, GraphCalendarGateway
from shared.adapters.graph.rooms import GraphRoomReader
from shared.adapters.graph.subscriptions import GraphSubscriptionGateway
from shared.app.rooms import upkeep as timers
from shared.app.rooms.worker import is_tagged
from shared.config import Settings
from shared.domain.rooms import renewal
from shared.errors import NotFound
from tests.graphsim.receiver import Receiver, running_receiver, wait_until
from tests.support.builders import sim_settings
from tests.unit.rooms.fakes_rooms import RoomWorld
from tests.unit.rooms.helpers import register

ROOM = "room.alpha@contoso.com"
ANNA = "anna@contoso.com"
START = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)


@pytest.fixture
def settings(simulator: RunningSimulator) -> Settings:
    simulator.state.reset()
    simulator.state.add_user(ANNA, "Anna")
    simulator.state.add_room(ROOM, "Alpha", capacity=8, building="HQ")
    tenant = next(iter(simulator.state.tenants()))
    simulator.state.add_app("client-1", "secret-1", tenant,
                            roles=["Calendars.ReadWrite", "User.Read.All", "Place.Read.All"])
    return sim_settings(simulator)


@pytest.fixture
async def reader(settings: Settings) -> AsyncIterator[GraphRoomReader]:
    reader = GraphRoomReader.from_settings(settings)
    yield reader
    await reader.close()


@pytest.fixture
async def subscriptions(settings: Settings) -> AsyncIterator[GraphSubscriptionGateway]:
    gateway = GraphSubscriptionGateway.from_settings(settings)
    yield gateway
    await gateway.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as rx:
        yield rx


def meeting(subject: str = "Sprint review", hours: int = 0) -> dict[str, Any]:
    start = START + timedelta(hours=hours)
    return {"subject": subject,
            "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
            "end": {"dateTime": (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
            "attendees": [{"type": "resource", "emailAddress": {"address": ROOM, "name": "Alpha"}}],
            "location": {"displayName": "Alpha", "locationEmailAddress": ROOM}}


class TestSubscriptions:
    async def test_create_renew_delete_with_the_handshake(self, subscriptions: GraphSubscriptionGateway,
                                                         receiver: Receiver, simulator: RunningSimulator) -> None:
        now = datetime.now(UTC)
        info = await subscriptions.create(ROOM, notification_url=receiver.url(),
                                          lifecycle_url=receiver.url("/api/graph/lifecycle"),
                                          client_state="r1~n~m~" + ROOM, expires_at=renewal.next_expiry(now))
        assert {v["path"] for v in receiver.validations} == {"/api/graph/notifications", "/api/graph/lifecycle"}
        assert abs((info.expires_at - renewal.next_expiry(now)).total_seconds()) < 5
        renewed = await subscriptions.renew(info.id, now + timedelta(days=1))
        assert abs((renewed.expires_at - (now + timedelta(days=1))).total_seconds()) < 5
        await subscriptions.reauthorize(info.id)
        assert info.id in await subscriptions.live()
        await subscriptions.delete(info.id)
        assert info.id not in await subscriptions.live()
        with pytest.raises(NotFound):
            await subscriptions.renew(info.id, now + timedelta(days=1))

    async def test_an_expired_subscription_cannot_be_renewed(self, subscriptions: GraphSubscriptionGateway,
                                                             receiver: Receiver, simulator: RunningSimulator) -> None:
        info = await subscriptions.create(ROOM, notification_url=receiver.url(),
                                          lifecycle_url=receiver.url("/api/graph/lifecycle"), client_state="cs",
                                          expires_at=datetime.now(UTC) + timedelta(hours=2))
        simulator.state.expire_subscription(info.id)
        with pytest.raises(NotFound):
            await subscriptions.renew(info.id, datetime.now(UTC) + timedelta(days=1))


class TestRenewalByGraphsExpiry:
    async def test_a_shorter_lifetime_granted_by_graph_is_renewed_before_it_lapses(
            self, settings: Settings, simulator: RunningSimulator, receiver: Receiver) -> None:
        world = RoomWorld(now=datetime.now(UTC))
        gateway = GraphSubscriptionGateway.from_settings(settings)
        world.subscriptions = gateway  # type: ignore[assignment]
        services = world.services(public_base_url=receiver.base_url)
        try:
            await register(world, services)
            sub_id = world.rooms.rows[ROOM].subscription_id
            assert world.rooms.rows[ROOM].expires_at > world.now + timedelta(days=6)  # as asked: 7 days
            simulator.state.set_subscription_lifetime(60)  # Graph's view: an hour left
            simulator.state.clear_requests()
            world.now = datetime.now(UTC)
            await timers.renew_subscriptions(services.upkeep())
            [graphs] = [s for s in simulator.state.subscriptions() if s["id"] == sub_id]
            granted = datetime.fromisoformat(graphs["expirationDateTime"].replace("Z", "")[:26]).replace(tzinfo=UTC)
            assert not graphs["expired"] and granted <= datetime.now(UTC) + timedelta(minutes=60)
            assert [r["method"] for r in simulator.state.requests() if sub_id in r["path"]] == ["PATCH"]
            room = world.rooms.rows[ROOM]
            assert room.subscription_id == sub_id and abs((room.expires_at - granted).total_seconds()) < 1
        finally:
            await gateway.close()


class TestRoomReads:
    async def test_the_rooms_auto_accepted_copy_is_read_with_the_organizers_ical_uid(
            self, reader: GraphRoomReader, settings: Settings, simulator: RunningSimulator) -> None:
        calendar = GraphCalendarGateway.from_settings(settings)
        try:
            created = await calendar.create(ANNA, meeting(), transaction_id=str(uuid.uuid4()), source_key="k 1")
            ours = created.ical_uid
            assert ours and await calendar.ical_uid(ANNA, created.id) == ours
        finally:
            await calendar.close()
        copies = wait_until(lambda: simulator.state.events_of(ROOM))
        copy = await reader.get_event(ROOM, copies[0]["id"])
        assert copy is not None and copy["iCalUId"] == ours
        assert not is_tagged(copy)  # the room's copy does not carry our extended property
        assert copy["organizer"]["emailAddress"]["address"].lower() == ANNA
        assert await reader.get_event(ROOM, "AAMkNotThere") is None

    async def test_a_tagged_event_reads_as_ours(self, reader: GraphRoomReader, simulator: RunningSimulator) -> None:
        created = simulator.state.outlook_create(ROOM, {**meeting(), "singleValueExtendedProperties": [
            {"id": SOURCE_KEY_PROPERTY, "value": "src reservation/1"}]})
        event = await reader.get_event(ROOM, created["id"])
        assert event is not None and is_tagged(event)

    async def test_calendar_view_delta_rounds(self, reader: GraphRoomReader, simulator: RunningSimulator) -> None:
        first = simulator.state.outlook_create(ROOM, meeting("First"))
        window = (START - timedelta(days=1), START + timedelta(days=30))
        initial = await reader.calendar_delta_page(ROOM, None, *window)
        assert [e["id"] for e in initial.events] == [first["id"]] and initial.delta_link and not initial.next_link
        second = simulator.state.outlook_create(ROOM, meeting("Second", hours=3))
        simulator.state.outlook_delete(ROOM, first["id"])
        later = await reader.calendar_delta_page(ROOM, initial.delta_link, *window)
        assert [e["id"] for e in later.events] == [second["id"]]
        assert later.removed == [first["id"]]
        simulator.state.expire_delta_tokens()
        with pytest.raises(NotFound):
            await reader.calendar_delta_page(ROOM, later.delta_link, *window)

    async def test_a_round_is_read_one_page_at_a_time(self, reader: GraphRoomReader,
                                                      simulator: RunningSimulator) -> None:
        created = [simulator.state.outlook_create(ROOM, meeting(f"M{n}", hours=n + 1))["id"] for n in range(12)]
        window = (START - timedelta(days=1), START + timedelta(days=30))
        page = await reader.calendar_delta_page(ROOM, None, *window)
        assert page.next_link and not page.delta_link and len(page.events) == 10  # Graph's default page
        again = await reader.calendar_delta_page(ROOM, page.next_link, *window)  # a step that runs twice
        last = await reader.calendar_delta_page(ROOM, page.next_link, *window)
        assert [e["id"] for e in again.events] == [e["id"] for e in last.events]
        assert last.delta_link and not last.next_link
        assert sorted(e["id"] for e in page.events + last.events) == sorted(created)

    async def test_places_rooms(self, reader: GraphRoomReader) -> None:
        [room] = await reader.list_rooms()
        assert room["emailAddress"] == ROOM and room["displayName"] == "Alpha" and room["capacity"] == 8


class TestUsersDelta:
    async def test_disabled_and_removed_users_show_in_the_next_round(self, reader: GraphRoomReader,
                                                                     simulator: RunningSimulator) -> None:
        simulator.state.add_user("leaver@contoso.com", "Leaver")
        simulator.state.add_user("mover@contoso.com", "Mover")
        baseline = await reader.users_delta_page(None)
        ids = {u["userPrincipalName"]: u["id"] for u in baseline.events}
        assert {"anna@contoso.com", "leaver@contoso.com", "mover@contoso.com"} <= set(ids)
        simulator.state.update_user("mover@contoso.com", account_enabled=False)
        simulator.state.delete_user("leaver@contoso.com", permanent=True)
        later = await reader.users_delta_page(baseline.delta_link)
        by_id = {u["id"]: u for u in later.events}
        assert by_id[ids["mover@contoso.com"]]["accountEnabled"] is False
        assert "@removed" in by_id[ids["leaver@contoso.com"]]
