"""Subscriptions that never lapse, the users directory, and delivery to the booking system."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from shared.adapters.webhook import StandardWebhookSender
from shared.app.messaging import OUTBOUND_QUEUE, WEBHOOK_MAX_ATTEMPTS
from shared.app.operator import deadletters as manage
from shared.app.rooms import publisher, registration
from shared.app.rooms import upkeep as timers
from shared.domain.rooms import renewal
from shared.errors import Forbidden, UnknownMailbox
from tests.unit.rooms.fakes_rooms import ROOM, WHSEC, RoomWorld
from tests.unit.rooms.helpers import (
    notification,
    notify,
    register,
    run_graph_queue,
    run_outbound_queue,
    subscription_of,
)


@pytest.fixture
def world() -> RoomWorld:
    return RoomWorld()


class TestSubscriptionTimer:
    async def test_a_subscription_nearing_expiry_is_renewed(self, world: RoomWorld) -> None:
        services = world.services()
        await register(world, services)
        sub_id, _ = subscription_of(world)
        world.advance(days=4)
        await timers.renew_subscriptions(services.upkeep())
        assert world.rooms.rows[ROOM].subscription_id == sub_id
        assert world.rooms.rows[ROOM].expires_at == renewal.next_expiry(world.now)
        world.subscriptions.calls.clear()
        await timers.renew_subscriptions(services.upkeep())  # not due again yet
        assert world.subscriptions.calls == []

    async def test_graphs_shorter_lifetime_decides_so_the_subscription_never_lapses(self, world: RoomWorld) -> None:
        services = world.services()
        await register(world, services)
        sub_id, _ = subscription_of(world)
        world.subscriptions.shorten(timedelta(hours=1))  # Graph's expiry is now earlier than the one stored
        for _ in range(6):  # three hours of timer runs every 30 minutes
            world.advance(minutes=30)
            await timers.renew_subscriptions(services.upkeep())
            room = world.rooms.rows[ROOM]
            assert room.subscription_id == sub_id  # renewed in time, never lapsed and recreated
            assert room.expires_at == world.subscriptions.subs[sub_id]["expires"]  # Graph's answer, stored
        assert "create" not in world.subscriptions.calls[1:]
        assert [m for _, m in world.queue.sent if "resync" in m.body] == []

    async def test_the_expiry_stored_on_create_and_renew_is_the_one_graph_grants(self, world: RoomWorld) -> None:
        world.subscriptions.grant = timedelta(days=1)
        services = world.services()
        await register(world, services)
        assert world.rooms.rows[ROOM].expires_at == world.now + timedelta(days=1)
        world.advance(hours=20)
        await timers.renew_subscriptions(services.upkeep())
        assert world.rooms.rows[ROOM].expires_at == world.now + timedelta(days=1)

    async def test_an_expired_one_is_recreated_and_the_gap_resynced(self, world: RoomWorld) -> None:
        services = world.services()
        await register(world, services)
        old_id, _ = subscription_of(world)
        world.advance(days=8)  # the timer did not run for a week: the subscription lapsed
        world.graph.book(ROOM, "MADE-IN-GAP")
        await timers.renew_subscriptions(services.upkeep())
        new_id, new_state = subscription_of(world)
        assert new_id != old_id
        await run_graph_queue(world, services)
        assert [e["data"]["graph"]["eventId"] for e in world.log.items] == ["MADE-IN-GAP"]
        # and the new subscription's notifications are taken
        world.graph.book(ROOM, "AFTER")
        await notify(services, notification(new_id, new_state, "created", "AFTER"))
        await run_graph_queue(world, services)
        assert len(world.log.items) == 2

    async def test_a_subscription_that_vanished_early_is_recreated_and_resynced(self, world: RoomWorld) -> None:
        services = world.services()
        await register(world, services)
        old_id, _ = subscription_of(world)
        world.subscriptions.subs.pop(old_id)  # deleted at Graph; no lifecycle notification came
        world.advance(minutes=5)
        world.graph.book(ROOM, "IN-GAP")
        await timers.renew_subscriptions(services.upkeep())
        assert subscription_of(world)[0] != old_id
        await run_graph_queue(world, services)
        assert [e["data"]["graph"]["eventId"] for e in world.log.items] == ["IN-GAP"]

    async def test_a_room_that_cannot_be_restored_says_why_in_the_list_and_the_log_on_every_run(
            self, world: RoomWorld, caplog: pytest.LogCaptureFixture) -> None:
        services = world.services()
        await register(world, services)
        world.advance(days=8)
        world.subscriptions.fail_create = Forbidden("access to mailbox room.alpha@contoso.com denied: 403")
        for _ in range(2):
            caplog.clear()
            counts = await timers.renew_subscriptions(services.upkeep())
            assert counts == {"rooms": 1, "failing": 1, "organizers": 0}
            assert "cannot be restored" in caplog.text and "403" in caplog.text
        [listed] = (await registration.list_rooms(services.registration())).json()["value"]
        assert listed["status"].startswith("failing since 2026-05-09")
        assert "403" in listed["status"] and not listed["subscribed"]
        world.subscriptions.fail_create = None
        await timers.renew_subscriptions(services.upkeep())
        [listed] = (await registration.list_rooms(services.registration())).json()["value"]
        assert listed["status"].startswith("subscribed until") and listed["failure"] is None


class TestRegistration:
    async def test_available_rooms_come_from_places(self, world: RoomWorld) -> None:
        world.graph.rooms = [{"id": "1", "emailAddress": ROOM, "displayName": "Alpha", "capacity": 8, "x": 1}]
        reply = await registration.available_rooms(world.services().registration())
        assert reply.json() == {"value": [{"id": "1", "emailAddress": ROOM, "displayName": "Alpha", "capacity": 8}]}

    async def test_delete_unsubscribes(self, world: RoomWorld) -> None:
        services = world.services()
        await register(world, services)
        assert (await registration.delete_room(ROOM, services.registration())).status == 204
        assert world.subscriptions.subs == {} and world.rooms.rows == {}

    async def test_subscription_urls_point_at_the_public_base_url(self, world: RoomWorld) -> None:
        await register(world, world.services(public_base_url="https://connector.example.com"))
        [sub] = world.subscriptions.subs.values()
        assert sub["notificationUrl"] == "https://connector.example.com/api/graph/notifications"
        assert sub["lifecycleUrl"] == "https://connector.example.com/api/graph/lifecycle"

    async def test_an_unknown_mailbox_is_a_404_naming_it_and_nothing_is_stored(self, world: RoomWorld) -> None:
        world.subscriptions.fail_create = UnknownMailbox("mailbox nobody@contoso.com is unknown to Microsoft 365")
        reply = await registration.put_room("nobody@contoso.com", b"", world.services().registration())
        assert (reply.status, reply.content_type) == (404, "application/problem+json")
        assert "nobody@contoso.com" in reply.json()["detail"]
        assert world.rooms.rows == {}

    async def test_a_known_room_whose_mailbox_vanished_is_kept_as_failing(self, world: RoomWorld) -> None:
        services = world.services()
        await register(world, services)
        world.rooms.rows[ROOM] = replace(world.rooms.rows[ROOM], subscription_id=None)
        world.subscriptions.fail_create = UnknownMailbox(f"mailbox {ROOM} is unknown to Microsoft 365")
        assert (await registration.put_room(ROOM, b"", services.registration())).status == 502
        assert "unknown to Microsoft 365" in (world.rooms.rows[ROOM].failure or "")

    async def test_without_a_client_state_key_registration_names_the_setting(self, world: RoomWorld) -> None:
        reply = await registration.put_room(ROOM, b"", world.services(client_state_keys=()).registration())
        assert reply.status == 409 and b"CONNECTOR_CLIENT_STATE_KEY" in reply.body


class TestUsersDirectory:
    async def test_disabled_removed_and_new_users_reach_the_booking_system(self, world: RoomWorld) -> None:
        services = world.services()
        for uid in ("u1", "u2", "u3"):
            world.graph.set_user(uid, userPrincipalName=f"{uid}@contoso.com", accountEnabled=True, displayName=uid)
        assert (await timers.sync_users_directory(services.upkeep()))["published"] == 0  # baseline
        world.graph.set_user("u1", accountEnabled=False)
        world.graph.remove_user("u2")
        world.graph.set_user("u4", userPrincipalName="u4@contoso.com", accountEnabled=True)
        await timers.sync_users_directory(services.upkeep())
        published = {(e["type"], e["subject"]) for e in world.log.items}
        assert published == {("user.deactivated", "user/u1"), ("user.deactivated", "user/u2"),
                             ("user.created", "user/u4")}
        u1 = next(e for e in world.log.items if e["subject"] == "user/u1")
        assert u1["data"]["accountEnabled"] is False and u1["data"]["userPrincipalName"] == "u1@contoso.com"
        await timers.sync_users_directory(services.upkeep())
        assert len(world.log.items) == 3


class TestOutbound:
    async def _reservations(self, world: RoomWorld, *event_ids: str, ical: str | None = None) -> None:
        services = world.services()
        await register(world, services)
        sub_id, state = subscription_of(world)
        world.advance(minutes=1)
        for event_id in event_ids:
            world.graph.book(ROOM, event_id, ical=ical)
            await notify(services, notification(sub_id, state, "created", event_id))
        await run_graph_queue(world, services)

    async def test_a_failing_webhook_is_retried_with_backoff_and_nothing_is_lost(self, world: RoomWorld) -> None:
        await self._reservations(world, "E1")
        services = world.services()
        world.webhook.fail_next = 3
        [event] = world.log.items
        waits = []
        for _ in range(3):
            assert await run_outbound_queue(world, services) == ["rescheduled"]
            [retry] = world.sent_to(OUTBOUND_QUEUE)
            waits.append(retry.scheduled_enqueue_time - world.now)
            assert await run_outbound_queue(world, services) == []  # not due yet
            world.now = retry.scheduled_enqueue_time
        assert waits == sorted(waits) and waits[0] > timedelta(0)
        assert await run_outbound_queue(world, services) == ["delivered"]
        assert [e["id"] for e in world.webhook.sent] == [event["id"]]

    async def test_a_webhook_that_keeps_failing_is_dead_lettered_with_a_reason(self, world: RoomWorld) -> None:
        await self._reservations(world, "E1")
        services = world.services()
        world.webhook.fail_next = 10_000
        for _ in range(WEBHOOK_MAX_ATTEMPTS + 1):
            world.advance(hours=2)
            await run_outbound_queue(world, services)
        [record] = world.deadletters.records.values()
        assert record.queue == OUTBOUND_QUEUE and "did not take event" in record.reason
        assert world.sent_to(OUTBOUND_QUEUE) == []

    async def test_without_a_webhook_url_the_pull_api_still_has_the_events(self, world: RoomWorld) -> None:
        services = world.services(webhook_url=None)
        await register(world, services)
        sub_id, state = subscription_of(world)
        world.advance(minutes=1)
        world.graph.book(ROOM, "E1")
        await notify(services, notification(sub_id, state, "created", "E1"))
        await run_graph_queue(world, services)
        assert world.sent_to(OUTBOUND_QUEUE) == []
        page = (await publisher.pull(None, services.publisher())).json()
        assert [e["type"] for e in page["items"]] == ["reservation.created"]
        assert (await publisher.pull(page["next"], services.publisher())).json()["items"] == []
        assert (await publisher.pull("not-a-cursor", services.publisher())).status == 400
        assert (await publisher.pull("²", services.publisher())).status == 400, "str.isdigit() takes superscripts"


class TestOutboundOrderPerRoom:
    async def _three(self, world: RoomWorld) -> list[str]:
        await TestOutbound()._reservations(world, "E1", "E2", "E3")
        return [e["id"] for e in world.log.items]

    async def test_a_failed_delivery_holds_back_the_rooms_later_events_until_it_succeeds(
            self, world: RoomWorld) -> None:
        published = await self._three(world)
        services = world.services()
        world.webhook.fail_next = 2
        # one wake-up per publication: the first meets the failure, the others find E1 waiting
        assert await run_outbound_queue(world, services) == ["rescheduled", "waiting", "waiting"]
        assert world.webhook.sent == []  # E2 and E3 wait behind E1
        for _ in range(3):
            world.advance(hours=1)
            await run_outbound_queue(world, services)
        assert [e["id"] for e in world.webhook.sent] == published

    async def test_an_event_refused_for_good_is_dead_lettered_and_the_rest_go_on_in_order(
            self, world: RoomWorld) -> None:
        published = await self._three(world)
        services = world.services()
        world.webhook.refused = {published[1]}
        await run_outbound_queue(world, services)
        assert [e["id"] for e in world.webhook.sent] == [published[0], published[2]]
        [record] = world.deadletters.records.values()
        assert "refused event" in record.reason and json.loads(record.body)["id"] == published[1]
        world.webhook.refused = set()
        assert (await manage.replay_dead_letter(record.id, services.operator())).status == 202
        await run_outbound_queue(world, services)
        assert [e["id"] for e in world.webhook.sent] == [published[0], published[2], published[1]]

    async def test_an_exchange_ical_uid_fits_the_queue_ids(self, world: RoomWorld) -> None:
        ical = "040000008200E00074C5B7101A82E008" + "0" * 80  # RecordingQueue refuses ids over 128
        await TestOutbound()._reservations(world, "E1", ical=ical)
        [event] = world.log.items
        assert len(event["subject"]) > 128
        assert await run_outbound_queue(world, world.services()) == ["delivered"]

    async def test_two_rooms_do_not_wait_for_each_other(self, world: RoomWorld) -> None:
        published = await self._three(world)
        services = world.services()
        other = {**world.log.items[0], "id": "other-1", "data": {**world.log.items[0]["data"], "room": "b@contoso.com"}}
        await publisher.publish([other], services.publisher())
        world.webhook.fail_next = 1
        outcomes = await run_outbound_queue(world, services)
        assert "rescheduled" in outcomes and "delivered" in outcomes
        assert [e["id"] for e in world.webhook.sent] == ["other-1"]
        world.advance(hours=1)
        await run_outbound_queue(world, services)
        assert [e["id"] for e in world.webhook.sent] == ["other-1", *published]


class TestSignature:
    async def test_the_signature_verifies_with_standardwebhooks_and_the_id_is_the_event_id(self) -> None:
        seen: list[httpx.Request] = []

        def receiver(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return httpx.Response(503 if len(seen) == 1 else 204)

        sender = StandardWebhookSender("https://booking.example.com/hooks", WHSEC)
        sender._http = httpx.AsyncClient(transport=httpx.MockTransport(receiver))
        event = {"id": "evt-1", "type": "reservation.created", "subject": "room/x/event/y", "data": {"a": "ü"}}
        with pytest.raises(Exception, match="503"):
            await sender.send(event)
        await sender.send(event)
        await sender.close()
        for request in seen:
            headers = dict(request.headers)
            assert headers["webhook-id"] == "evt-1"
            assert Webhook(WHSEC).verify(request.content, headers) == event
            assert request.headers["content-type"] == "application/cloudevents+json"

    def test_a_tampered_body_does_not_verify(self) -> None:
        sender = StandardWebhookSender("https://booking.example.com/hooks", WHSEC)
        headers = sender.headers({"id": "e"}, '{"id":"e"}', datetime.now(UTC))
        with pytest.raises(Exception, match="signature"):
            Webhook(WHSEC).verify('{"id":"f"}', headers)

    async def test_a_secret_read_from_key_vault_is_followed_after_a_rotation(self) -> None:
        rotated = "whsec_" + "cm90YXRlZC1zZWNyZXQtdmFsdWUtMTIzNDU2Nzg5MA=="
        current = [WHSEC]
        seen: list[httpx.Request] = []

        async def from_vault() -> str:
            return current[0]

        sender = StandardWebhookSender("https://booking.example.com/hooks", from_vault)
        sender._http = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: seen.append(r) or httpx.Response(204)))
        await sender.send({"id": "evt-1"})
        current[0] = rotated
        await sender.send({"id": "evt-2"})
        await sender.close()
        assert Webhook(WHSEC).verify(seen[0].content, dict(seen[0].headers)) == {"id": "evt-1"}
        assert Webhook(rotated).verify(seen[1].content, dict(seen[1].headers)) == {"id": "evt-2"}
