"""Watching an organizer against the HTTPS Graph simulator: the real subscription and event-read adapters through
msgraph-sdk, the simulator's notifications (received by a stand-in webhook) fed to the connector's intake, and
attendees answering on demand. Until the appointments piece writes meetings, the tests create the organizer's
meeting in the simulator with the connector's extended property set."""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from local.graphsim.server import RunningSimulator
from shared.adapters.graph.rooms import GraphRoomReader
from shared.adapters.graph.subscriptions import GraphSubscriptionGateway
from shared.app.people import organizers
from shared.app.rooms import intake
from shared.bootstrap import Container
from shared.domain.tagging import SOURCE_KEY_PROPERTY
from tests.graphsim.receiver import Receiver, running_receiver
from tests.support.builders import sim_settings
from tests.unit.rooms.fakes_rooms import RoomWorld
from tests.unit.rooms.helpers import run_graph_queue

RITA = "rita@contoso.com"
BEN = "ben@contoso.com"
START = datetime.now(UTC).replace(microsecond=0, second=0, minute=0) + timedelta(days=3)


def _wall(when: datetime) -> dict[str, str]:
    return {"dateTime": when.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as rx:
        yield rx


@pytest.fixture
async def watched(simulator: RunningSimulator, receiver: Receiver) -> AsyncIterator[tuple[RoomWorld, Container]]:
    simulator.state.reset()
    simulator.state.add_user(RITA, "Rita")
    simulator.state.add_user(BEN, "Ben")
    tenant = next(iter(simulator.state.tenants()))
    simulator.state.add_app("client-1", "secret-1", tenant, roles=["Calendars.ReadWrite", "User.Read.All"])
    settings = sim_settings(simulator)
    world = RoomWorld(now=datetime.now(UTC))
    gateway, reader = GraphSubscriptionGateway.from_settings(settings), GraphRoomReader.from_settings(settings)
    world.subscriptions, world.graph = gateway, reader  # type: ignore[assignment]
    services = world.services(public_base_url=receiver.base_url)
    try:
        reply = await organizers.put_organizer(RITA, services.organizers())
        assert reply.status == 201, reply.body
        await run_graph_queue(world, services)
        yield world, services
    finally:
        await gateway.close()
        await reader.close()


def create_meeting(simulator: RunningSimulator, *, tagged: bool = True) -> str:
    body: dict[str, Any] = {
        "subject": "Interview", "start": _wall(START), "end": _wall(START + timedelta(hours=1)),
        "attendees": [{"type": "required", "emailAddress": {"address": BEN, "name": "Ben"}}],
    }
    if tagged:
        body["singleValueExtendedProperties"] = [{"id": SOURCE_KEY_PROPERTY, "value": "ebms appointment/A-7"}]
    return simulator.state.create_event(RITA, body).id


async def deliver(receiver: Receiver, services: Container, world: RoomWorld, seen: int) -> tuple[int, list[str]]:
    """Wait for Graph's next notification(s) past ``seen``, hand them to the intake, run the worker."""
    items = receiver.wait_for(lambda got: len(got) > seen, path="/api/graph/notifications")
    body = json.dumps({"value": items[seen:]}).encode()
    assert (await intake.receive_notifications(body, None, services.intake(), lifecycle=False)).status == 202
    return len(items), await run_graph_queue(world, services)


def sim_post(simulator: RunningSimulator, path: str, body: dict[str, Any]) -> httpx.Response:
    context = ssl.create_default_context(cafile=str(simulator.ca_path))
    with httpx.Client(base_url=simulator.base_url, verify=context, trust_env=False) as client:
        return client.post(path, json=body)


class TestWatchingAgainstTheSimulator:
    async def test_an_answer_set_on_demand_is_published_once(self, simulator: RunningSimulator, receiver: Receiver,
                                                             watched: tuple[RoomWorld, Container]) -> None:
        world, services = watched
        event_id = create_meeting(simulator)
        seen, outcomes = await deliver(receiver, services, world, 0)
        assert outcomes == ["baseline"]
        answered = sim_post(simulator, f"/_sim/outlook/{RITA}/events/{event_id}/responses",
                            {"attendee": BEN, "response": "tentativelyAccepted", "proposedNewTime": {
                                "start": _wall(START + timedelta(hours=2)), "end": _wall(START + timedelta(hours=3))}})
        assert answered.status_code == 200, answered.text
        seen, outcomes = await deliver(receiver, services, world, seen)
        [published] = world.log.of_type("appointment.response")
        assert published["subject"] == "appointment/A-7"
        data = published["data"]
        assert (data["attendee"]["email"], data["response"]) == (BEN, "tentativelyAccepted")
        proposed = datetime.fromisoformat(data["proposedNewTime"]["start"])
        assert proposed == START + timedelta(hours=2)
        # Graph delivers the same notification again: nothing new to tell.
        body = json.dumps({"value": receiver.items("/api/graph/notifications")[-1:]}).encode()
        await intake.receive_notifications(body, None, services.intake(), lifecycle=False)
        await run_graph_queue(world, services)
        assert len(world.log.items) == 1

    async def test_the_organizer_moving_it_in_outlook_is_published(
            self, simulator: RunningSimulator, receiver: Receiver, watched: tuple[RoomWorld, Container]) -> None:
        world, services = watched
        event_id = create_meeting(simulator)
        seen, _ = await deliver(receiver, services, world, 0)
        later = START + timedelta(days=1)
        simulator.state.outlook_update(RITA, event_id, {"start": _wall(later),
                                                        "end": _wall(later + timedelta(hours=1))})
        await deliver(receiver, services, world, seen)
        [moved] = world.log.of_type("appointment.changed-in-outlook")
        assert datetime.fromisoformat(moved["data"]["start"]) == later
        assert datetime.fromisoformat(moved["data"]["previous"]["start"]) == START

    async def test_meetings_the_connector_did_not_write_are_ignored(
            self, simulator: RunningSimulator, receiver: Receiver, watched: tuple[RoomWorld, Container]) -> None:
        world, services = watched
        event_id = create_meeting(simulator, tagged=False)
        seen, _ = await deliver(receiver, services, world, 0)
        sim_post(simulator, f"/_sim/outlook/{RITA}/events/{event_id}/responses", {"attendee": BEN,
                                                                                  "response": "accepted"})
        _, outcomes = await deliver(receiver, services, world, seen)
        assert outcomes == ["not an appointment"] and world.log.items == []
