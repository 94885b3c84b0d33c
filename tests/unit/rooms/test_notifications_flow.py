"""Outlook → booking system through webhook, queue and worker, with fakes for Graph and storage."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from shared.app.messaging import GRAPH_QUEUE
from shared.app.rooms import intake
from tests.unit.rooms.fakes_rooms import ROOM, RoomWorld
from tests.unit.rooms.helpers import notification, notify, register, run_graph_queue, subscription_of


@pytest.fixture
def world() -> RoomWorld:
    return RoomWorld()


class TestWebhook:
    async def test_validation_handshake_echoes_the_decoded_token_as_plain_text(self, world: RoomWorld) -> None:
        reply = await intake.receive_notifications(b"", "Validation: Testing client application <&>",
                                                   world.services().intake(), lifecycle=False)
        assert reply.status == 200
        assert reply.content_type.startswith("text/plain")
        assert reply.body == b"Validation: Testing client application <&>"
        assert world.queue.sent == []

    async def test_authentic_items_are_queued_in_the_rooms_session_and_answered_202(self, world: RoomWorld) -> None:
        services = world.services()
        await register(world, services)
        sub_id, state = subscription_of(world)
        graph_calls = world.graph.gets
        reply = await notify(services, notification(sub_id, state, "created", "E1"))
        assert reply.status == 202
        [message] = world.sent_to(GRAPH_QUEUE)
        assert message.session_id == ROOM
        assert json.loads(message.body)["event_id"] == "E1"
        assert world.graph.gets == graph_calls  # nothing read on the request path

    async def test_forged_client_state_and_unknown_subscription_are_dropped_and_counted(
            self, world: RoomWorld, caplog: pytest.LogCaptureFixture) -> None:
        services = world.services()
        await register(world, services)
        sub_id, state = subscription_of(world)
        reply = await notify(services, notification(sub_id, "guessed-secret", "created", "E1"),
                             notification("sub-unknown", "r1~x~y~" + ROOM, "created", "E2"),
                             notification(sub_id, state, "created", "E3"))
        assert reply.status == 202
        assert [json.loads(m.body)["event_id"] for m in world.sent_to(GRAPH_QUEUE)] == ["E3"]
        assert world.dropped["clientState mismatch or unknown subscription"] == 2
        assert state not in caplog.text and "guessed-secret" not in caplog.text

    async def test_a_valid_state_of_a_replaced_subscription_is_dropped_by_the_worker(self, world: RoomWorld) -> None:
        services = world.services()
        await register(world, services)
        old_id, old_state = subscription_of(world)
        await world.rooms.delete(ROOM)
        await register(world, services)  # a new subscription replaces the old one
        world.advance(minutes=1)
        world.graph.book(ROOM, "E1")
        await notify(services, notification(old_id, old_state, "created", "E1"))
        assert await run_graph_queue(world, services) == ["stale subscription"]
        assert world.log.items == [] and world.dropped["stale subscription"] == 1

    async def test_not_a_notification_collection_is_a_400(self, world: RoomWorld) -> None:
        reply = await intake.receive_notifications(b"nope", None, world.services().intake(), lifecycle=False)
        assert reply.status == 400


class TestReservationsFromOutlook:
    async def test_one_created_and_several_updated_give_one_reservation(self, world: RoomWorld) -> None:
        services = world.services()
        await register(world, services)
        sub_id, state = subscription_of(world)
        world.advance(minutes=1)
        world.graph.book(ROOM, "E1")
        await notify(services, notification(sub_id, state, "created", "E1"))
        world.graph.touch(ROOM, "E1")  # the auto-accept: new changeKey, same content
        await notify(services, notification(sub_id, state, "updated", "E1"),
                     notification(sub_id, state, "updated", "E1"))
        await run_graph_queue(world, services)
        assert [e["type"] for e in world.log.items] == ["reservation.created"]
        [created] = world.log.items
        assert created["subject"] == f"room/{ROOM}/event/ical-E1"
        data = created["data"]
        assert data["room"] == ROOM and data["organizer"]["email"] == "anna@contoso.com"
        assert data["attendeeCount"] == 1 and data["start"] == "2026-05-04T10:00:00+02:00"
        assert data["graph"]["eventId"] == "E1"

    async def test_a_real_change_is_one_update_and_a_delete_one_cancellation(self, world: RoomWorld) -> None:
        services = world.services()
        await register(world, services)
        sub_id, state = subscription_of(world)
        world.advance(minutes=1)
        world.graph.book(ROOM, "E1")
        await notify(services, notification(sub_id, state, "created", "E1"))
        await run_graph_queue(world, services)
        world.graph.touch(ROOM, "E1", subject="Board meeting")
        await notify(services, notification(sub_id, state, "updated", "E1"))
        await run_graph_queue(world, services)
        world.graph.remove(ROOM, "E1")
        await notify(services, notification(sub_id, state, "deleted", "E1"),
                     notification(sub_id, state, "deleted", "E1"))
        await run_graph_queue(world, services)
        assert [e["type"] for e in world.log.items] == [
            "reservation.created", "reservation.updated", "reservation.cancelled"]
        assert world.log.items[1]["data"]["subject"] == "Board meeting"
        assert len({e["id"] for e in world.log.items}) == 3

    async def test_a_storm_for_one_room_publishes_each_booking_once(self, world: RoomWorld) -> None:
        services = world.services()
        await register(world, services)
        sub_id, state = subscription_of(world)
        world.advance(minutes=1)
        items = []
        for n in range(40):
            world.graph.book(ROOM, f"E{n}", start=f"2026-05-{4 + n % 20:02d}T08:00:00",
                             end=f"2026-05-{4 + n % 20:02d}T09:00:00")
            items += [notification(sub_id, state, "created", f"E{n}"), notification(sub_id, state, "updated", f"E{n}")]
        for n in range(0, 80, 10):
            await notify(services, *items[n:n + 10])
        await run_graph_queue(world, services)
        created = world.log.of_type("reservation.created")
        assert sorted(e["data"]["graph"]["eventId"] for e in created) == sorted(f"E{n}" for n in range(40))
        assert world.log.of_type("reservation.updated") == []

    async def test_events_created_before_activation_are_ignored_unless_backfilled(self, world: RoomWorld) -> None:
        world.graph.book(ROOM, "OLD", created=world.now - timedelta(days=3))
        services = world.services()
        await register(world, services)
        sub_id, state = subscription_of(world)
        world.graph.touch(ROOM, "OLD", subject="Renamed")
        await notify(services, notification(sub_id, state, "updated", "OLD"))
        await run_graph_queue(world, services)
        assert world.log.items == []
        from shared.app.rooms import registration

        reply = await registration.start_backfill(ROOM, "2026-04-01", services.registration())
        assert reply.status == 202
        listed = (await registration.list_rooms(services.registration())).json()["value"][0]
        assert listed["backfill"]["status"] == "queued"
        await run_graph_queue(world, services)
        assert [e["data"]["graph"]["eventId"] for e in world.log.of_type("reservation.created")] == ["OLD"]
        listed = (await registration.list_rooms(services.registration())).json()["value"][0]
        assert listed["backfill"]["status"] == "done" and listed["backfill"]["published"] == 1

    async def test_the_connectors_own_bookings_are_not_echoed(self, world: RoomWorld) -> None:
        from shared.adapters.graph.calendar import SOURCE_KEY_PROPERTY

        services = world.services()
        await register(world, services)
        sub_id, state = subscription_of(world)
        world.advance(minutes=1)
        tag = [{"id": SOURCE_KEY_PROPERTY, "value": "src reservation/1"}]
        world.graph.book(ROOM, "TAGGED", singleValueExtendedProperties=tag)
        world.graph.book(ROOM, "COPY", ical="ical-of-our-meeting")
        await world.own_writes.record("ical-of-our-meeting", "src reservation/2")
        await notify(services, notification(sub_id, state, "created", "TAGGED"),
                     notification(sub_id, state, "created", "COPY"))
        await run_graph_queue(world, services)
        world.graph.touch(ROOM, "COPY", subject="changed by the booking system")
        await notify(services, notification(sub_id, state, "updated", "COPY"))
        await run_graph_queue(world, services)
        assert world.log.items == []


class TestLifecycle:
    async def test_missed_resyncs_through_delta_with_nothing_lost(self, world: RoomWorld) -> None:
        services = world.services()
        await register(world, services)
        sub_id, state = subscription_of(world)
        world.advance(minutes=1)
        for n in range(5):
            world.graph.book(ROOM, f"GAP{n}")  # notifications for these were dropped by Graph
        world.graph.book(ROOM, "SEEN")
        await notify(services, notification(sub_id, state, "created", "SEEN"))
        await run_graph_queue(world, services)
        await notify(services, {"subscriptionId": sub_id, "clientState": state, "lifecycleEvent": "missed",
                                "tenantId": "t", "subscriptionExpirationDateTime": "2026-05-08T11:00:00Z"},
                     lifecycle=True)
        await run_graph_queue(world, services)
        ids = sorted(e["data"]["graph"]["eventId"] for e in world.log.of_type("reservation.created"))
        assert ids == ["GAP0", "GAP1", "GAP2", "GAP3", "GAP4", "SEEN"]

    async def test_an_expired_delta_link_restarts_the_round_without_republishing(self, world: RoomWorld) -> None:
        services = world.services()
        await register(world, services)
        world.advance(minutes=1)
        world.graph.book(ROOM, "A")
        world.graph.expired_links.add(world.rooms.rows[ROOM].delta_link or "")
        from shared.app.rooms.worker import resync

        await resync(world.rooms.rows[ROOM], services.worker())
        await resync(world.rooms.rows[ROOM], services.worker())
        assert len(world.log.of_type("reservation.created")) == 1

    async def test_subscription_removed_recreates_and_resyncs_the_gap(self, world: RoomWorld) -> None:
        services = world.services()
        await register(world, services)
        sub_id, state = subscription_of(world)
        world.subscriptions.subs.pop(sub_id)
        world.advance(minutes=1)
        world.graph.book(ROOM, "IN-GAP")
        removed = {"subscriptionId": sub_id, "clientState": state, "lifecycleEvent": "subscriptionRemoved"}
        await notify(services, removed, lifecycle=True)
        await run_graph_queue(world, services)
        new_id, _ = subscription_of(world)
        assert new_id != sub_id and new_id in world.subscriptions.subs
        assert [e["data"]["graph"]["eventId"] for e in world.log.items] == ["IN-GAP"]

    async def test_reauthorization_required_renews_with_one_patch(self, world: RoomWorld) -> None:
        services = world.services()
        await register(world, services)
        sub_id, state = subscription_of(world)
        world.subscriptions.calls.clear()
        world.advance(hours=1)
        await notify(services, {"subscriptionId": sub_id, "clientState": state,
                                "lifecycleEvent": "reauthorizationRequired"}, lifecycle=True)
        await run_graph_queue(world, services)
        assert world.subscriptions.calls == ["renew"]
        assert world.rooms.rows[ROOM].expires_at == world.subscriptions.subs[sub_id]["expires"]



class TestNoWorkingCredential:
    async def test_room_work_waits_for_a_credential_instead_of_dead_lettering(self, world: RoomWorld) -> None:
        from shared.app.messaging import DEFERRAL_PROPERTY, Delivery
        from shared.app.rooms import worker
        from shared.errors import CredentialUnavailable
        services = world.services()
        await register(world, services)
        sub_id, state = subscription_of(world)
        world.graph.book(ROOM, "E1")
        await notify(services, notification(sub_id, state, "created", "E1"))

        async def no_credential(*args: object, **kwargs: object) -> None:
            raise CredentialUnavailable("AADSTS7000222: the client secret has expired")

        original = world.graph.get_event
        world.graph.get_event = no_credential  # type: ignore[method-assign]
        [queued] = world.take(GRAPH_QUEUE)
        delivery = Delivery(queued.message_id, 1, queued.session_id, queued.application_properties)
        assert await worker.run_work(queued.body, delivery, services.worker()) == "deferred"
        [deferred] = world.take(GRAPH_QUEUE)
        assert deferred.session_id == ROOM and deferred.application_properties[DEFERRAL_PROPERTY] == 1
        assert deferred.scheduled_enqueue_time is not None and world.deadletters.records == {}
        world.graph.get_event = original  # type: ignore[method-assign]
        redelivery = Delivery(deferred.message_id, 1, deferred.session_id, deferred.application_properties)
        assert world.credential_state.state.unavailable_since is not None  # the pause is shown
        assert await worker.run_work(deferred.body, redelivery, services.worker()) != "deferred"
        assert world.deadletters.records == {}
        assert world.credential_state.state.available_at is not None
