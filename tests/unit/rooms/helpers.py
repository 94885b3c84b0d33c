"""Driving the room use cases in unit tests: register, notify as Graph does, run the queues."""

from __future__ import annotations

import json
from typing import Any

from shared.app.messaging import GRAPH_QUEUE, OUTBOUND_QUEUE, Delivery
from shared.app.rooms import intake, publisher, registration, worker
from shared.bootstrap import Container
from tests.unit.rooms.fakes_rooms import ROOM, RoomWorld


async def register(world: RoomWorld, services: Container, room: str = ROOM) -> dict[str, Any]:
    reply = await registration.put_room(room, b"", services.registration())
    assert reply.status == 201, reply.body
    await run_graph_queue(world, services)  # the baseline resync
    return reply.json()


def subscription_of(world: RoomWorld, room: str = ROOM) -> tuple[str, str]:
    row = world.rooms.rows[room]
    assert row.subscription_id and row.client_state
    return row.subscription_id, row.client_state


def notification(sub_id: str, client_state: str, change_type: str, event_id: str,
                 user_guid: str = "4c5e1b7a-0000-4000-8000-000000000001") -> dict[str, Any]:
    return {"subscriptionId": sub_id, "subscriptionExpirationDateTime": "2026-05-08T11:00:00Z",
            "changeType": change_type, "clientState": client_state, "tenantId": "t",
            "resource": f"Users/{user_guid}/Events/{event_id}",
            "resourceData": {"@odata.type": "#Microsoft.Graph.Event", "@odata.etag": 'W/"x"', "id": event_id,
                             "@odata.id": f"Users/{user_guid}/Events/{event_id}"}}


async def notify(services: Container, *items: dict[str, Any], lifecycle: bool = False) -> Any:
    body = json.dumps({"value": list(items)}).encode()
    return await intake.receive_notifications(body, None, services.intake(), lifecycle=lifecycle)


async def run_graph_queue(world: RoomWorld, services: Container) -> list[str]:
    outcomes = []
    while messages := world.take(GRAPH_QUEUE):
        seen: set[str] = set()
        for message in messages:
            if message.message_id in seen:
                continue  # the queue's duplicate detection
            seen.add(message.message_id)
            delivery = Delivery(message.message_id, 1, message.session_id, message.application_properties)
            outcomes.append(await worker.run_work(message.body, delivery, services.worker()))
    return outcomes


async def run_outbound_queue(world: RoomWorld, services: Container) -> list[str]:
    """Deliver what is due now; scheduled messages stay queued until their time."""
    outcomes = []
    due = [m for m in world.sent_to(OUTBOUND_QUEUE)
           if m.scheduled_enqueue_time is None or m.scheduled_enqueue_time <= world.now]
    world.queue.sent = [(q, m) for q, m in world.queue.sent if not (q == OUTBOUND_QUEUE and m in due)]
    for message in {m.message_id: m for m in due}.values():  # the queue's duplicate detection
        delivery = Delivery(message.message_id, 1, message.session_id, message.application_properties)
        outcomes.append(await publisher.deliver(message.body, delivery, services.publisher()))
    return outcomes
