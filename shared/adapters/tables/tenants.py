"""Table Storage adapter of the tenant registry (table ``{prefix}tenants``): one row per registered tenant
(PartitionKey ``tenant``), one per spent consent nonce (``nonce``), one per purge asked for (``purge``).

A tenant row is written with ETag concurrency; a nonce is spent by inserting its row, so of two callbacks with the
same state exactly one wins. The row key of a tenant is its directory id (a GUID, or the settings' tenant as
given), which fits the key rules as it is.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from azure.data.tables import UpdateMode

from shared.adapters.tables.stores import TableStores
from shared.app.ports.tenants import PurgeRecord
from shared.domain.tenants.model import Consent, CredentialRef, Tenant, TenantId
from shared.errors import ConcurrencyConflict, NotFound

__all__ = ["TableTenantStore"]

_TABLE = "tenants"


class TableTenantStore:
    purge_name = "tenants"

    def __init__(self, stores: TableStores) -> None:
        self._stores = stores

    async def _table(self) -> Any:
        return await self._stores.table(_TABLE)

    async def get(self, tenant_id: TenantId) -> Tenant | None:
        table = await self._table()
        try:
            with self._stores.errors("tenant"):
                entity = await table.get_entity("tenant", tenant_id)
        except NotFound:
            return None
        return _tenant(entity)

    async def list(self) -> list[Tenant]:
        table = await self._table()
        with self._stores.errors("tenants"):
            return [_tenant(e) async for e in table.query_entities("PartitionKey eq 'tenant'")]

    async def save(self, tenant: Tenant) -> Tenant:
        table = await self._table()
        credential = tenant.credential
        entity = {
            "PartitionKey": "tenant", "RowKey": tenant.id, "DisplayName": tenant.display_name,
            "Sources": json.dumps(list(tenant.sources)), "State": tenant.state,
            "CredentialKind": credential.kind if credential else "",
            "SecretName": (credential.secret_name or "") if credential else "",
            # 0: the settings' rotation policy.
            "RotateDaysBefore": (credential.rotate_days_before or 0) if credential else 0,
            "LifetimeDays": (credential.lifetime_days or 0) if credential else 0,
            **_consent_fields(tenant.consent),
        }
        etag = await self._stores.write_if(table, entity, tenant.etag, "tenant")
        return Tenant(tenant.id, tenant.display_name, tenant.sources, tenant.credential, tenant.state,
                      tenant.consent, etag=etag)

    async def _merge(self, tenant_id: TenantId, fields: dict[str, Any], what: str) -> None:
        table = await self._table()
        with self._stores.errors(what):
            await table.update_entity({"PartitionKey": "tenant", "RowKey": tenant_id, **fields},
                                      mode=UpdateMode.MERGE)

    async def set_state(self, tenant_id: TenantId, state: str) -> None:
        await self._merge(tenant_id, {"State": state}, "tenant state")

    async def record_consent(self, tenant_id: TenantId, consent: Consent) -> None:
        await self._merge(tenant_id, _consent_fields(consent), "tenant consent")

    async def record_purge(self, record: PurgeRecord) -> None:
        table = await self._table()
        with self._stores.errors("tenant purge"):
            await table.upsert_entity({"PartitionKey": "purge", "RowKey": record.tenant_id,
                                       "RequestedAt": record.requested_at, "Stores": json.dumps(record.stores)},
                                      mode=UpdateMode.REPLACE)

    async def purges(self) -> Sequence[PurgeRecord]:
        table = await self._table()
        with self._stores.errors("tenant purges"):
            return [PurgeRecord(TenantId(e["RowKey"]), e["RequestedAt"], tuple(json.loads(e.get("Stores") or "[]")))
                    async for e in table.query_entities("PartitionKey eq 'purge'")]

    async def spend(self, nonce: str, expires: datetime) -> bool:
        table = await self._table()
        try:
            with self._stores.errors("consent nonce", conflict=True):
                await table.create_entity({"PartitionKey": "nonce", "RowKey": nonce, "Expires": expires})
        except ConcurrencyConflict:
            return False
        return True

    async def purge(self, tenant_id: TenantId) -> int:
        table = await self._table()
        try:
            with self._stores.errors("tenant"):
                await table.get_entity("tenant", tenant_id)
        except NotFound:
            return 0
        with self._stores.errors("tenant"):
            await table.delete_entity("tenant", tenant_id)
        return 1


def _consent_fields(consent: Consent) -> dict[str, Any]:
    # Table Storage has no null: an empty string (or the epoch for a time) reads back as None.
    return {"ConsentStatus": consent.status, "ConsentAt": consent.at.isoformat() if consent.at else "",
            "ConsentError": consent.error or "", "ConsentDescription": consent.description or ""}


def _tenant(entity: Any) -> Tenant:
    kind = entity.get("CredentialKind") or None
    credential = CredentialRef(kind, entity.get("SecretName") or None, entity.get("RotateDaysBefore") or None,
                               entity.get("LifetimeDays") or None) if kind else None
    at = entity.get("ConsentAt") or None
    consent = Consent(entity.get("ConsentStatus") or "unknown", datetime.fromisoformat(at) if at else None,
                      entity.get("ConsentError") or None, entity.get("ConsentDescription") or None)
    return Tenant(TenantId(entity["RowKey"]), entity.get("DisplayName") or entity["RowKey"],
                  tuple(json.loads(entity.get("Sources") or "[]")), credential, entity.get("State") or "active",
                  consent, etag=entity.metadata["etag"])
