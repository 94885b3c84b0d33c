"""Graph's delivery through Azure Event Grid: an ``EventGrid:`` notificationUrl gets no handshake, Graph creates
the partner topic, and once the topic has an event subscription each notification arrives there as a CloudEvent."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from local.graphsim.eventgrid import PartnerTopics
from local.graphsim.server import RunningSimulator

from .receiver import Receiver, running_receiver, wait_until
from .simdata import ALICE, CLIENT_ID, TENANT, event_body

pytestmark = pytest.mark.asyncio

TOPIC = "graph-calconn-dev"
EVENT_GRID = (f"EventGrid:?azuresubscriptionid=8a8a8a8a-4b4b-4c4c-4d4d-12e12e12e12e&resourcegroup=rg-calconn"
              f"&partnertopic={TOPIC}&location=westeurope")
WEBHOOK = "/runtime/webhooks/eventgrid"


@pytest.fixture(autouse=True)
def no_partner_topics(sim: RunningSimulator) -> None:
    """Partner topics outlive ``reset`` (they are Azure's); each test here starts without any."""
    sim.state.partner_topics = PartnerTopics()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as rx:
        yield rx


def sub_body(**extra: object) -> dict[str, object]:
    expiry = (datetime.now(UTC) + timedelta(days=2)).isoformat().replace("+00:00", "Z")
    return {"changeType": "created,updated,deleted", "notificationUrl": EVENT_GRID,
            "lifecycleNotificationUrl": EVENT_GRID, "resource": f"/users/{ALICE}/events",
            "expirationDateTime": expiry, "clientState": "s3cret-state"} | extra


def cloud_events(rx: Receiver) -> list[dict[str, Any]]:
    with rx.lock:
        return [event for r in rx.received if r["path"] == WEBHOOK for event in r["body"]]


async def test_an_event_grid_subscription_gets_no_handshake_and_creates_the_partner_topic(
        graph: httpx.AsyncClient, sim: RunningSimulator, receiver: Receiver) -> None:
    response = await graph.post("/subscriptions", json=sub_body())
    assert response.status_code == 201, response.text
    assert response.json()["notificationUrl"] == EVENT_GRID
    assert receiver.validations == []
    [topic] = sim.state.partner_topics.list()
    assert (topic["name"], topic["location"], topic["activationState"]) == (TOPIC, "westeurope", "NeverActivated")


async def test_a_malformed_event_grid_url_is_refused(graph: httpx.AsyncClient, sim: RunningSimulator) -> None:
    response = await graph.post("/subscriptions", json=sub_body(notificationUrl="EventGrid:?partnertopic=x"))
    assert response.status_code == 400 and "Event Grid" in response.text


async def test_nothing_flows_until_the_topic_is_activated_then_each_change_is_a_cloud_event(
        graph: httpx.AsyncClient, sim: RunningSimulator, receiver: Receiver) -> None:
    sub_id = (await graph.post("/subscriptions", json=sub_body())).json()["id"]
    await graph.post(f"/users/{ALICE}/events", json=event_body("Before activation"))
    wait_until(lambda: sim.state.notifications())
    assert sim.state.notifications()[0]["status"] == "dropped: partner topic not activated"
    sim.state.subscribe_partner_topic(TOPIC, receiver.url(WEBHOOK) + "?functionName=f",
                                      {"x-functions-key": "system-key"})
    made = (await graph.post(f"/users/{ALICE}/events", json=event_body("After activation"))).json()
    [event] = wait_until(lambda: cloud_events(receiver))
    assert (event["type"], event["specversion"], event["subject"]) == (
        "Microsoft.Graph.EventCreated", "1.0", f"Events/{made['id']}")
    assert event["source"] == f"/tenants/{TENANT}/applications/{CLIENT_ID}"
    data = event["data"]
    assert (data["ChangeType"], data["subscriptionId"], data["clientState"]) == ("created", sub_id, "s3cret-state")
    assert data["resourceData"]["Id"] == made["id"] and data["resourceData"]["@odata.etag"] == made["@odata.etag"]
    [request] = [r for r in receiver.received if r["path"] == WEBHOOK]
    assert request["headers"]["aeg-event-type"] == "Notification"
    assert request["headers"]["x-functions-key"] == "system-key"
    assert request["headers"]["content-type"].startswith("application/cloudevents-batch+json")


async def test_lifecycle_notifications_go_to_the_partner_topic_too(
        graph: httpx.AsyncClient, sim: RunningSimulator, receiver: Receiver) -> None:
    sim.state.subscribe_partner_topic(TOPIC, receiver.url(WEBHOOK))
    sub_id = (await graph.post("/subscriptions", json=sub_body())).json()["id"]
    sim.state.send_lifecycle(sub_id, "reauthorizationRequired")
    [event] = wait_until(lambda: cloud_events(receiver))
    assert event["type"] == "Microsoft.Graph.SubscriptionReauthorizationRequired"
    assert (event["data"]["lifecycleEvent"], event["data"]["clientState"]) == ("reauthorizationRequired",
                                                                               "s3cret-state")


async def test_the_control_api_lists_and_activates_partner_topics(
        control: httpx.AsyncClient, receiver: Receiver) -> None:
    put = await control.put(f"/eventgrid/partnertopics/{TOPIC}",
                            json={"endpoint": receiver.url(WEBHOOK), "headers": {"x-functions-key": "k"}})
    assert put.status_code == 200 and put.json()["activationState"] == "Activated"
    listed = (await control.get("/eventgrid/partnertopics")).json()["value"]
    assert [t["name"] for t in listed] == [TOPIC]
