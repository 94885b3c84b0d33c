"""One contract for the CalendarGateway: the fake used by unit tests and the real msgraph-sdk
adapter against the HTTPS simulator must behave alike."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from local.graphsim.server import RunningSimulator
from shared.adapters.graph.calendar import SOURCE_KEY_PROPERTY, GraphCalendarGateway
from shared.errors import NotFound, Throttled, UnknownMailbox
from tests.support.builders import sim_settings
from tests.support.fakes import FakeCalendar

MAILBOX = "anna@contoso.com"
CONTENT = {"subject": "Boiler", "body": {"contentType": "html", "content": "<p>x</p>"},
           "start": {"dateTime": "2026-05-04T08:00:00", "timeZone": "W. Europe Standard Time"},
           "end": {"dateTime": "2026-05-04T09:00:00", "timeZone": "W. Europe Standard Time"},
           "isAllDay": False, "showAs": "busy", "location": {"displayName": ""}, "categories": []}
LONG_AGO = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture
async def real_gateway(simulator: RunningSimulator) -> AsyncIterator[Any]:
    simulator.state.reset()
    simulator.state.add_user(MAILBOX, "Anna")
    gateway = GraphCalendarGateway.from_settings(sim_settings(simulator))
    yield gateway
    await gateway.close()


@pytest.fixture(params=["fake", "graph"])
def gateway(request: pytest.FixtureRequest) -> Any:
    if request.param == "fake":
        return FakeCalendar()
    return request.getfixturevalue("real_gateway")


class TestCalendarContract:
    async def test_create_then_find_by_source_key(self, gateway: Any) -> None:
        created = await gateway.create(MAILBOX, CONTENT, transaction_id=str(uuid.uuid4()), source_key="src task/1")
        event_id = created.id
        assert await gateway.find(MAILBOX, "src task/1", not_before=LONG_AGO) == event_id
        assert await gateway.find(MAILBOX, "src task/2", not_before=LONG_AGO) is None

    async def test_a_repeated_transaction_id_returns_the_same_event(self, gateway: Any) -> None:
        txn = str(uuid.uuid4())
        first = await gateway.create(MAILBOX, CONTENT, transaction_id=txn, source_key="src task/1")
        second = await gateway.create(MAILBOX, CONTENT, transaction_id=txn, source_key="src task/1")
        assert first.id == second.id and first.ical_uid == second.ical_uid and first.ical_uid

    async def test_update_and_delete_of_a_missing_event_raise_not_found(self, gateway: Any) -> None:
        event_id = (await gateway.create(MAILBOX, CONTENT, transaction_id=str(uuid.uuid4()), source_key="k")).id
        await gateway.update(MAILBOX, event_id, {**CONTENT, "subject": "New"}, source_key="k")
        await gateway.delete(MAILBOX, event_id)
        with pytest.raises(NotFound):
            await gateway.delete(MAILBOX, event_id)
        with pytest.raises(NotFound):
            await gateway.update(MAILBOX, event_id, CONTENT, source_key="k")


class TestGraphAdapter:
    async def test_the_event_written_is_what_the_renderer_asked_for(self, real_gateway: Any,
                                                                    simulator: RunningSimulator) -> None:
        await real_gateway.create(MAILBOX, CONTENT, transaction_id="txn-1", source_key="src task/9")
        [stored] = simulator.state.events_of(MAILBOX)
        assert stored["subject"] == "Boiler" and stored["showAs"] == "busy" and stored["transactionId"] == "txn-1"
        assert stored["singleValueExtendedProperties"] == [{"id": SOURCE_KEY_PROPERTY, "value": "src task/9"}]
        assert all(r["status"] != 401 for r in simulator.state.requests())

    async def test_an_unknown_mailbox_is_permanent(self, real_gateway: Any) -> None:
        with pytest.raises(UnknownMailbox):
            await real_gateway.create("ghost@contoso.com", CONTENT, transaction_id="t", source_key="k")

    async def test_a_short_retry_after_is_honoured_in_place(self, real_gateway: Any,
                                                            simulator: RunningSimulator) -> None:
        simulator.state.add_fault(429, mailbox=MAILBOX, method="POST", retry_after=1, count=1)
        await real_gateway.create(MAILBOX, CONTENT, transaction_id="t-short", source_key="k")
        assert [r["status"] for r in simulator.state.requests()] == [429, 201]

    async def test_a_long_retry_after_is_handed_back_to_the_queue(self, real_gateway: Any,
                                                                  simulator: RunningSimulator) -> None:
        simulator.state.add_fault(429, mailbox=MAILBOX, method="POST", retry_after=120, count=1)
        with pytest.raises(Throttled) as caught:
            await real_gateway.create(MAILBOX, CONTENT, transaction_id="t-long", source_key="k")
        assert caught.value.retry_after == 120
        assert simulator.state.events_of(MAILBOX) == []

    async def test_no_more_than_four_requests_are_in_flight_per_mailbox(self, real_gateway: Any,
                                                                         simulator: RunningSimulator) -> None:
        simulator.state.set_latency(50)
        await asyncio.gather(*(real_gateway.create(MAILBOX, CONTENT, transaction_id=f"c{i}", source_key=f"k{i}")
                               for i in range(12)))
        simulator.state.set_latency(0)
        assert len(simulator.state.events_of(MAILBOX)) == 12
        assert all(r["status"] == 201 for r in simulator.state.requests()), "the simulator never had to refuse"

    async def test_principal_names_are_looked_up_when_asked(self, simulator: RunningSimulator) -> None:
        simulator.state.reset()
        simulator.state.add_user("a.smith@contoso.onmicrosoft.com", "A", mail="anna.smith@contoso.com")
        gateway = GraphCalendarGateway.from_settings(sim_settings(simulator, lookup_principal_name=True))
        try:
            await gateway.create("anna.smith@contoso.com", CONTENT, transaction_id="t", source_key="k")
            await gateway.create("anna.smith@contoso.com", CONTENT, transaction_id="t2", source_key="k2")
        finally:
            await gateway.close()
        assert len(simulator.state.events_of("a.smith@contoso.onmicrosoft.com")) == 2
        lookups = [r for r in simulator.state.requests() if r["path"].rstrip("/").endswith("/users")]
        assert len(lookups) == 1, "the lookup is cached"
