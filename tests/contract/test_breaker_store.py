"""BreakerStore and MappingStore.count_live: the in-memory fakes and the Table Storage adapters, one suite."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.app.ports.breakers import BreakerState, BreakerStore, HeldMessage
from shared.app.ports.planning import MappingStore
from shared.domain.planning.model import EntityKey, Mapping, Version
from tests.contract.conftest import FAKE_AND_TABLES, table_stores_of
from tests.fakes.breakers import InMemoryBreakerStore
from tests.fakes.planning import InMemoryMappingStore

SOURCE = "https://planning.example.com/omd?tenant=a#x"
OTHER = "https://planning.example.com/other"
NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)
BUCKET = 29_616_480


@pytest.fixture(params=FAKE_AND_TABLES)
def stores(request: pytest.FixtureRequest) -> Any:
    if request.param == "fake":
        return InMemoryBreakerStore(), InMemoryMappingStore()
    tables = table_stores_of(request)
    from shared.adapters.tables.breakers import TableBreakerStore

    return TableBreakerStore(tables), tables.mappings


@pytest.fixture
def store(stores: Any) -> BreakerStore:
    return stores[0]  # type: ignore[no-any-return]


@pytest.fixture
def mappings(stores: Any) -> MappingStore:
    return stores[1]  # type: ignore[no-any-return]


def held(n: int, source: str = SOURCE, body: str = '{"type": "task.unplanned"}') -> HeldMessage:
    return HeldMessage(source=source, id=f"{n:032x}", message_id=f"evt-{n}~abc", session_id=f"task/{n}~abc",
                       subject=f"task/{n}", mailbox="anna@contoso.com", body=body,
                       held_at=NOW + timedelta(seconds=n), application_properties={"connector-attempt": "1"})


class TestDeleteLog:
    async def test_counts_per_source_and_mailbox_within_the_window(self, store: BreakerStore) -> None:
        for n in range(3):
            counts = await store.count_delete(SOURCE, "anna@contoso.com", delete_id=f"d{n}", epoch=0,
                                              bucket=BUCKET + n, window=10)
            assert (counts.source, counts.mailbox) == (n + 1, n + 1)
        counts = await store.count_delete(SOURCE, "ben@contoso.com", delete_id="d3", epoch=0, bucket=BUCKET + 3,
                                          window=10)
        assert (counts.source, counts.mailbox) == (4, 1)
        other = await store.count_delete(OTHER, "anna@contoso.com", delete_id="d0", epoch=0, bucket=BUCKET, window=10)
        assert (other.source, other.mailbox) == (1, 1)

    async def test_a_delete_counted_again_counts_once(self, store: BreakerStore) -> None:
        for _ in range(2):
            counts = await store.count_delete(SOURCE, "anna@contoso.com", delete_id="d0", epoch=0, bucket=BUCKET,
                                              window=10)
        assert (counts.source, counts.mailbox) == (1, 1)

    async def test_buckets_before_the_window_and_older_epochs_are_not_counted(self, store: BreakerStore) -> None:
        await store.count_delete(SOURCE, "anna@contoso.com", delete_id="old", epoch=0, bucket=BUCKET, window=10)
        await store.count_delete(SOURCE, "anna@contoso.com", delete_id="e0", epoch=0, bucket=BUCKET + 9, window=10)
        counts = await store.count_delete(SOURCE, "anna@contoso.com", delete_id="new", epoch=0, bucket=BUCKET + 10,
                                          window=10)
        assert (counts.source, counts.mailbox) == (2, 2)
        fresh = await store.count_delete(SOURCE, "anna@contoso.com", delete_id="x", epoch=1, bucket=BUCKET + 10,
                                         window=10)
        assert (fresh.source, fresh.mailbox) == (1, 1)

    async def test_concurrent_deletes_are_all_counted(self, store: BreakerStore) -> None:
        await asyncio.gather(*(store.count_delete(SOURCE, "anna@contoso.com", delete_id=f"d{n}", epoch=0,
                                                  bucket=BUCKET, window=10) for n in range(20)))
        counts = await store.count_delete(SOURCE, "anna@contoso.com", delete_id="last", epoch=0, bucket=BUCKET,
                                          window=10)
        assert (counts.source, counts.mailbox) == (21, 21)


class TestBreakerState:
    async def test_a_trip_keeps_the_first_and_a_reset_starts_a_new_epoch(self, store: BreakerStore) -> None:
        assert await store.get(SOURCE) is None and await store.list() == []
        first = await store.trip(BreakerState(SOURCE, tripped=True, since=NOW, reason="201 deletes", deletes=201))
        again = await store.trip(BreakerState(SOURCE, tripped=True, since=NOW + timedelta(minutes=1),
                                              reason="later", deletes=250))
        assert again == first and first.tripped and first.since == NOW and first.reason == "201 deletes"
        assert await store.get(SOURCE) == first
        closed = await store.reset(SOURCE, decision="released", at=NOW + timedelta(hours=2))
        assert not closed.tripped and closed.epoch == 1 and closed.decision == "released"
        assert closed.decided_at == NOW + timedelta(hours=2)
        assert await store.list() == [closed]
        tripped = await store.trip(BreakerState(SOURCE, tripped=True, since=NOW, reason="again", deletes=5))
        assert tripped.tripped and tripped.epoch == 1

    async def test_concurrent_trips_leave_one_state(self, store: BreakerStore) -> None:
        results = await asyncio.gather(*(store.trip(BreakerState(SOURCE, tripped=True, since=NOW, reason=f"r{n}",
                                                                 deletes=n)) for n in range(5)))
        stored = await store.get(SOURCE)
        assert stored is not None and stored.tripped and all(r.reason == stored.reason for r in results)


class TestHeldMessages:
    async def test_held_messages_round_trip_oldest_first_and_once(self, store: BreakerStore) -> None:
        big = held(1, body="x" * 70_000)
        for message in (held(2), big, held(2), held(3, source=OTHER)):
            await store.hold(message)
        assert await store.held(SOURCE) == [big, held(2)]
        assert await store.count_held(SOURCE) == 2 and await store.count_held(OTHER) == 1
        await store.unhold(SOURCE, big.id)
        await store.unhold(SOURCE, big.id)  # already gone: done
        assert await store.held(SOURCE) == [held(2)]
        assert await store.held("https://unknown.example.com") == []


class TestLiveMappings:
    async def test_only_the_sources_entities_in_a_calendar_count(self, mappings: MappingStore) -> None:
        version = Version(NOW, 1)
        for n in range(3):
            await mappings.save(Mapping(EntityKey(SOURCE, f"task/{n}"), version, "anna@contoso.com", f"e{n}", "h", 1))
        tombstone = await mappings.save(Mapping(EntityKey(SOURCE, "task/9"), version, "anna@contoso.com", "e9", "h"))
        await mappings.save(replace(tombstone, event_id=None, version=Version(NOW, 2)))
        await mappings.save(Mapping(EntityKey(OTHER, "task/0"), version, "anna@contoso.com", "o0", "h", 1))
        assert await mappings.count_live(SOURCE) == 3
        assert await mappings.count_live(OTHER) == 1
        assert await mappings.count_live("https://unknown.example.com") == 0
