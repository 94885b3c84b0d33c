"""Which tenant an operator's ``?tenant=`` names, for the views of the stores keyed by tenant (breakers, drift).

Absent, empty or the default tenant's id: the default tenant (None, its keys unscoped). A malformed id is a 400,
a tenant that is not registered a 404; a stopped tenant may still be looked at and decided for, but no work is
started in it (``operator_acting_tenant``: 409).
"""

from __future__ import annotations

from shared.app.ports.tenants import TenantLookup
from shared.app.responses import Reply
from shared.app.tenants.asked import tenant_asked
from shared.domain.tenants.model import Tenant, TenantId

__all__ = ["operator_acting_tenant", "operator_tenant"]


async def operator_tenant(text: str | None, default_tenant: str | None,
                          tenants: TenantLookup | None) -> TenantId | None | Reply:
    """The tenant's id (None: the default tenant), or the answer: 400 malformed, 404 unknown."""
    found = await tenant_asked(text, default_tenant, tenants, parameter="tenant")
    return found.id if isinstance(found, Tenant) else found


async def operator_acting_tenant(text: str | None, default_tenant: str | None,
                                 tenants: TenantLookup | None) -> Tenant | None | Reply:
    """The registered tenant (not the default: None) to start work in, or the answer naming the parameter: 400
    malformed, 404 unknown, 409 stopped."""
    return await tenant_asked(text, default_tenant, tenants, refuse_stopped=True, parameter="tenant")
