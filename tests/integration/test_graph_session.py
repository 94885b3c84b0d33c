"""One Graph session per process: the adapters the composition root builds share one per-mailbox limiter,
one connection pool and one token request, through the real msgraph-sdk and azure-identity against the
HTTPS simulator."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from local.graphsim.server import RunningSimulator
from shared.adapters.graph.session import MAILBOX_CONCURRENCY
from shared.bootstrap import Container
from shared.config import Settings
from tests.fakes.planning import InMemoryDeadLetterStore, InMemoryMappingStore, InMemoryResourceStore
from tests.fakes.queue import RecordingQueue
from tests.graphsim.receiver import wait_until_async
from tests.support.builders import sim_settings

ROOM = "room.alpha@contoso.com"
EVENT = {"subject": "Sprint review", "start": {"dateTime": "2026-05-04T08:00:00", "timeZone": "UTC"},
         "end": {"dateTime": "2026-05-04T09:00:00", "timeZone": "UTC"}}


@pytest.fixture
def settings(simulator: RunningSimulator) -> Settings:
    simulator.state.reset()
    simulator.state.add_room(ROOM, "Alpha", capacity=8)
    tenant = next(iter(simulator.state.tenants()))
    simulator.state.add_app("client-1", "secret-1", tenant,
                            roles=["Calendars.ReadWrite", "User.Read.All", "Place.Read.All"])
    return sim_settings(simulator)


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Container]:
    """What a worker builds from its app settings; the stores and the queue are in memory (the tables
    the credentials runtime would use for rotation are never touched here)."""
    built = Container(settings, queue=RecordingQueue(), mappings=InMemoryMappingStore(),
                      resources=InMemoryResourceStore(), deadletters=InMemoryDeadLetterStore())
    yield built
    await built.close()


def room_reads(services: Container, event_id: str, count: int) -> list[Any]:
    """``count`` reads of one room's event, half by the calendar adapter, half by the rooms adapter."""
    calendar, rooms = services.calendar(), services.room_graph()
    return [calendar.ical_uid(ROOM, event_id) if i % 2 else rooms.get_event(ROOM, event_id) for i in range(count)]


async def test_calendar_and_rooms_adapters_keep_to_four_requests_at_one_room(
        services: Container, simulator: RunningSimulator) -> None:
    event = simulator.state.outlook_create(ROOM, EVENT)
    room = simulator.state.find_user(ROOM)
    assert room is not None
    simulator.state.set_latency(600_000)  # every admitted request waits until the latency is lifted
    reads = [asyncio.ensure_future(read) for read in room_reads(services, event["id"], 24)]
    await wait_until_async(lambda: simulator.state.throttle.in_flight(room["id"]) == MAILBOX_CONCURRENCY)
    simulator.state.set_latency(0)
    results = await asyncio.gather(*reads)
    assert all(results)
    # The simulator also counts the attempts it refused: the client never tried a fifth at once.
    assert simulator.state.throttle.peak(room["id"]) == MAILBOX_CONCURRENCY
    assert not [r for r in simulator.state.requests() if r["status"] == 429]


async def test_twenty_calls_with_an_expired_token_ask_entra_once(
        services: Container, simulator: RunningSimulator, settings: Settings) -> None:
    event = simulator.state.outlook_create(ROOM, EVENT)
    simulator.state.set_token_lifetime(1)
    assert await services.calendar().ical_uid(ROOM, event["id"])  # the worker's token, about to run out
    token = await services.credentials().provider.get_token(*settings.scopes)
    simulator.state.set_token_lifetime(None)
    await wait_until_async(lambda: time.time() >= token.expires_on)
    before = simulator.state.token_requests()
    results = await asyncio.gather(*room_reads(services, event["id"], 20))
    assert all(results)
    assert simulator.state.token_requests() - before == 1


async def test_the_applications_adapter_uses_the_same_pool_and_limiter(services: Container) -> None:
    gateway: Any = services.credentials().applications
    assert gateway._http is services.graph_session().http
