"""What only the Table Storage adapters do (the behaviour every MappingStore shares is in tests/contract)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from azure.data.tables.aio import TableServiceClient

from shared.adapters.tables.stores import TableStores
from shared.config import Settings, TablesConnection
from shared.domain.planning.model import EntityKey, Mapping, Version
from shared.errors import PermanentError, TransientError

KEY = EntityKey("https://planning.example.com/omd?tenant=a#x", "task/47#11?x\\y")
V1 = Version(datetime(2026, 5, 1, 12, tzinfo=UTC), 1)


async def test_the_last_written_mailbox_is_recorded_at_most_once_a_minute(table_stores: TableStores,
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


async def test_removing_a_dead_letter_twice_is_done_once(table_stores: TableStores) -> None:
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
