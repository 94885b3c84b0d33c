"""What only the Table Storage adapters do (the behaviour every MappingStore shares is in tests/contract)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.adapters.tables.stores import TableStores
from shared.domain.planning.model import EntityKey, Mapping, Version

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
