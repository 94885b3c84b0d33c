"""What the tenant registry needs from outside: the registry's rows, the spent consent nonces, the stores a
purge empties; and what it offers the rest of the connector: a lookup of a tenant by CloudEvent source or id."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from shared.domain.tenants.model import Consent, Tenant, TenantId

__all__ = ["ConsentNonces", "PurgeRecord", "PurgeableStore", "TenantLookup", "TenantRegistryStore", "TenantStore"]


@dataclass(frozen=True)
class PurgeRecord:
    """That a purge of the tenant was asked for, and which stores had been emptied then (the isolation work
    extends the purge to the tables it keys by tenant, and re-runs it for every recorded tenant)."""

    tenant_id: TenantId
    requested_at: datetime
    stores: tuple[str, ...] = ()


class TenantStore(Protocol):
    """The registered tenants (one row each; the default tenant has one only once it is changed)."""

    async def get(self, tenant_id: TenantId) -> Tenant | None: ...

    async def list(self) -> list[Tenant]: ...

    async def save(self, tenant: Tenant) -> Tenant:
        """Insert (``tenant.etag`` None) or replace the row only if unchanged since read. Returns it with its new
        ETag. Raises ``ConcurrencyConflict`` when another writer got there first."""
        ...

    async def set_state(self, tenant_id: TenantId, state: str) -> None:
        """Merge the state into the row. Raises ``NotFound`` when there is no row."""
        ...

    async def record_consent(self, tenant_id: TenantId, consent: Consent) -> None:
        """Merge the consent into the row. Raises ``NotFound`` when there is no row."""
        ...

    async def record_purge(self, record: PurgeRecord) -> None: ...

    async def purges(self) -> Sequence[PurgeRecord]: ...


class ConsentNonces(Protocol):
    async def spend(self, nonce: str, expires: datetime) -> bool:
        """True the first time ``nonce`` is spent, False ever after (until it could no longer verify)."""
        ...


class PurgeableStore(Protocol):
    """A store holding rows of a tenant; a purge asks each to remove that tenant's rows."""

    @property
    def purge_name(self) -> str:
        """The store's name in the purge record."""
        ...

    async def purge(self, tenant_id: TenantId) -> int:
        """Remove every row of the tenant; return how many went. Idempotent."""
        ...


class TenantLookup(Protocol):
    """Which tenant an event or a key belongs to (the default tenant from the settings included)."""

    async def by_source(self, source: str) -> Tenant | None:
        """The tenant whose sources name ``source`` (or the default when it takes every unclaimed source);
        None: no tenant takes events of this source."""
        ...

    async def by_id(self, tenant_id: str) -> Tenant | None: ...


class TenantRegistryStore(TenantStore, ConsentNonces, PurgeableStore, Protocol):
    """The registry's own table: its rows, the spent nonces, and the tenant's row as a purgeable store."""
