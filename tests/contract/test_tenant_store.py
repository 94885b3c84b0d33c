"""TenantRegistryStore: the in-memory fake and the Table Storage adapter, one suite."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.app.ports.tenants import PurgeRecord
from shared.domain.tenants.model import Consent, CredentialRef, Tenant, TenantId
from shared.errors import ConcurrencyConflict, NotFound
from tests.contract.conftest import FAKE_AND_TABLES, table_stores_of
from tests.fakes.tenants import InMemoryTenantStore

A = TenantId("0a0b0c0d-1111-4222-8333-444455556666")
B = TenantId("9f8e7d6c-1111-4222-8333-444455556666")
NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)


@pytest.fixture(params=FAKE_AND_TABLES)
def store(request: pytest.FixtureRequest) -> Any:
    if request.param == "fake":
        return InMemoryTenantStore()
    from shared.adapters.tables.tenants import TableTenantStore

    return TableTenantStore(table_stores_of(request))


def contoso(**changes: Any) -> Tenant:
    return replace(Tenant(A, "Contoso", ("https://planning.example.com/a", "https://planning.example.com/b?x=1#y"),
                          CredentialRef("certificate", "contoso-cert")), **changes)


class TestRows:
    async def test_a_saved_tenant_reads_back_as_saved(self, store: Any) -> None:
        saved = await store.save(contoso())
        assert saved.etag
        read = await store.get(A)
        assert read == contoso() and read.etag == saved.etag
        assert await store.get(B) is None
        assert [t.id for t in await store.list()] == [A]

    async def test_a_tenant_s_rotation_policy_reads_back(self, store: Any) -> None:
        await store.save(contoso(credential=CredentialRef("secret", "contoso-graph", 14, 90)))
        assert (await store.get(A)).credential == CredentialRef("secret", "contoso-graph", 14, 90)

    async def test_a_federated_tenant_keeps_no_secret_name(self, store: Any) -> None:
        await store.save(contoso(credential=CredentialRef("federated")))
        assert (await store.get(A)).credential == CredentialRef("federated")

    async def test_a_write_from_a_stale_read_or_a_second_insert_is_a_conflict(self, store: Any) -> None:
        first = await store.save(contoso())
        await store.save(replace(first, display_name="Contoso Ltd"))
        with pytest.raises(ConcurrencyConflict):
            await store.save(replace(first, display_name="Stale"))
        with pytest.raises(ConcurrencyConflict):
            await store.save(contoso())
        assert (await store.get(A)).display_name == "Contoso Ltd"

    async def test_state_and_consent_merge_into_the_row_and_need_one(self, store: Any) -> None:
        await store.save(contoso())
        await store.set_state(A, "stopped")
        consent = Consent("denied", NOW, "access_denied", "The admin canceled the request")
        await store.record_consent(A, consent)
        read = await store.get(A)
        assert (read.state, read.consent, read.display_name) == ("stopped", consent, "Contoso")
        with pytest.raises(NotFound):
            await store.set_state(B, "stopped")
        with pytest.raises(NotFound):
            await store.record_consent(B, consent)
        assert await store.get(B) is None


class TestNoncesAndPurge:
    async def test_a_nonce_is_spent_once(self, store: Any) -> None:
        assert await store.spend("n-Abc_1", NOW + timedelta(hours=1)) is True
        assert await store.spend("n-Abc_1", NOW + timedelta(hours=1)) is False
        assert await store.spend("n-Abc_2", NOW + timedelta(hours=1)) is True

    async def test_purge_removes_the_tenants_row_only_and_is_idempotent(self, store: Any) -> None:
        await store.save(contoso())
        await store.save(contoso(id=B, display_name="Fabrikam"))
        await store.record_purge(PurgeRecord(A, NOW))
        assert await store.purge(A) == 1
        assert await store.purge(A) == 0
        assert [t.id for t in await store.list()] == [B]
        await store.record_purge(PurgeRecord(A, NOW, ("tenants",)))
        assert [(p.tenant_id, p.requested_at, p.stores) for p in await store.purges()] == [(A, NOW, ("tenants",))]
