"""ConnectionStore, ConnectAttempts and WaitingWork: the in-memory fakes and the Table Storage adapters, one suite."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.app.messaging import OutboundMessage
from shared.app.people.tenancy import ScopedConnections, ScopedWaiting
from shared.app.ports.people import ConnectAttempt
from shared.domain.people.connections import CONNECTED, NEEDS_RECONNECT, Connection
from shared.domain.tenants.model import TenantId
from shared.errors import ConcurrencyConflict
from tests.contract.conftest import FAKE_AND_TABLES, table_stores_of
from tests.fakes.connections import InMemoryConnectAttempts, InMemoryConnectionStore, InMemoryWaitingWork
from tests.fakes.queue import RecordingQueue

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)
ANNA = "anna@contoso.com"


@pytest.fixture(params=FAKE_AND_TABLES)
def stores(request: pytest.FixtureRequest) -> Any:
    queue = RecordingQueue()
    if request.param == "fake":
        return InMemoryConnectionStore(), InMemoryConnectAttempts(), InMemoryWaitingWork(queue), queue
    from shared.adapters.tables.people import TableConnectAttempts, TableConnectionStore, TableWaitingWork

    tables = table_stores_of(request)
    return TableConnectionStore(tables), TableConnectAttempts(tables), TableWaitingWork(tables, queue), queue


def connection(**changes: Any) -> Connection:
    return replace(Connection(user=ANNA, state=CONNECTED, since=NOW, scopes=("Calendars.ReadWrite", "User.Read"),
                              cache="v1.abcd." + "x" * 40_000, account="home", return_url="https://e.example/"),
                   **changes)


class TestConnectionStore:
    async def test_a_row_round_trips_with_a_long_cache(self, stores: Any) -> None:
        store = stores[0]
        saved = await store.save(connection())
        assert saved.etag
        found = await store.get(ANNA.upper())
        assert replace(found, etag=None) == connection() and found.etag == saved.etag
        assert [c.user for c in await store.list()] == [ANNA]
        await store.delete(ANNA)
        await store.delete(ANNA)  # gone already: done
        assert await store.get(ANNA) is None

    async def test_writes_are_conditional_on_the_etag(self, stores: Any) -> None:
        store = stores[0]
        first = await store.save(connection())
        with pytest.raises(ConcurrencyConflict):
            await store.save(connection())  # an insert over an existing row
        second = await store.save(replace(first, state=NEEDS_RECONNECT, reason="r"))
        with pytest.raises(ConcurrencyConflict):
            await store.save(replace(first, cache="v1.abcd.older"))  # a stale ETag
        assert (await store.get(ANNA)).etag == second.etag


class TestConnectAttempts:
    async def test_an_attempt_is_claimed_exactly_once_even_concurrently(self, stores: Any) -> None:
        attempts = stores[1]
        await attempts.add(ConnectAttempt(nonce="n1", user=ANNA, return_url="https://e.example/",
                                          flow="sealed", expires_at=NOW + timedelta(minutes=10)))
        results = await asyncio.gather(*(attempts.claim("n1") for _ in range(4)))
        assert sorted(first for _, first in results) == [False, False, False, True]
        assert all(a.user == ANNA and a.return_url == "https://e.example/" for a, _ in results)
        again, first = await attempts.claim("n1")
        assert not first and again.flow == ""  # the PKCE verifier is gone with the claim
        assert await attempts.claim("unknown") is None


class TestWaitingWork:
    async def test_parked_messages_are_released_in_order_once(self, stores: Any) -> None:
        waiting, queue = stores[2], stores[3]
        for n in (1, 2, 3, 2):
            await waiting.park(ANNA, "planning-events", OutboundMessage(
                body=f"body-{n}".encode(), message_id=f"m{n}", session_id=f"s{n}",
                application_properties={"connector-attempt": n}))
        await waiting.park("ben@contoso.com", "planning-events", OutboundMessage(body=b"ben", message_id="b1"))
        assert await waiting.release(ANNA) == 3
        assert [(q, m.message_id, m.body, m.session_id) for q, m in queue.sent] == [
            ("planning-events", f"m{n}", f"body-{n}".encode(), f"s{n}") for n in (1, 2, 3)]
        assert queue.sent[0][1].application_properties == {"connector-attempt": 1}
        assert await waiting.release(ANNA) == 0
        assert await waiting.release("ben@contoso.com") == 1


class TestTenants:
    A = TenantId("11111111-1111-1111-1111-111111111111")
    B = TenantId("22222222-2222-2222-2222-222222222222")

    async def test_connections_of_two_tenants_and_a_purge_of_one(self, stores: Any) -> None:
        inner = stores[0]
        views = [(inner, "default")] + [(ScopedConnections(inner, t), t) for t in (self.A, self.B)]
        for store, name in views:
            await store.save(connection(account=name))
        for store, name in views:
            found = await store.get(ANNA.upper())
            assert found is not None and found.account == name and found.user == ANNA
            assert sorted(c.account for c in await store.list()) == ([name] if store is not inner else
                                                                    sorted(["default", self.A, self.B]))
            if store is not inner:  # an update through the view keeps the tenant's row
                found = await store.save(replace(found, reason="seen"))
                assert found.user == ANNA and (await store.get(ANNA)).reason == "seen"
        assert await views[1][0].purge(self.A) == 1 and await inner.purge(self.A) == 0
        assert await views[1][0].get(ANNA) is None
        assert [(await s.get(ANNA)).account for s, _ in (views[0], views[2])] == ["default", self.B]
        await views[2][0].delete(ANNA)
        assert (await inner.get(ANNA)).account == "default"

    async def test_parked_work_of_two_tenants_and_a_purge_of_one(self, stores: Any) -> None:
        inner, queue = stores[2], stores[3]
        views = [(inner, "default")] + [(ScopedWaiting(inner, t), t) for t in (self.A, self.B)]
        for store, name in views:
            for n in (1, 2):
                await store.park(ANNA, "planning-events", OutboundMessage(body=f"{name}-{n}".encode(),
                                                                          message_id=f"m{n}"))
        assert await inner.purge(self.A) == 2 and await inner.purge(self.A) == 0
        assert await views[1][0].release(ANNA) == 0
        assert await views[2][0].release(ANNA.upper()) == 2
        assert await inner.release(ANNA) == 2
        assert [m.body for _, m in queue.sent] == [f"{self.B}-1".encode(), f"{self.B}-2".encode(),
                                                  b"default-1", b"default-2"]
