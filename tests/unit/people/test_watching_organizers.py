"""Watching organizers end to end over the fakes: the operator API, Graph's notifications through the rooms'
webhook and worker, the renewal timer and lifecycle notifications, and what reaches the scheduling system."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.app.messaging import GRAPH_QUEUE
from shared.app.people import organizers
from shared.app.people.watching import expect_connector_write
from shared.app.rooms import upkeep
from shared.bootstrap import Container
from shared.domain.rooms import renewal
from shared.domain.tagging import SOURCE_KEY_PROPERTY
from tests.unit.rooms.fakes_rooms import RoomWorld
from tests.unit.rooms.helpers import notification, notify, run_graph_queue

RITA = "rita@contoso.com"


@pytest.fixture
def world() -> RoomWorld:
    return RoomWorld()


async def watch(world: RoomWorld, services: Container) -> tuple[str, str]:
    reply = await organizers.put_organizer(RITA, services.organizers())
    assert reply.status == 201, reply.body
    await run_graph_queue(world, services)
    row = world.organizers.rows[RITA]
    assert row.subscription_id and row.client_state
    return row.subscription_id, row.client_state


def meeting(world: RoomWorld, event_id: str = "E1", *, tagged: bool = True, **extra: Any) -> dict[str, Any]:
    props = [{"id": SOURCE_KEY_PROPERTY, "value": "ebms appointment/A-1"}] if tagged else []
    return world.graph.book(RITA, event_id, organizer=RITA, start="2026-06-01T08:00:00", end="2026-06-01T09:00:00",
                            singleValueExtendedProperties=props, **extra)


def answer(world: RoomWorld, event_id: str, email: str, response: str) -> None:
    current = world.graph.events[RITA][event_id]["attendees"]
    attendees = [dict(a, status={"response": response, "time": "2026-05-02T10:00:00Z"})
                 if a["emailAddress"]["address"] == email else a for a in current]
    world.graph.touch(RITA, event_id, attendees=attendees)


class TestOperatorApi:
    async def test_watching_subscribes_to_the_organizers_calendar_with_an_organizer_client_state(
            self, world: RoomWorld) -> None:
        services = world.services()
        sub_id, state = await watch(world, services)
        assert state.startswith("o1~") and state.endswith("~" + RITA)
        assert world.subscriptions.subs[sub_id]["room"] == RITA
        listed = (await organizers.list_organizers(services.organizers())).json()["value"]
        assert [(o["email"], o["subscribed"]) for o in listed] == [(RITA, True)]
        assert state not in json.dumps(listed)
        again = await organizers.put_organizer(RITA.upper(), services.organizers())
        assert again.status == 200 and world.subscriptions.calls == ["create"]

    async def test_not_an_email_is_400_and_an_unknown_organizer_404_on_delete(self, world: RoomWorld) -> None:
        services = world.services()
        assert (await organizers.put_organizer("nobody", services.organizers())).status == 400
        assert (await organizers.delete_organizer(RITA, services.organizers())).status == 404

    async def test_stopping_deletes_the_subscription_and_forgets_the_meetings(self, world: RoomWorld) -> None:
        services = world.services()
        sub_id, state = await watch(world, services)
        meeting(world)
        await notify(services, notification(sub_id, state, "created", "E1"))
        await run_graph_queue(world, services)
        assert world.watches.rows
        assert (await organizers.delete_organizer(RITA, services.organizers())).status == 204
        assert sub_id not in world.subscriptions.subs and not world.organizers.rows and not world.watches.rows


class TestNotifications:
    async def test_an_answer_is_published_once_and_a_repeated_notification_publishes_nothing(
            self, world: RoomWorld) -> None:
        services = world.services()
        sub_id, state = await watch(world, services)
        meeting(world)
        await notify(services, notification(sub_id, state, "created", "E1"))
        [message] = world.sent_to(GRAPH_QUEUE)
        assert message.session_id == RITA and json.loads(message.body)["calendar"] == "organizer"
        assert await run_graph_queue(world, services) == ["baseline"]
        answer(world, "E1", "ben@contoso.com", "accepted")
        item = notification(sub_id, state, "updated", "E1")
        await notify(services, item)
        await run_graph_queue(world, services)
        [published] = world.log.of_type("appointment.response")
        assert published["subject"] == "appointment/A-1"
        assert (published["data"]["attendee"]["email"], published["data"]["response"]) == ("ben@contoso.com",
                                                                                           "accepted")
        item["resourceData"]["@odata.etag"] = 'W/"again"'  # a repeat the queue does not drop as a duplicate
        await notify(services, item)
        assert await run_graph_queue(world, services) == ["duplicate"]
        assert len(world.log.items) == 1

    async def test_the_organizer_moving_it_in_outlook_is_published_but_not_the_connectors_own_move(
            self, world: RoomWorld) -> None:
        services = world.services()
        sub_id, state = await watch(world, services)
        meeting(world)
        await notify(services, notification(sub_id, state, "created", "E1"))
        await run_graph_queue(world, services)
        start, end = world.now.replace(year=2026, month=6, day=2, hour=8), world.now.replace(month=6, day=2, hour=9)
        await expect_connector_write(RITA, "E1", "A-1", start, end, world.watches)
        world.graph.touch(RITA, "E1", start={"dateTime": "2026-06-02T08:00:00.0000000", "timeZone": "UTC"},
                          end={"dateTime": "2026-06-02T09:00:00.0000000", "timeZone": "UTC"})
        await notify(services, notification(sub_id, state, "updated", "E1") | {"id": "n2"})
        await run_graph_queue(world, services)
        assert world.log.items == []
        world.graph.touch(RITA, "E1", start={"dateTime": "2026-06-02T10:00:00.0000000", "timeZone": "UTC"},
                          end={"dateTime": "2026-06-02T11:00:00.0000000", "timeZone": "UTC"})
        await notify(services, notification(sub_id, state, "updated", "E1") | {"id": "n3"})
        await run_graph_queue(world, services)
        [moved] = world.log.of_type("appointment.changed-in-outlook")
        assert (moved["data"]["start"], moved["data"]["end"]) == ("2026-06-02T12:00:00+02:00",
                                                                  "2026-06-02T13:00:00+02:00")

    async def test_meetings_the_connector_did_not_write_are_ignored(self, world: RoomWorld) -> None:
        services = world.services()
        sub_id, state = await watch(world, services)
        meeting(world, "OWN", tagged=False)
        answer(world, "OWN", "ben@contoso.com", "accepted")
        await notify(services, notification(sub_id, state, "updated", "OWN"))
        assert await run_graph_queue(world, services) == ["not an appointment"]
        assert world.log.items == [] and not world.watches.rows

    async def test_a_rooms_client_state_relabelled_as_an_organizers_is_forged(self, world: RoomWorld) -> None:
        services = world.services()
        sub_id, state = await watch(world, services)
        await notify(services, notification(sub_id, "r1" + state[2:], "created", "E1"))
        assert world.sent_to(GRAPH_QUEUE) == []
        assert world.dropped["clientState mismatch or unknown subscription"] == 1

    async def test_a_replaced_subscriptions_notification_is_dropped(self, world: RoomWorld) -> None:
        services = world.services()
        old_id, old_state = await watch(world, services)
        await organizers.delete_organizer(RITA, services.organizers())
        await watch(world, services)
        meeting(world)
        await notify(services, notification(old_id, old_state, "created", "E1"))
        assert await run_graph_queue(world, services) == ["stale subscription"]


class TestKeepingTheSubscription:
    async def test_the_rooms_timer_renews_an_organizers_subscription(self, world: RoomWorld) -> None:
        services = world.services()
        sub_id, _ = await watch(world, services)
        world.advance(days=5)
        counts = await upkeep.renew_subscriptions(services.upkeep())
        assert counts == {"rooms": 0, "failing": 0, "organizers": 1}
        assert world.organizers.rows[RITA].expires_at == renewal.next_expiry(world.now)
        assert world.organizers.rows[RITA].subscription_id == sub_id

    async def test_a_removed_subscription_is_recreated_and_the_known_meetings_read_again(
            self, world: RoomWorld) -> None:
        services = world.services()
        sub_id, state = await watch(world, services)
        meeting(world)
        await notify(services, notification(sub_id, state, "created", "E1"))
        await run_graph_queue(world, services)
        answer(world, "E1", "ben@contoso.com", "declined")  # while no subscription notifies
        world.subscriptions.subs.pop(sub_id)
        removed = {"subscriptionId": sub_id, "clientState": state, "lifecycleEvent": "subscriptionRemoved"}
        await notify(services, removed, lifecycle=True)
        assert await run_graph_queue(world, services) == ["recreated", "resynced"]
        assert world.organizers.rows[RITA].subscription_id != sub_id
        assert [e["data"]["response"] for e in world.log.of_type("appointment.response")] == ["declined"]
