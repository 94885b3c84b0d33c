"""The tenants the connector serves: the registered ones and the default one from the settings, merged.

The default tenant is ``CALENDAR_MSGRAPH_TENANT_GUID`` with the credential the settings name. It needs no row:
without one it takes every source no registered tenant claims (a single-tenant setup keeps working with no new
setting and no migration). A ``PUT`` of the default tenant stores a row that gives it a name and, once it lists
sources, ends the catch-all.
"""

from __future__ import annotations

from dataclasses import replace

from shared.app.ports.tenants import TenantStore
from shared.config import Settings
from shared.domain.tenants.model import CredentialRef, Tenant, TenantId, owner_of_source

__all__ = ["RegisteredTenants", "all_tenants", "default_tenant", "merge_default"]


def default_tenant(settings: Settings) -> Tenant | None:
    """The settings' tenant, or None when no tenant is configured (a deployment that does not synchronise)."""
    if not settings.tenant_id:
        return None
    credential = settings.credential
    secret_name = {"secret": credential.client_secret_name if credential.key_vault_url else None,
                   "certificate": credential.certificate_name}.get(credential.kind)
    return Tenant(TenantId(settings.tenant_id.strip().lower()), "Default tenant (settings)",
                  credential=CredentialRef(credential.kind, secret_name), default=True, catch_all=True)


def merge_default(default: Tenant, stored: Tenant | None) -> Tenant:
    """The default tenant as its row (if any) describes it; it stays the default whatever the row says."""
    if stored is None:
        return default
    return replace(stored, default=True, catch_all=not stored.sources)


async def all_tenants(settings: Settings, store: TenantStore) -> list[Tenant]:
    """Every tenant, the default first."""
    stored = await store.list()
    default = default_tenant(settings)
    if default is None:
        return sorted(stored, key=lambda t: t.id)
    own = next((t for t in stored if t.id == default.id), None)
    return [merge_default(default, own), *sorted((t for t in stored if t.id != default.id), key=lambda t: t.id)]


class RegisteredTenants:
    """``TenantLookup`` over the registry's rows and the settings (each call reads the registry: a handful of
    rows; a cache belongs to the caller that needs one)."""

    def __init__(self, settings: Settings, store: TenantStore) -> None:
        self._settings = settings
        self._store = store

    async def by_source(self, source: str) -> Tenant | None:
        return owner_of_source(await all_tenants(self._settings, self._store), source)

    async def by_id(self, tenant_id: str) -> Tenant | None:
        wanted = tenant_id.strip().lower()
        default = default_tenant(self._settings)
        if default is not None and default.id == wanted:
            return merge_default(default, await self._store.get(default.id))
        return await self._store.get(TenantId(wanted))
