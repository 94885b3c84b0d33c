"""Pacing per mailbox through the real msgraph-sdk against the HTTPS simulator with a per-mailbox budget: the
assertions count answers and order them, never time them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from local.graphsim.server import RunningSimulator
from shared.adapters.graph.calendar import GraphCalendarGateway
from shared.errors import Throttled
from tests.support.builders import sim_settings

HOT = "hot@contoso.com"
COOL = "cool@contoso.com"
EVENT = {"subject": "Visit", "start": {"dateTime": "2026-05-04T08:00:00", "timeZone": "UTC"},
         "end": {"dateTime": "2026-05-04T09:00:00", "timeZone": "UTC"}}


@pytest.fixture
async def gateway(simulator: RunningSimulator) -> AsyncIterator[Any]:
    simulator.state.reset()
    simulator.state.add_user(HOT, "Hot")
    simulator.state.add_user(COOL, "Cool")
    built = GraphCalendarGateway.from_settings(sim_settings(simulator))
    yield built
    await built.close()
    simulator.state.reset()


async def read_as_the_queue_would(gateway: Any, mailbox: str, event_id: str) -> int:
    """One message's Graph read; Throttled waits its retry_after (as the settle policy would reschedule it).
    Returns how often it went back to the queue."""
    rescheduled = 0
    while True:
        try:
            assert await gateway.ical_uid(mailbox, event_id)
            return rescheduled
        except Throttled as exc:
            rescheduled += 1
            await asyncio.sleep(exc.retry_after or 0.5)


def answers(simulator: RunningSimulator, mailbox: str) -> list[int]:
    user = simulator.state.find_user(mailbox)
    assert user is not None
    return [r["status"] for r in simulator.state.requests() if r.get("mailbox") == user["id"]]


async def test_a_hot_mailbox_gets_mostly_2xx_under_its_budget(gateway: Any, simulator: RunningSimulator) -> None:
    hot = simulator.state.outlook_create(HOT, EVENT)
    simulator.state.clear_requests()
    simulator.state.set_throttle(budget=60, window_seconds=3)  # 20 requests/s at most
    work = [read_as_the_queue_would(gateway, HOT, hot["id"]) for _ in range(200)]
    await asyncio.gather(*work)
    statuses = answers(simulator, HOT)
    assert statuses.count(200) == 200
    # Without pacing each window ends in up to four refusals at once (the requests in flight); with it, the
    # first window teaches the budget and later ones are refused rarely, if at all.
    assert statuses.count(429) <= 12, statuses.count(429)


async def test_a_throttled_mailbox_never_holds_back_another(gateway: Any, simulator: RunningSimulator) -> None:
    hot, cool = simulator.state.outlook_create(HOT, EVENT), simulator.state.outlook_create(COOL, EVENT)
    simulator.state.clear_requests()
    simulator.state.add_fault(429, mailbox=HOT, retry_after=30, count=1)
    with pytest.raises(Throttled):
        await gateway.ical_uid(HOT, hot["id"])
    results = await asyncio.gather(*(gateway.ical_uid(mailbox, event["id"])
                                     for mailbox, event in [(HOT, hot), (COOL, cool)] * 10), return_exceptions=True)
    assert [isinstance(r, Throttled) for r in results] == [True, False] * 10
    assert all(r.retry_after > 25 for r in results[::2])  # type: ignore[union-attr]
    assert answers(simulator, HOT) == [429]  # nothing reached the closed mailbox after its 429
    assert answers(simulator, COOL) == [200] * 10
