"""One contract for the CalendarGateway: the fake used by unit tests and the real msgraph-sdk
adapter against the HTTPS simulator must behave alike."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from local.graphsim.server import RunningSimulator
from shared.adapters.graph.calendar import GraphCalendarGateway
from shared.domain.planning.drift import fingerprint
from shared.errors import NotFound
from tests.fakes.planning import FakeCalendar
from tests.support.builders import sim_settings

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


@pytest.fixture(params=["fake", pytest.param("graph", marks=pytest.mark.graphsim)])
def gateway(request: pytest.FixtureRequest) -> Any:
    if request.param == "fake":
        return FakeCalendar()
    return request.getfixturevalue("real_gateway")


class TestCalendarGateway:
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

    async def test_the_ical_uid_of_a_created_event_is_known(self, gateway: Any) -> None:
        created = await gateway.create(MAILBOX, CONTENT, transaction_id=str(uuid.uuid4()), source_key="k")
        assert await gateway.ical_uid(MAILBOX, created.id) == created.ical_uid

    async def test_a_deleted_event_is_not_found_by_its_source_key(self, gateway: Any) -> None:
        created = await gateway.create(MAILBOX, CONTENT, transaction_id=str(uuid.uuid4()), source_key="src task/3")
        await gateway.delete(MAILBOX, created.id)
        assert await gateway.find(MAILBOX, "src task/3", not_before=LONG_AGO) is None

    async def test_tagged_events_are_listed_page_by_page_within_the_window(self, gateway: Any) -> None:
        gateway.page_size = 2  # three events: two pages
        untagged = await gateway.create(MAILBOX, CONTENT, transaction_id=str(uuid.uuid4()), source_key="")
        ids = set()
        for day in range(1, 4):
            content = {**CONTENT, "start": {"dateTime": f"2026-05-0{day}T08:00:00", "timeZone": "UTC"},
                       "end": {"dateTime": f"2026-05-0{day}T09:00:00", "timeZone": "UTC"}}
            ids.add((await gateway.create(MAILBOX, content, transaction_id=str(uuid.uuid4()),
                                          source_key=f"src task/{day}")).id)
        late = {**CONTENT, "start": {"dateTime": "2027-01-01T08:00:00", "timeZone": "UTC"},
                "end": {"dateTime": "2027-01-01T09:00:00", "timeZone": "UTC"}}
        await gateway.create(MAILBOX, late, transaction_id=str(uuid.uuid4()), source_key="src task/late")
        listed = await gateway.tagged_events(MAILBOX, start=datetime(2026, 5, 1, tzinfo=UTC),
                                             end=datetime(2026, 6, 1, tzinfo=UTC))
        assert {e.id for e in listed} == ids and untagged.id not in ids
        first = next(e for e in listed if e.source_key == "src task/1")
        assert fingerprint(first.content) == fingerprint(
            {**CONTENT, "start": {"dateTime": "2026-05-01T10:00:00", "timeZone": "W. Europe Standard Time"},
             "end": {"dateTime": "2026-05-01T11:00:00", "timeZone": "W. Europe Standard Time"}})
