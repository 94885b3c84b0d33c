"""Graph notifications through Event Grid: a CloudEvent decoded into the notification item the webhook handles,
and queued by the same intake (clientState check, graph-notifications), with fakes for Graph and storage."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.app.messaging import GRAPH_QUEUE
from shared.app.rooms import intake
from shared.app.rooms.subscriptions import notification_urls
from shared.config import RoomSettings, Settings
from shared.domain.rooms.cloud_events import notification_item
from shared.errors import ConfigurationError, TransientError
from tests.unit.rooms.fakes_rooms import ROOM, RoomWorld
from tests.unit.rooms.helpers import notification, register, run_graph_queue, subscription_of

EVENT_GRID_URL = ("EventGrid:?azuresubscriptionid=8a8a8a8a-4b4b-4c4c-4d4d-12e12e12e12e&resourcegroup=rg"
                  "&partnertopic=graph-calconn-prod&location=westeurope")


def outlook_data(sub_id: str, client_state: str, change_type: str, event_id: str) -> dict[str, Any]:
    """``data`` as the Outlook example of learn.microsoft.com/azure/event-grid/outlook-events spells it."""
    return {"@odata.type": "#Microsoft.OutlookServices.Notification", "Id": None,
            "SubscriptionExpirationDateTime": "2026-05-08T11:00:00Z", "ChangeType": change_type,
            "subscriptionId": sub_id, "clientState": client_state,
            "resource": f"https://outlook.office365.com/api/beta/Users('u@t')/Events('{event_id}')",
            "resourceData": {"Id": event_id, "@odata.etag": 'W/"etag-1"',
                             "@odata.id": f"https://outlook.office365.com/api/beta/Users('u@t')/Events('{event_id}')",
                             "@odata.type": "#Microsoft.OutlookServices.Event"}}


def lifecycle_data(sub_id: str, client_state: str, event: str | None) -> dict[str, Any]:
    data = {"subscriptionId": sub_id, "subscriptionExpirationDateTime": "2026-05-08T11:00:00Z", "tenantId": "t",
            "clientState": client_state}
    return data | ({"lifecycleEvent": event} if event else {})


class TestDecoding:
    @pytest.mark.parametrize("kind", ["Created", "Updated", "Deleted"])
    def test_an_outlook_change_event_becomes_graphs_notification_item(self, kind: str) -> None:
        item = notification_item(f"Microsoft.Graph.Event{kind}", outlook_data("s1", "cs", kind.lower(), "E1"))
        assert item is not None
        assert (item["changeType"], item["subscriptionId"], item["clientState"]) == (kind.lower(), "s1", "cs")
        assert item["resourceData"]["id"] == "E1" and item["resourceData"]["@odata.etag"] == 'W/"etag-1"'

    def test_the_event_type_fills_in_a_missing_change_type(self) -> None:
        data = notification("s1", "cs", "updated", "E1")
        del data["changeType"]
        assert notification_item("Microsoft.Graph.EventDeleted", data)["changeType"] == "deleted"  # type: ignore[index]

    def test_the_items_own_change_type_wins_over_the_event_type(self) -> None:
        data = notification("s1", "cs", "updated", "E1")
        assert notification_item("Microsoft.Graph.EventCreated", data)["changeType"] == "updated"  # type: ignore[index]

    @pytest.mark.parametrize("event_type,expected", [
        ("Microsoft.Graph.SubscriptionReauthorizationRequired", "reauthorizationRequired"),
        ("Microsoft.Graph.SubscriptionRemoved", "subscriptionRemoved"),
        ("Microsoft.Graph.SubscriptionMissed", "missed"),
    ])
    def test_a_lifecycle_event_type_names_the_lifecycle_event(self, event_type: str, expected: str) -> None:
        assert notification_item(event_type, lifecycle_data("s1", "cs", None))["lifecycleEvent"] == expected  # type: ignore[index]

    def test_a_lifecycle_item_keeps_its_own_lifecycle_event(self) -> None:
        item = notification_item("Microsoft.Graph.SubscriptionReauthorizationRequired",
                                 lifecycle_data("s1", "cs", "missed"))
        assert item is not None and item["lifecycleEvent"] == "missed"

    @pytest.mark.parametrize("data", [None, "text", ["a"], 3])
    def test_data_that_is_not_an_object_carries_no_item(self, data: object) -> None:
        assert notification_item("Microsoft.Graph.EventCreated", data) is None


@pytest.fixture
def world() -> RoomWorld:
    return RoomWorld()


class TestEventGridIntake:
    @pytest.mark.parametrize("kind", ["created", "updated", "deleted"])
    async def test_an_authentic_change_is_queued_in_the_rooms_session(self, world: RoomWorld, kind: str) -> None:
        services = world.services()
        await register(world, services)
        sub_id, state = subscription_of(world)
        graph_calls = world.graph.gets
        queued = await intake.receive_cloud_event(f"Microsoft.Graph.Event{kind.title()}",
                                                  outlook_data(sub_id, state, kind, "E1"), services.intake())
        assert queued == 1
        [message] = world.sent_to(GRAPH_QUEUE)
        work = json.loads(message.body)
        assert (message.session_id, work["kind"], work["change_type"], work["event_id"]) == (ROOM, "change", kind, "E1")
        assert world.graph.gets == graph_calls  # nothing read on the trigger's path

    async def test_the_same_change_from_the_webhook_and_from_event_grid_is_one_message(self, world: RoomWorld) -> None:
        services = world.services()
        await register(world, services)
        sub_id, state = subscription_of(world)
        await intake.receive_cloud_event("Microsoft.Graph.EventCreated", notification(sub_id, state, "created", "E1"),
                                         services.intake())
        await intake.receive_notifications(json.dumps({"value": [notification(sub_id, state, "created", "E1")]})
                                           .encode(), None, services.intake(), lifecycle=False)
        first, second = world.sent_to(GRAPH_QUEUE)
        assert first.message_id == second.message_id  # the queue's duplicate detection drops the repeat

    async def test_a_lifecycle_event_is_queued_as_lifecycle_work(self, world: RoomWorld) -> None:
        services = world.services()
        await register(world, services)
        sub_id, state = subscription_of(world)
        await intake.receive_cloud_event("Microsoft.Graph.SubscriptionReauthorizationRequired",
                                         lifecycle_data(sub_id, state, None), services.intake())
        [message] = world.sent_to(GRAPH_QUEUE)
        assert json.loads(message.body)["lifecycle_event"] == "reauthorizationRequired"
        assert await run_graph_queue(world, services)  # the worker takes it as it takes the webhook's

    async def test_a_forged_client_state_is_dropped_counted_and_not_logged(
            self, world: RoomWorld, caplog: pytest.LogCaptureFixture) -> None:
        services = world.services()
        await register(world, services)
        sub_id, _ = subscription_of(world)
        queued = await intake.receive_cloud_event("Microsoft.Graph.EventCreated",
                                                  outlook_data(sub_id, "guessed-secret", "created", "E1"),
                                                  services.intake())
        assert queued == 0 and world.sent_to(GRAPH_QUEUE) == []
        assert world.dropped["clientState mismatch or unknown subscription"] == 1
        assert "guessed-secret" not in caplog.text

    async def test_an_event_carrying_no_notification_is_dropped_as_malformed(self, world: RoomWorld) -> None:
        services = world.services()
        assert await intake.receive_cloud_event("Microsoft.Graph.EventCreated", "not an object",
                                                services.intake()) == 0
        assert world.dropped["malformed"] == 1

    async def test_a_queue_failure_raises_so_event_grid_redelivers(self, world: RoomWorld) -> None:
        services = world.services()
        await register(world, services)
        sub_id, state = subscription_of(world)
        world.queue.error = TransientError("Service Bus unavailable")
        with pytest.raises(TransientError):
            await intake.receive_cloud_event("Microsoft.Graph.EventCreated",
                                             outlook_data(sub_id, state, "created", "E1"), services.intake())


class TestSubscriptionTarget:
    async def test_with_event_grid_both_urls_are_the_partner_topic(self, world: RoomWorld) -> None:
        services = world.services(notification_delivery="eventGrid", eventgrid_notification_url=EVENT_GRID_URL)
        await register(world, services)
        [sub] = world.subscriptions.subs.values()
        assert sub["notificationUrl"] == sub["lifecycleUrl"] == EVENT_GRID_URL
        assert sub["clientState"]  # still sent, still checked

    def test_webhooks_stay_the_default(self) -> None:
        settings = Settings(rooms=RoomSettings(public_base_url="https://app.example.com",
                                               eventgrid_notification_url=EVENT_GRID_URL))
        assert notification_urls(settings) == ("https://app.example.com/api/graph/notifications",
                                               "https://app.example.com/api/graph/lifecycle")


class TestSettings:
    BASE = {"TableStorage": "UseDevelopmentStorage=true", "CONNECTOR_LOCAL_QUEUE_PATH": "/tmp/q.sqlite3"}

    def test_webhook_is_the_default(self) -> None:
        rooms = Settings.from_env(self.BASE).rooms
        assert (rooms.notification_delivery, rooms.eventgrid_notification_url) == ("webhook", None)

    def test_event_grid_reads_the_partner_topics_url(self) -> None:
        rooms = Settings.from_env(self.BASE | {"CONNECTOR_GRAPH_NOTIFICATION_DELIVERY": "eventgrid",
                                               "CONNECTOR_GRAPH_EVENTGRID_NOTIFICATION_URL": EVENT_GRID_URL}).rooms
        assert (rooms.notification_delivery, rooms.eventgrid_notification_url) == ("eventGrid", EVENT_GRID_URL)

    @pytest.mark.parametrize("env,setting", [
        ({"CONNECTOR_GRAPH_NOTIFICATION_DELIVERY": "eventHub"}, "CONNECTOR_GRAPH_NOTIFICATION_DELIVERY"),
        ({"CONNECTOR_GRAPH_NOTIFICATION_DELIVERY": "eventGrid"}, "CONNECTOR_GRAPH_EVENTGRID_NOTIFICATION_URL"),
        ({"CONNECTOR_GRAPH_NOTIFICATION_DELIVERY": "eventGrid",
          "CONNECTOR_GRAPH_EVENTGRID_NOTIFICATION_URL": "EventGrid:?azuresubscriptionid=x&resourcegroup=rg"},
         "CONNECTOR_GRAPH_EVENTGRID_NOTIFICATION_URL"),
        ({"CONNECTOR_GRAPH_EVENTGRID_NOTIFICATION_URL": "https://example.com/"},
         "CONNECTOR_GRAPH_EVENTGRID_NOTIFICATION_URL"),
    ])
    def test_a_bad_choice_or_url_names_its_setting(self, env: dict[str, str], setting: str) -> None:
        with pytest.raises(ConfigurationError) as raised:
            Settings.from_env(self.BASE | env)
        assert setting in str(raised.value)
