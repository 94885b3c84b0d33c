"""Table Storage adapters against real Azurite: keys, ETag concurrency, chunked bodies."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from shared.adapters.tables.stores import TableStores
from shared.app.ports.planning import DeadLetterRecord
from shared.domain.planning.model import EntityKey, Mapping, Version
from shared.errors import ConcurrencyConflict

KEY = EntityKey("https://planning.example.com/omd?tenant=a#x", "task/47#11?x\\y")
V1 = Version(datetime(2026, 5, 1, 12, tzinfo=UTC), 1)
V2 = Version(datetime(2026, 5, 1, 13, tzinfo=UTC), 2**40)


class TestMappings:
    async def test_a_mapping_round_trips_with_awkward_keys_and_big_sequences(self, table_stores: TableStores) -> None:
        store = table_stores.mappings
        assert await store.get(KEY) is None
        saved = await store.save(Mapping(KEY, V1, "anna@contoso.com", "AAMk=", "hash", 1))
        assert saved.etag
        loaded = await store.get(KEY)
        assert loaded == saved
        updated = await store.save(replace(loaded, version=V2, event_id=None))
        again = await store.get(KEY)
        assert again == updated and again.version.sequence == 2**40 and again.deleted

    async def test_a_second_writer_with_a_stale_etag_loses(self, table_stores: TableStores) -> None:
        store = table_stores.mappings
        first = await store.save(Mapping(KEY, V1, "anna@contoso.com", "e1", "h", 1))
        await store.save(replace(first, version=V2))
        with pytest.raises(ConcurrencyConflict):
            await store.save(replace(first, content_hash="other"))

    async def test_two_inserts_of_one_entity_conflict(self, table_stores: TableStores) -> None:
        store = table_stores.mappings
        await store.save(Mapping(KEY, V1))
        with pytest.raises(ConcurrencyConflict):
            await store.save(Mapping(KEY, V1))


    async def test_the_last_written_mailbox_is_recorded_at_most_once_a_minute(self, table_stores: TableStores,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
        store = table_stores.mappings
        assert await store.last_mailbox() is None
        await store.save(Mapping(KEY, V1, "anna@contoso.com", "e1", "h", 1))
        other = EntityKey(KEY.source, "task/48")
        await store.save(Mapping(other, V1, "ben@contoso.com", "e2", "h", 1))
        assert await store.last_mailbox() == "anna@contoso.com"  # within the minute: no second write
        monkeypatch.setattr(type(store), "SAMPLE_SECONDS", 0.0)
        await store.save(Mapping(EntityKey(KEY.source, "task/49"), V1, "ben@contoso.com", "e3", "h", 1))
        assert await store.last_mailbox() == "ben@contoso.com"
        assert await store.get(KEY) is not None  # the mappings themselves are untouched


class TestResources:
    async def test_resources_are_active_until_opted_out(self, table_stores: TableStores) -> None:
        store = table_stores.resources
        assert await store.is_active("anna@contoso.com")
        await store.set_active("Anna@Contoso.com", False)
        assert not await store.is_active("anna@contoso.com")
        [setting] = await store.list()
        assert setting.mailbox == "anna@contoso.com" and not setting.active and setting.updated_at


class TestDeadLetters:
    async def test_a_large_body_survives_in_chunks(self, table_stores: TableStores) -> None:
        store = table_stores.deadletters
        body = '{"data": "' + "ü" * 100_000 + '"}'
        record = DeadLetterRecord("a" * 32, "planning-events", "m1", "task/1", body, "why", 3,
                                  datetime(2026, 5, 1, tzinfo=UTC))
        await store.add(record)
        assert await store.get(record.id) == record
        assert [r.id for r in await store.list()] == [record.id]
        await store.remove(record.id)
        assert await store.get(record.id) is None
