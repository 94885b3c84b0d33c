"""Table Storage adapters for the rotation lease and the shared credential state (table
``{prefix}credentials``). The lease is a blob-lease-like row: taken by insert or by an ETag-guarded
replace of a lapsed row, so of two instances racing, exactly one wins. Another tenant than the default has its
own state row and lease row, keyed ``tenant_key(tenant, ...)``; ``TableCredentialRows`` purges them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.app.ports.credentials import CredentialState
from shared.domain.tenants.keys import tenant_key
from shared.domain.tenants.model import TenantId
from shared.errors import ConcurrencyConflict, ConnectorError, NotFound

if TYPE_CHECKING:
    from shared.adapters.tables.stores import TableStores

__all__ = ["TableCredentialRows", "TableCredentialStateStore", "TableRotationLease"]

TABLE_SUFFIX = "credentials"
_STATE_KEY = ("state", "graph")


class _Table:
    def __init__(self, stores: TableStores) -> None:
        self._stores = stores

    async def table(self) -> Any:
        return await self._stores.table(TABLE_SUFFIX)


class TableRotationLease(_Table):
    async def acquire(self, name: str, holder: str, now: datetime, seconds: float) -> bool:
        from azure.core import MatchConditions
        from azure.data.tables import UpdateMode

        table = await self.table()
        entity = {"PartitionKey": "lease", "RowKey": name, "Holder": holder,
                  "Until": (now + timedelta(seconds=seconds)).astimezone(UTC)}
        try:
            with self._stores.errors("rotation lease"):
                current = await table.get_entity("lease", name)
        except NotFound:
            try:
                with self._stores.errors("rotation lease", conflict=True):
                    await table.create_entity(entity)
                return True
            except ConcurrencyConflict:
                return False
        until = current.get("Until")
        if current.get("Holder") not in ("", holder) and isinstance(until, datetime) and until > now:
            return False
        try:
            with self._stores.errors("rotation lease", conflict=True):
                await table.update_entity(entity, mode=UpdateMode.REPLACE, etag=current.metadata["etag"],
                                          match_condition=MatchConditions.IfNotModified)
            return True
        except (ConcurrencyConflict, NotFound):
            return False  # another instance took it between our read and our write

    async def release(self, name: str, holder: str) -> None:
        from azure.core import MatchConditions
        from azure.data.tables import UpdateMode

        table = await self.table()
        try:
            with self._stores.errors("rotation lease", conflict=True):
                current = await table.get_entity("lease", name)
                if current.get("Holder") == holder:
                    await table.update_entity({"PartitionKey": "lease", "RowKey": name, "Holder": "",
                                               "Until": datetime(1970, 1, 1, tzinfo=UTC)},
                                              mode=UpdateMode.REPLACE, etag=current.metadata["etag"],
                                              match_condition=MatchConditions.IfNotModified)
        except ConnectorError:
            pass  # the lease lapses by itself


class TableCredentialStateStore(_Table):
    """The credential state of the default tenant (``tenant`` None: the row it always had) or of another."""

    def __init__(self, stores: TableStores, tenant: str | None = None) -> None:
        super().__init__(stores)
        self._key = (_STATE_KEY[0], tenant_key(tenant, _STATE_KEY[1]))

    async def get(self) -> CredentialState:
        table = await self.table()
        try:
            with self._stores.errors("credential state"):
                entity = await table.get_entity(*self._key)
        except NotFound:
            return CredentialState()
        names = CredentialState.__dataclass_fields__
        return CredentialState(**{k: (entity.get(k) or None) for k in names})

    async def update(self, **fields: Any) -> None:
        from azure.data.tables import UpdateMode

        unknown = set(fields) - set(CredentialState.__dataclass_fields__)
        assert not unknown, unknown
        # Table Storage has no null: an empty string clears a field (read back as None).
        entity = {"PartitionKey": self._key[0], "RowKey": self._key[1],
                  **{k: ("" if v is None else v) for k, v in fields.items()}}
        table = await self.table()
        with self._stores.errors("credential state"):
            await table.upsert_entity(entity, mode=UpdateMode.MERGE)


class TableCredentialRows(_Table):
    """A tenant's rows of the credentials table (its state row and its rotation lease), for its purge."""

    purge_name = "credentials"

    async def purge(self, tenant_id: TenantId) -> int:
        from shared.adapters.tables.stores import _delete_scoped

        table = await self.table()
        return sum([await _delete_scoped(self._stores, table, "RowKey", tenant_id, "credential rows of a tenant",
                                         partition=partition) for partition in ("state", "lease")])
