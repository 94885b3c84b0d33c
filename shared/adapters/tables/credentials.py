"""Table Storage adapters for the rotation lease and the shared credential state (table
``{prefix}credentials``). The lease is a blob-lease-like row: taken by insert or by an ETag-guarded
replace of a lapsed row, so of two instances racing, exactly one wins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shared.app.ports.credentials import CredentialState
from shared.errors import TransientError

__all__ = ["TableCredentialStateStore", "TableRotationLease"]

TABLE_SUFFIX = "credentials"
_STATE_KEY = ("state", "graph")


class _Table:
    def __init__(self, stores: Any) -> None:
        self._stores = stores

    async def table(self) -> Any:
        return await self._stores.table(TABLE_SUFFIX)


class TableRotationLease(_Table):
    async def acquire(self, name: str, holder: str, now: datetime, seconds: float) -> bool:
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
        from azure.data.tables import UpdateMode

        table = await self.table()
        entity = {"PartitionKey": "lease", "RowKey": name, "Holder": holder,
                  "Until": (now + timedelta(seconds=seconds)).astimezone(UTC)}
        try:
            current = await table.get_entity("lease", name)
        except ResourceNotFoundError:
            try:
                await table.create_entity(entity)
                return True
            except ResourceExistsError:
                return False
        until = current.get("Until")
        if current.get("Holder") not in ("", holder) and isinstance(until, datetime) and until > now:
            return False
        try:
            await table.update_entity(entity, mode=UpdateMode.REPLACE, etag=current.metadata["etag"],
                                      match_condition=MatchConditions.IfNotModified)
            return True
        except (ResourceModifiedError, ResourceNotFoundError):
            return False  # another instance took it between our read and our write

    async def release(self, name: str, holder: str) -> None:
        from azure.core import MatchConditions
        from azure.core.exceptions import AzureError
        from azure.data.tables import UpdateMode

        table = await self.table()
        try:
            current = await table.get_entity("lease", name)
            if current.get("Holder") == holder:
                await table.update_entity({"PartitionKey": "lease", "RowKey": name, "Holder": "",
                                           "Until": datetime(1970, 1, 1, tzinfo=UTC)},
                                          mode=UpdateMode.REPLACE, etag=current.metadata["etag"],
                                          match_condition=MatchConditions.IfNotModified)
        except AzureError:
            pass  # the lease lapses by itself


class TableCredentialStateStore(_Table):
    async def get(self) -> CredentialState:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        table = await self.table()
        try:
            entity = await table.get_entity(*_STATE_KEY)
        except ResourceNotFoundError:
            return CredentialState()
        except AzureError as exc:
            raise TransientError(f"table storage unavailable: {type(exc).__name__}") from None
        names = CredentialState.__dataclass_fields__
        return CredentialState(**{k: (entity.get(k) or None) for k in names})

    async def update(self, **fields: Any) -> None:
        from azure.core.exceptions import AzureError
        from azure.data.tables import UpdateMode

        unknown = set(fields) - set(CredentialState.__dataclass_fields__)
        assert not unknown, unknown
        # Table Storage has no null: an empty string clears a field (read back as None).
        entity = {"PartitionKey": _STATE_KEY[0], "RowKey": _STATE_KEY[1],
                  **{k: ("" if v is None else v) for k, v in fields.items()}}
        table = await self.table()
        try:
            await table.upsert_entity(entity, mode=UpdateMode.MERGE)
        except AzureError as exc:
            raise TransientError(f"table storage unavailable: {type(exc).__name__}") from None
