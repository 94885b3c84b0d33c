"""Table Storage adapters against real Azurite: keys, ETag concurrency, chunked bodies."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from azure.data.tables.aio import TableServiceClient

from shared.adapters.tables.stores import TableStores
from shared.app.ports.planning import DeadLetterRecord
from shared.config import Settings, TablesConnection
from shared.domain.planning.model import EntityKey, Mapping, Version
from shared.errors import ConcurrencyConflict, PermanentError, TransientError

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

    async def test_removing_a_dead_letter_twice_is_done_once(self, table_stores: TableStores) -> None:
        await table_stores.deadletters.remove("b" * 32)  # never there: nothing to do, as the fake does


class TestErrorsReachUseCasesAsTheConnectors:
    """No azure-core exception leaves the adapters (shared.adapters.azure_errors)."""

    async def test_a_row_the_service_refuses_is_a_permanent_error(self, table_stores: TableStores) -> None:
        huge = "x" * 40_000  # a string property holds at most 64 KiB of UTF-16
        with pytest.raises(PermanentError) as caught:
            await table_stores.mappings.save(Mapping(KEY, V1, "anna@contoso.com", huge, huge, 1))
        assert "table storage" in str(caught.value) and "400" in str(caught.value)

    async def test_an_unreachable_account_is_a_transient_error(self, table_prefix: str) -> None:
        dead = ("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1"
                "OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;TableEndpoint=http://127.0.0.1:9/account;")
        stores = TableStores(Settings(tables=TablesConnection(connection_string=dead), table_prefix=table_prefix))
        stores._service = TableServiceClient.from_connection_string(dead, retry_total=0)  # fail at once
        try:
            with pytest.raises(TransientError):
                await stores.mappings.get(KEY)
            with pytest.raises(TransientError):
                await stores.probe()
        finally:
            await stores.close()

    async def test_the_probe_reads_one_row(self, table_stores: TableStores) -> None:
        await table_stores.probe()
