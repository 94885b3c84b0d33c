"""In-memory tenant registry with the Table adapter's semantics (tests/contract runs both through one suite)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from shared.app.ports.tenants import PurgeRecord
from shared.domain.tenants.model import Consent, Tenant, TenantId
from shared.errors import ConcurrencyConflict, NotFound

_etags = itertools.count(1)


@dataclass
class InMemoryTenantStore:
    rows: dict[str, Tenant] = field(default_factory=dict)
    purge_records: dict[str, PurgeRecord] = field(default_factory=dict)
    nonces: dict[str, datetime] = field(default_factory=dict)
    purge_name: str = "tenants"

    @staticmethod
    def _stored(tenant: Tenant) -> Tenant:
        # What a row keeps: the flags of the default tenant are derived from the settings, never stored.
        return replace(tenant, default=False, catch_all=False, etag=f"W/\"{next(_etags)}\"")

    async def get(self, tenant_id: TenantId) -> Tenant | None:
        return self.rows.get(tenant_id)

    async def list(self) -> list[Tenant]:
        return list(self.rows.values())

    async def save(self, tenant: Tenant) -> Tenant:
        current = self.rows.get(tenant.id)
        if (current is None) != (tenant.etag is None) or (current and current.etag != tenant.etag):
            raise ConcurrencyConflict(f"tenant {tenant.id} changed meanwhile")
        self.rows[tenant.id] = self._stored(tenant)
        return self.rows[tenant.id]

    def _existing(self, tenant_id: TenantId) -> Tenant:
        current = self.rows.get(tenant_id)
        if current is None:
            raise NotFound(f"tenant {tenant_id}")
        return current

    async def set_state(self, tenant_id: TenantId, state: str) -> None:
        self.rows[tenant_id] = self._stored(replace(self._existing(tenant_id), state=state))

    async def record_consent(self, tenant_id: TenantId, consent: Consent) -> None:
        self.rows[tenant_id] = self._stored(replace(self._existing(tenant_id), consent=consent))

    async def record_purge(self, record: PurgeRecord) -> None:
        self.purge_records[record.tenant_id] = record

    async def purges(self) -> Sequence[PurgeRecord]:
        return list(self.purge_records.values())

    async def spend(self, nonce: str, expires: datetime) -> bool:
        if nonce in self.nonces:
            return False
        self.nonces[nonce] = expires
        return True

    async def purge(self, tenant_id: TenantId) -> int:
        return 1 if self.rows.pop(tenant_id, None) is not None else 0
