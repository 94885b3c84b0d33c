"""What only the msgraph-sdk calendar adapter does against the HTTPS simulator: the request it writes,
throttling, per-mailbox concurrency, principal name lookups (the CalendarGateway contract is in tests/contract)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from local.graphsim.server import RunningSimulator
from shared.adapters.graph.calendar import SOURCE_KEY_PROPERTY, GraphCalendarGateway
from shared.errors import Throttled, UnknownMailbox
from tests.contract.test_calendar_gateway import CONTENT, MAILBOX
from tests.support.builders import sim_settings


@pytest.fixture
async def real_gateway(simulator: RunningSimulator) -> AsyncIterator[Any]:
    simulator.state.reset()
    simulator.state.add_user(MAILBOX, "Anna")
    gateway = GraphCalendarGateway.from_settings(sim_settings(simulator))
    yield gateway
    await gateway.close()


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
