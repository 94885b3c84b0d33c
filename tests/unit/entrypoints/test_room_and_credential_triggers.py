"""The room and credential triggers, called with stub requests, messages and timers."""

from __future__ import annotations

import json
import logging

import azure.functions as func
import pytest

import entrypoints.credentials
import entrypoints.rooms
from shared.app.messaging import GRAPH_QUEUE, OUTBOUND_QUEUE
from shared.errors import TransientError
from tests.unit.entrypoints.conftest import Stage, message, request, timer, user_function
from tests.unit.rooms.fakes_rooms import ROOM
from tests.unit.rooms.helpers import notification, subscription_of

ROUTE = {"email": ROOM}


async def register(stage: Stage) -> None:
    response = await user_function(entrypoints.rooms.manage_room)(request(
        "PUT", f"/api/manage/rooms/{ROOM}", route_params=ROUTE))
    assert response.status_code == 201
    await run_graph_queue(stage)


async def run_graph_queue(stage: Stage) -> None:
    while queued := stage.world.take(GRAPH_QUEUE):
        for sent in queued:
            await user_function(entrypoints.rooms.graph_notification_worker)(message(sent))


class TestWebhooks:
    async def test_the_validation_handshake_is_echoed(self, stage: Stage) -> None:
        response = await user_function(entrypoints.rooms.graph_notifications)(request(
            "POST", "/api/graph/notifications", params={"validationToken": "hello <&>"}))
        assert (response.status_code, response.get_body()) == (200, b"hello <&>")

    async def test_a_booking_travels_from_the_webhook_through_the_worker_to_the_booking_system(
            self, stage: Stage) -> None:
        await register(stage)
        sub_id, state = subscription_of(stage.world)
        stage.world.graph.book(ROOM, "E1")
        body = json.dumps({"value": [notification(sub_id, state, "created", "E1")]}).encode()
        response = await user_function(entrypoints.rooms.graph_notifications)(request(
            "POST", "/api/graph/notifications", body))
        assert response.status_code == 202
        await run_graph_queue(stage)
        [wake] = stage.world.take(OUTBOUND_QUEUE)
        await user_function(entrypoints.rooms.outbound_delivery)(message(wake))
        [sent] = stage.world.webhook.sent
        assert sent["type"] == "reservation.created"
        feed = await user_function(entrypoints.rooms.reservations_feed)(request("GET", "/api/reservations"))
        assert [item["id"] for item in json.loads(feed.get_body())["items"]] == [sent["id"]]

    async def test_a_lifecycle_notification_is_queued(self, stage: Stage) -> None:
        await register(stage)
        sub_id, state = subscription_of(stage.world)
        item = {**notification(sub_id, state, "created", "E1"), "lifecycleEvent": "missed"}
        response = await user_function(entrypoints.rooms.graph_lifecycle)(request(
            "POST", "/api/graph/lifecycle", json.dumps({"value": [item]}).encode()))
        assert response.status_code == 202 and stage.world.sent_to(GRAPH_QUEUE)


class TestEventGridTrigger:
    """The worker passes a CloudEvent (Graph's partner topic delivers the CloudEvents schema)."""

    @staticmethod
    def cloud_event(event_type: str, data: object) -> func.CloudEvent:
        from azure.functions._eventgrid import CloudEvent

        return CloudEvent(id="00d8a100-2e92-4bfa-86e1-0056dacd0fce", source="/tenants/t/applications/c",
                          type=event_type, specversion="1.0", subject="Events/E1", data=data,
                          datacontenttype="application/json")

    async def test_a_change_event_is_queued_for_the_worker_and_reaches_the_booking_system(
            self, stage: Stage) -> None:
        await register(stage)
        sub_id, state = subscription_of(stage.world)
        stage.world.graph.book(ROOM, "E1")
        await user_function(entrypoints.rooms.graph_event_grid)(self.cloud_event(
            "Microsoft.Graph.EventCreated", notification(sub_id, state, "created", "E1")))
        await run_graph_queue(stage)
        [wake] = stage.world.take(OUTBOUND_QUEUE)
        await user_function(entrypoints.rooms.outbound_delivery)(message(wake))
        assert [sent["type"] for sent in stage.world.webhook.sent] == ["reservation.created"]

    async def test_an_event_grid_schema_event_is_read_too(self, stage: Stage) -> None:
        from azure.functions._eventgrid import EventGridEvent

        await register(stage)
        sub_id, state = subscription_of(stage.world)
        event = EventGridEvent(id="e1", topic="t", subject="Events/E1", event_type="Microsoft.Graph.EventUpdated",
                               event_time=None, data=notification(sub_id, state, "updated", "E1"), data_version="1")
        await user_function(entrypoints.rooms.graph_event_grid)(event)
        [queued] = stage.world.sent_to(GRAPH_QUEUE)
        assert json.loads(queued.body)["change_type"] == "updated"

    async def test_a_forged_event_is_dropped_without_failing_the_invocation(self, stage: Stage) -> None:
        await register(stage)
        sub_id, _ = subscription_of(stage.world)
        await user_function(entrypoints.rooms.graph_event_grid)(self.cloud_event(
            "Microsoft.Graph.EventCreated", notification(sub_id, "forged", "created", "E1")))
        assert stage.world.sent_to(GRAPH_QUEUE) == []

    async def test_a_queue_failure_fails_the_invocation(self, stage: Stage) -> None:
        await register(stage)
        sub_id, state = subscription_of(stage.world)
        stage.world.queue.error = TransientError("Service Bus unavailable")
        with pytest.raises(TransientError):
            await user_function(entrypoints.rooms.graph_event_grid)(self.cloud_event(
                "Microsoft.Graph.EventCreated", notification(sub_id, state, "created", "E1")))


class TestRoomOperatorApi:
    async def test_a_room_is_listed_backfilled_and_unregistered(self, stage: Stage) -> None:
        await register(stage)
        listed = await user_function(entrypoints.rooms.manage_rooms)(request("GET", "/api/manage/rooms"))
        assert [r["email"] for r in json.loads(listed.get_body())["value"]] == [ROOM]
        backfill = await user_function(entrypoints.rooms.manage_room_backfill)(request(
            "POST", f"/api/manage/rooms/{ROOM}/backfill", params={"from": "2026-04-01"}, route_params=ROUTE))
        assert backfill.status_code == 202
        deleted = await user_function(entrypoints.rooms.manage_room)(request(
            "DELETE", f"/api/manage/rooms/{ROOM}", route_params=ROUTE))
        assert deleted.status_code == 204 and stage.world.rooms.rows == {}

    async def test_the_available_rooms_come_from_graph(self, stage: Stage) -> None:
        response = await user_function(entrypoints.rooms.manage_rooms_available)(request(
            "GET", "/api/manage/rooms/available"))
        assert response.status_code == 200 and "value" in json.loads(response.get_body())


class TestTimers:
    async def test_the_renewal_timer_renews_and_says_when_it_is_past_due(
            self, stage: Stage, caplog: pytest.LogCaptureFixture) -> None:
        await register(stage)
        before = stage.world.rooms.rows[ROOM].expires_at
        stage.world.advance(days=5)
        with caplog.at_level(logging.INFO):
            await user_function(entrypoints.rooms.subscription_renewal)(timer(past_due=True))
        assert stage.world.rooms.rows[ROOM].expires_at > before
        assert "subscription renewal timer is past due" in caplog.text

    async def test_the_directory_timer_records_a_baseline(self, stage: Stage) -> None:
        stage.world.graph.set_user("u1", displayName="Anna", accountEnabled=True)
        await user_function(entrypoints.rooms.users_directory)(timer())
        assert stage.world.users.rows and stage.world.log.items == []

    async def test_the_rotation_timer_rotates_a_secret_that_is_due(self, stage: Stage) -> None:
        from datetime import timedelta

        from tests.support.credential_fakes import NOW

        stage.creds.entra.add_existing("old-secret", end=NOW + timedelta(days=10))
        stage.creds.vault.add("graph-client-secret", "old-secret", expires_on=NOW + timedelta(days=10))
        await user_function(entrypoints.credentials.rotate_credentials)(timer())
        assert stage.creds.entra.added and stage.creds.vault.latest("graph-client-secret").value != "old-secret"


class TestCredentialApi:
    async def test_the_status_names_the_credential_kind(self, stage: Stage) -> None:
        response = await user_function(entrypoints.credentials.manage_credentials)(request(
            "GET", "/api/manage/credentials"))
        assert response.status_code == 200 and json.loads(response.get_body())["kind"] == "secret"

    async def test_a_forced_rotation_answers_with_the_outcome_and_the_status(self, stage: Stage) -> None:
        from datetime import timedelta

        from tests.support.credential_fakes import NOW

        stage.creds.entra.add_existing("the-secret", end=NOW + timedelta(days=90))
        stage.creds.vault.add("graph-client-secret", "the-secret", expires_on=NOW + timedelta(days=90))
        response = await user_function(entrypoints.credentials.manage_credentials_rotate)(request(
            "POST", "/api/manage/credentials/rotate", params={"revokeOld": "true"}))
        document = json.loads(response.get_body())
        assert response.status_code == 200 and document["action"] == "rotated" and "status" in document
