"""Change and lifecycle notifications, the room's auto-accept, and "Outlook" edits."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from local.graphsim.server import RunningSimulator

from .receiver import Receiver, running_receiver, wait_until
from .simdata import ALICE, BOB, CLIENT_ID, TENANT, event_body

pytestmark = pytest.mark.asyncio

ROOM = "room-aurora@contoso.example"
PROP_ID = "String {66f5a359-4659-4830-9070-00040ec6ac6e} Name PlanningId"
HOOK, LIFECYCLE = "/api/graph/notifications", "/api/graph/lifecycle"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as rx:
        yield rx


@pytest.fixture
def room(sim: RunningSimulator) -> dict[str, Any]:
    return sim.state.add_room(ROOM, "Aurora", capacity=8, building="HQ", floor_number=2)


def subscribe(sim: RunningSimulator, rx: Receiver, mailbox: str, client_state: str = "cs-1") -> str:
    """In-process subscription (no handshake) so that tests focus on the notifications."""
    expiry = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    sub = sim.state.subscribe(CLIENT_ID, {
        "changeType": "created,updated,deleted", "notificationUrl": rx.url(HOOK),
        "lifecycleNotificationUrl": rx.url(LIFECYCLE), "resource": f"/users/{mailbox}/events",
        "expirationDateTime": expiry, "clientState": client_state})
    return sub["id"]


def booking(subject: str = "Sprint review") -> dict[str, Any]:
    return event_body(subject, attendees=[
        {"emailAddress": {"address": ROOM, "name": "Aurora"}, "type": "resource"},
        {"emailAddress": {"address": BOB}, "type": "required"}],
        singleValueExtendedProperties=[{"id": PROP_ID, "value": "p-1"}])


async def test_graph_writes_notify_with_graphs_shape(graph: httpx.AsyncClient, sim: RunningSimulator,
                                                     receiver: Receiver) -> None:
    sub_id = subscribe(sim, receiver, ALICE)
    alice_id = sim.state.find_user(ALICE)["id"]  # type: ignore[index]
    made = (await graph.post(f"/users/{ALICE}/events", json=event_body())).json()
    await graph.patch(f"/users/{ALICE}/events/{made['id']}", json={"subject": "Moved"})
    await graph.delete(f"/users/{ALICE}/events/{made['id']}")
    items = receiver.wait_for(lambda items: len(items) == 3, HOOK)
    assert [i["changeType"] for i in items] == ["created", "updated", "deleted"]
    first = items[0]
    assert first["subscriptionId"] == sub_id
    assert first["clientState"] == "cs-1"
    assert first["tenantId"] == TENANT
    assert first["resource"] == f"Users/{alice_id}/Events/{made['id']}"
    assert first["resourceData"] == {
        "@odata.type": "#Microsoft.Graph.Event", "@odata.id": first["resource"],
        "@odata.etag": made["@odata.etag"], "id": made["id"]}
    assert "subscriptionExpirationDateTime" in first
    log = wait_until(lambda: len(sim.state.notifications()) == 3 and sim.state.notifications())
    assert [(e["changeType"], e["status"]) for e in log] == [
        ("created", 202), ("updated", 202), ("deleted", 202)]
    assert all(e["subscriptionId"] == sub_id and e["url"] == receiver.url(HOOK) for e in log)


async def test_booking_a_room_gives_the_room_its_own_copy_and_three_notifications(
        graph: httpx.AsyncClient, sim: RunningSimulator, receiver: Receiver,
        room: dict[str, Any]) -> None:
    subscribe(sim, receiver, ROOM)
    made = (await graph.post(f"/users/{ALICE}/events", json=booking())).json()
    copies = sim.state.events_of(ROOM)
    assert len(copies) == 1
    copy = copies[0]
    assert copy["id"] != made["id"] and copy["changeKey"] != made["changeKey"]
    assert copy["iCalUId"] == made["iCalUId"]
    assert copy["organizer"]["emailAddress"]["address"] == ALICE
    assert copy["isOrganizer"] is False
    assert copy["location"]["locationEmailAddress"] == ROOM
    assert copy["singleValueExtendedProperties"] == []
    assert "transactionId" not in copy
    items = receiver.wait_for(lambda items: len(items) == 3, HOOK)
    assert [i["changeType"] for i in items] == ["created", "updated", "updated"]
    assert {i["resourceData"]["id"] for i in items} == {copy["id"]}

    # The room copy follows the organizer's event, and a cancellation removes it.
    await graph.patch(f"/users/{ALICE}/events/{made['id']}",
                      json={"subject": "Sprint review (moved)",
                            "start": {"dateTime": "2025-06-02T11:00:00", "timeZone": "UTC"},
                            "end": {"dateTime": "2025-06-02T12:00:00", "timeZone": "UTC"}})
    moved = sim.state.events_of(ROOM)[0]
    assert moved["id"] == copy["id"] and moved["subject"] == "Sprint review (moved)"
    assert moved["start"]["dateTime"].startswith("2025-06-02T11:00:00")
    assert moved["changeKey"] != copy["changeKey"]
    await graph.delete(f"/users/{ALICE}/events/{made['id']}")
    assert sim.state.events_of(ROOM) == []
    items = receiver.wait_for(lambda items: len(items) == 5, HOOK)
    assert [i["changeType"] for i in items[3:]] == ["updated", "deleted"]


async def test_a_recurring_booking_gives_the_room_a_series(graph: httpx.AsyncClient,
                                                           sim: RunningSimulator,
                                                           room: dict[str, Any]) -> None:
    weekly = {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["tuesday"]},
              "range": {"type": "numbered", "startDate": "2025-06-03", "numberOfOccurrences": 4}}
    body = booking() | event_body(start="2025-06-03T09:00:00", end="2025-06-03T10:00:00",
                                  recurrence=weekly)
    made = (await graph.post(f"/users/{ALICE}/events", json=body)).json()
    copy = sim.state.events_of(ROOM)[0]
    assert copy["type"] == "seriesMaster" and copy["iCalUId"] == made["iCalUId"]
    assert copy["recurrence"] == made["recurrence"]
    view = await graph.get(f"/users/{ROOM}/calendarView", params={
        "startDateTime": "2025-06-01T00:00:00Z", "endDateTime": "2025-07-01T00:00:00Z"})
    assert [e["start"]["dateTime"][:10] for e in view.json()["value"]] == [
        "2025-06-03", "2025-06-10", "2025-06-17", "2025-06-24"]
    assert {e["seriesMasterId"] for e in view.json()["value"]} == {copy["id"]}


async def test_echo_count_is_configurable_and_dropping_the_room_cancels_its_copy(
        control: httpx.AsyncClient, sim: RunningSimulator, receiver: Receiver,
        room: dict[str, Any]) -> None:
    subscribe(sim, receiver, ROOM)
    settings = (await control.put("/notifications", json={"roomUpdateEchoes": 0})).json()
    assert settings["roomUpdateEchoes"] == 0
    made = (await control.post(f"/outlook/{ALICE}/events", json=booking())).json()
    receiver.wait_for(lambda items: [i["changeType"] for i in items] == ["created"], HOOK)
    response = await control.patch(f"/outlook/{ALICE}/events/{made['id']}",
                                   json={"attendees": [{"emailAddress": {"address": BOB}}]})
    assert response.status_code == 200
    assert sim.state.events_of(ROOM) == []
    receiver.wait_for(lambda items: [i["changeType"] for i in items] == ["created", "deleted"], HOOK)


async def test_outlook_edits_in_the_room_itself_notify(control: httpx.AsyncClient,
                                                       sim: RunningSimulator, receiver: Receiver,
                                                       room: dict[str, Any]) -> None:
    subscribe(sim, receiver, ROOM)
    made = await control.post(f"/outlook/{ROOM}/events", json=event_body("Walk-in"))
    assert made.status_code == 201
    event_id = made.json()["id"]
    assert (await control.patch(f"/outlook/{ROOM}/events/{event_id}",
                                json={"subject": "Walk-in 2"})).status_code == 200
    assert (await control.delete(f"/outlook/{ROOM}/events/{event_id}")).status_code == 204
    items = receiver.wait_for(lambda items: len(items) == 3, HOOK)
    assert [i["changeType"] for i in items] == ["created", "updated", "deleted"]
    assert (await control.delete(f"/outlook/{ROOM}/events/{event_id}")).status_code == 404


async def test_failed_deliveries_are_retried(control: httpx.AsyncClient, sim: RunningSimulator,
                                             receiver: Receiver) -> None:
    await control.put("/notifications", json={"retryDelays": [0.05, 0.05, 0.05]})
    receiver.statuses = [500, 503]
    subscribe(sim, receiver, ALICE)
    sim.state.outlook_create(ALICE, event_body())
    receiver.wait_for(lambda items: len(items) == 3, HOOK)
    log = wait_until(lambda: len(sim.state.notifications()) == 3 and sim.state.notifications())
    assert [(e["status"], e["attempt"]) for e in log] == [(500, 1), (503, 2), (202, 3)]


async def test_paused_deliveries_are_held_then_released_or_discarded(
        control: httpx.AsyncClient, sim: RunningSimulator, receiver: Receiver) -> None:
    subscribe(sim, receiver, ALICE)
    await control.put("/notifications", json={"paused": True})
    sim.state.outlook_create(ALICE, event_body("One"))
    assert (await control.get("/notifications")).json()["pending"] == 1
    assert receiver.items() == []
    await control.put("/notifications", json={"paused": False})
    receiver.wait_for(lambda items: len(items) == 1, HOOK)
    wait_until(lambda: sim.state.notifier.pending() == 0)
    await control.put("/notifications", json={"paused": True})
    sim.state.outlook_create(ALICE, event_body("Two"))
    state = (await control.put("/notifications", json={"paused": False, "discard": True})).json()
    assert state["pending"] == 0 and state["paused"] is False
    assert [e["status"] for e in sim.state.notifications()] == [202, "dropped"]
    assert len(receiver.items()) == 1


async def test_a_slow_receiver_never_blocks_graph(graph: httpx.AsyncClient, sim: RunningSimulator,
                                                  receiver: Receiver) -> None:
    receiver.gate = threading.Event()
    subscribe(sim, receiver, ALICE)
    first = await graph.post(f"/users/{ALICE}/events", json=event_body("One"))
    second = await graph.post(f"/users/{ALICE}/events", json=event_body("Two"))
    # Both writes answered while the receiver still holds the first notification.
    assert first.status_code == second.status_code == 201
    assert receiver.items() == []
    receiver.gate.set()
    receiver.wait_for(lambda items: len(items) == 2, HOOK)


async def test_lifecycle_notifications_on_demand(control: httpx.AsyncClient, sim: RunningSimulator,
                                                 receiver: Receiver) -> None:
    sub_id = subscribe(sim, receiver, ALICE, client_state="cs-life")
    for event in ("reauthorizationRequired", "missed"):
        response = await control.post(f"/subscriptions/{sub_id}/lifecycle",
                                      json={"lifecycleEvent": event})
        assert response.status_code == 202
    await control.post(f"/subscriptions/{sub_id}/lifecycle",
                       json={"lifecycleEvent": "subscriptionRemoved"})
    items = receiver.wait_for(lambda items: len(items) == 3, LIFECYCLE)
    assert [i["lifecycleEvent"] for i in items] == ["reauthorizationRequired", "missed",
                                                     "subscriptionRemoved"]
    assert set(items[0]) == {"subscriptionId", "subscriptionExpirationDateTime", "tenantId",
                             "clientState", "lifecycleEvent"}
    assert items[0]["clientState"] == "cs-life" and items[0]["tenantId"] == TENANT
    assert sim.state.subscriptions() == []
    unknown = await control.post(f"/subscriptions/{sub_id}/lifecycle",
                                 json={"lifecycleEvent": "missed"})
    assert unknown.status_code == 404
    bad = await control.post("/subscriptions/x/lifecycle", json={"lifecycleEvent": "nope"})
    assert bad.status_code == 400


async def test_rooms_control_api(control: httpx.AsyncClient, sim: RunningSimulator) -> None:
    response = await control.put(f"/rooms/{ROOM}", json={"displayName": "Aurora", "capacity": 8,
                                                         "building": "HQ", "floorNumber": 2})
    assert response.status_code == 200
    place = response.json()
    assert place["emailAddress"] == ROOM and place["capacity"] == 8 and place["floorNumber"] == 2
    assert sim.state.find_user(ROOM)["accountEnabled"] is False  # type: ignore[index]
    # Rooms, like users, outlive resets; other tests may have added some.
    assert place in (await control.get("/rooms")).json()["value"]
