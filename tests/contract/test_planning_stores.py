"""MappingStore, ResourceStore, DeadLetterStore and DriftReportStore: the in-memory fakes and the Table Storage
adapters."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.app.planning.tenancy import ScopedMappings
from shared.app.ports.planning import (
    DeadLetterRecord,
    DeadLetterStore,
    DriftReportStore,
    DriftRun,
    MailboxDrift,
    MappingStore,
    ResourceStore,
)
from shared.domain.planning.model import EntityKey, Mapping, Version
from shared.domain.tenants.model import TenantId
from shared.errors import ConcurrencyConflict
from tests.contract.conftest import FAKE_AND_TABLES, table_stores_of
from tests.fakes.planning import (
    InMemoryDeadLetterStore,
    InMemoryDriftReportStore,
    InMemoryMappingStore,
    InMemoryResourceStore,
)

KEY = EntityKey("https://planning.example.com/omd?tenant=a#x", "task/47#11?x\\y")
TENANT_B = TenantId("22222222-2222-2222-2222-222222222222")
V1 = Version(datetime(2026, 5, 1, 12, tzinfo=UTC), 1)
V2 = Version(datetime(2026, 5, 1, 13, tzinfo=UTC), 2**40)


@pytest.fixture(params=FAKE_AND_TABLES)
def stores(request: pytest.FixtureRequest) -> Any:
    if request.param == "fake":
        return InMemoryMappingStore(), InMemoryResourceStore(), InMemoryDeadLetterStore()
    tables = table_stores_of(request)
    return tables.mappings, tables.resources, tables.deadletters


@pytest.fixture
def mappings(stores: Any) -> MappingStore:
    return stores[0]  # type: ignore[no-any-return]


@pytest.fixture
def resources(stores: Any) -> ResourceStore:
    return stores[1]  # type: ignore[no-any-return]


@pytest.fixture
def deadletters(stores: Any) -> DeadLetterStore:
    return stores[2]  # type: ignore[no-any-return]


class TestMappingStore:
    async def test_a_mapping_round_trips_with_awkward_keys_and_big_sequences(self, mappings: MappingStore) -> None:
        assert await mappings.get(KEY) is None
        saved = await mappings.save(Mapping(KEY, V1, "anna@contoso.com", "AAMk=", "hash", 1))
        assert saved.etag
        loaded = await mappings.get(KEY)
        assert loaded == saved
        assert loaded is not None
        updated = await mappings.save(replace(loaded, version=V2, event_id=None))
        again = await mappings.get(KEY)
        assert again == updated and again is not None and again.version.sequence == 2**40 and again.deleted
        assert updated.etag != saved.etag

    async def test_two_tenants_same_entity_separate_rows_and_a_purge_takes_one_tenants(
            self, mappings: MappingStore) -> None:
        theirs = replace(KEY, tenant=TENANT_B)
        ours = await mappings.save(Mapping(KEY, V1, "anna@contoso.com", "AAMk=", "hash", 1))
        their_row = await mappings.save(Mapping(theirs, V2, "anna@fabrikam.com", "BBMk=", "hash2", 1))
        assert await mappings.get(KEY) == ours and await mappings.get(theirs) == their_row
        assert await mappings.purge(TENANT_B) == 1
        assert await mappings.get(theirs) is None and await mappings.get(KEY) == ours
        assert await mappings.purge(TENANT_B) == 0

    async def test_a_second_writer_with_a_stale_etag_loses(self, mappings: MappingStore) -> None:
        first = await mappings.save(Mapping(KEY, V1, "anna@contoso.com", "e1", "h", 1))
        await mappings.save(replace(first, version=V2))
        with pytest.raises(ConcurrencyConflict):
            await mappings.save(replace(first, content_hash="other"))

    async def test_two_inserts_of_one_entity_conflict(self, mappings: MappingStore) -> None:
        await mappings.save(Mapping(KEY, V1))
        with pytest.raises(ConcurrencyConflict):
            await mappings.save(Mapping(KEY, V1))

    async def test_a_replace_of_a_row_never_inserted_conflicts(self, mappings: MappingStore,
                                                               request: pytest.FixtureRequest) -> None:
        with pytest.raises(ConcurrencyConflict):
            await mappings.save(Mapping(KEY, V1, etag="W/\"datetime'2026-05-01T12%3A00%3A00Z'\""))

    async def test_the_last_written_mailbox_is_known_after_a_write(self, mappings: MappingStore) -> None:
        assert await mappings.last_mailbox() is None
        await mappings.save(Mapping(KEY, V1, "anna@contoso.com", "e1", "h", 1))
        assert await mappings.last_mailbox() == "anna@contoso.com"

    async def test_the_applied_event_round_trips_however_large(self, mappings: MappingStore) -> None:
        applied = '{"data":"' + "é😀x" * 40_000 + '"}'  # 200 KiB of JSON, with characters of two UTF-16 units
        saved = await mappings.save(Mapping(KEY, V1, "anna@contoso.com", "e1", "h", 1, applied=applied))
        assert await mappings.get(KEY) == saved and saved.applied == applied
        cleared = await mappings.save(replace(saved, applied=None, event_id=None))
        assert (await mappings.get(KEY)) == cleared

    async def test_the_live_rows_of_a_mailbox_and_the_mailboxes_are_listed(self, mappings: MappingStore) -> None:
        other = EntityKey("https://other.example.com", "task/1")
        live = await mappings.save(Mapping(KEY, V1, "anna@contoso.com", "e1", "h", 1, applied="{}"))
        await mappings.save(Mapping(other, V1, "ben@contoso.com", "e2", "h", 1))
        await mappings.save(Mapping(EntityKey(KEY.source, "task/gone"), V1, None, None, None, 1))  # a tombstone
        assert await mappings.in_mailbox("Anna@contoso.com") == [live]
        assert await mappings.mailboxes() == ["anna@contoso.com", "ben@contoso.com"]
        assert await mappings.mailboxes(other.source) == ["ben@contoso.com"]

    async def test_each_tenant_lists_only_its_own_mailboxes_and_rows(self, mappings: MappingStore) -> None:
        """Two tenants map into a mailbox of the same address: a drift run of one sees only its own rows."""
        default = await mappings.save(Mapping(KEY, V1, "anna@contoso.com", "e1", "h", 1))
        theirs = await mappings.save(Mapping(replace(KEY, tenant=TENANT_B), V1, "anna@contoso.com", "e9", "h", 1))
        await mappings.save(Mapping(EntityKey(KEY.source, "task/2", TENANT_B), V1, "bea@fabrikam.com", "e8", "h", 1))
        assert await mappings.mailboxes() == ["anna@contoso.com"]
        assert await mappings.mailboxes(tenant=TENANT_B) == ["anna@contoso.com", "bea@fabrikam.com"]
        assert await mappings.mailboxes(KEY.source, tenant=TENANT_B) == ["anna@contoso.com", "bea@fabrikam.com"]
        assert await mappings.mailboxes(KEY.source) == ["anna@contoso.com"]
        assert await ScopedMappings(mappings, None).in_mailbox("anna@contoso.com") == [default]
        [row] = await ScopedMappings(mappings, TENANT_B).in_mailbox("anna@contoso.com")
        assert row == replace(theirs, key=KEY)  # the view strips its tenant from the key
        assert await ScopedMappings(mappings, TENANT_B).get(KEY) == row


class TestResourceStore:
    async def test_a_resource_is_active_until_opted_out_whatever_the_case(self, resources: ResourceStore) -> None:
        assert await resources.is_active("anna@contoso.com")
        setting = await resources.set_active("Anna@Contoso.com", False)
        assert (setting.mailbox, setting.active) == ("anna@contoso.com", False) and setting.updated_at
        assert not await resources.is_active("ANNA@contoso.com")
        await resources.set_active("anna@contoso.com", True)
        assert await resources.is_active("anna@contoso.com")

    async def test_list_shows_every_resource_set_active_or_not_sorted(self, resources: ResourceStore) -> None:
        assert await resources.list() == []
        await resources.set_active("carla@contoso.com", False)
        await resources.set_active("ben@contoso.com", True)
        await resources.set_active("anna@contoso.com", False)
        listed = await resources.list()
        assert [(s.mailbox, s.active) for s in listed] == [
            ("anna@contoso.com", False), ("ben@contoso.com", True), ("carla@contoso.com", False)]
        assert all(s.updated_at for s in listed)


def record(record_id: str, *, body: str = '{"id": "e1"}', at: datetime | None = None) -> DeadLetterRecord:
    return DeadLetterRecord(record_id, "planning-events", "m-" + record_id, "task/1", body, "why", 3,
                            at or datetime(2026, 5, 1, tzinfo=UTC))


class TestDeadLetterStore:
    async def test_a_large_body_round_trips(self, deadletters: DeadLetterStore) -> None:
        big = record("a" * 32, body='{"data": "' + "ü" * 100_000 + '"}')
        await deadletters.add(big)
        assert await deadletters.get(big.id) == big
        assert [r.id for r in await deadletters.list()] == [big.id]

    async def test_a_record_keeps_its_tenant_and_a_purge_takes_one_tenants(self, deadletters: DeadLetterStore) -> None:
        await deadletters.add(replace(record("d" * 32), tenant=TENANT_B))
        await deadletters.add(record("e" * 32))
        assert (await deadletters.get("d" * 32)).tenant == TENANT_B  # type: ignore[union-attr]
        assert await deadletters.purge(TENANT_B) == 1
        assert [r.id for r in await deadletters.list()] == ["e" * 32]

    async def test_records_are_listed_oldest_first_and_removed_once(self, deadletters: DeadLetterStore) -> None:
        start = datetime(2026, 5, 1, tzinfo=UTC)
        await deadletters.add(record("b" * 32, at=start + timedelta(minutes=5)))
        await deadletters.add(record("c" * 32, at=start))
        assert [r.id for r in await deadletters.list()] == ["c" * 32, "b" * 32]
        await deadletters.remove("c" * 32)
        assert await deadletters.get("c" * 32) is None
        assert [r.id for r in await deadletters.list()] == ["b" * 32]

    async def test_a_record_added_again_replaces_the_first(self, deadletters: DeadLetterStore) -> None:
        await deadletters.add(record("d" * 32))
        await deadletters.add(replace(record("d" * 32), reason="again"))
        assert [r.reason for r in await deadletters.list()] == ["again"]


@pytest.fixture(params=FAKE_AND_TABLES)
def drift_reports(request: pytest.FixtureRequest) -> DriftReportStore:
    if request.param == "fake":
        return InMemoryDriftReportStore()
    from shared.adapters.tables.drift import TableDriftReportStore

    return TableDriftReportStore(table_stores_of(request))


class TestDriftReportStore:
    async def test_the_last_run_and_its_mailbox_reports_are_kept(self, drift_reports: DriftReportStore) -> None:
        assert await drift_reports.last_run() is None
        started = datetime(2026, 5, 1, 2, 30, tzinfo=UTC)
        old = DriftRun("run-a", started, "timer", "restore", 2)
        await drift_reports.start(old)
        await drift_reports.record(MailboxDrift("run-a", "ben@contoso.com", started, {"deleted": 1}, {}, "opted out"))
        new = DriftRun("run-b", started + timedelta(days=1), "operator", "report", 1)
        await drift_reports.start(new)
        report = MailboxDrift("run-b", "anna@contoso.com", started + timedelta(days=1, minutes=1),
                              {"deleted": 0, "changed": 2}, {"reported": 2})
        await drift_reports.record(report)
        assert await drift_reports.last_run() == new
        assert await drift_reports.reports("run-b") == [report]
        assert [r.error for r in await drift_reports.reports("run-a")] == ["opted out"]
