"""Which tenant a queued message acts in: the one rule the workers that write to Graph follow.

A message carries its tenant (``messaging.TENANT_PROPERTY``, set at ingest). The default tenant, and a message
from before there were tenants, keep today's path: the process's own Graph client and unscoped keys. Any other
registered tenant gets its own Graph client (a token requested for that tenant) and keys scoped by it. A message
of a stopped or unknown tenant cannot be written: it goes to the dead-letter list with that reason, so an
operator can replay it once the tenant works again (a purge is the way to drop a tenant's work).
"""

from __future__ import annotations

from shared.app.messaging import Delivery, tenant_of
from shared.app.ports.tenants import TenantLookup
from shared.config import Settings
from shared.domain.tenants.model import Tenant
from shared.errors import PermanentError

__all__ = ["DEFAULT", "acting_tenant", "tenant_named"]

DEFAULT = None  # the default tenant: the process's own client, keys unscoped


async def acting_tenant(delivery: Delivery, settings: Settings, tenants: TenantLookup | None) -> Tenant | None:
    """The registered tenant (not the default) the message acts in; None for the default tenant. Raises
    ``PermanentError`` (dead letter) when its tenant is stopped or not registered."""
    return await tenant_named(tenant_of(delivery), settings, tenants)


async def tenant_named(tenant_id: str | None, settings: Settings, tenants: TenantLookup | None) -> Tenant | None:
    """``acting_tenant`` for work that names its tenant itself (a room's clientState)."""
    if tenant_id is None or tenants is None or tenant_id == (settings.tenant_id or "").strip().lower():
        return DEFAULT
    tenant = await tenants.by_id(tenant_id)
    if tenant is None or tenant.stopped:
        raise PermanentError(f"tenant {tenant_id} is {'stopped' if tenant else 'not registered'}; replay this "
                             "message once the tenant is active again")
    return DEFAULT if tenant.default else tenant
