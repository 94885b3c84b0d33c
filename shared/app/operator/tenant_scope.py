"""Which tenant an operator's ``?tenant=`` names, for the views of the stores keyed by tenant (breakers, drift).

Absent, empty or the default tenant's id: the default tenant (None, its keys unscoped). A malformed id is a 400,
a tenant that is not registered a 404; a stopped tenant may still be looked at and decided for, but no work is
started in it (``operator_acting_tenant``: 409).
"""

from __future__ import annotations

from shared.app.ports.tenants import TenantLookup
from shared.app.responses import Reply, problem
from shared.domain.tenants.model import Tenant, TenantId, TenantProblem, parse_tenant_id

__all__ = ["operator_acting_tenant", "operator_tenant"]


async def operator_tenant(text: str | None, default_tenant: str | None,
                          tenants: TenantLookup | None) -> TenantId | None | Reply:
    """The tenant's id (None: the default tenant), or the answer: 400 malformed, 404 unknown."""
    if text is None or not text.strip():
        return None
    try:
        tenant_id = parse_tenant_id(text)
    except TenantProblem as exc:
        return problem(400, "Invalid tenant", exc.detail)
    if tenant_id == (default_tenant or "").strip().lower():
        return None
    tenant = await tenants.by_id(tenant_id) if tenants is not None else None
    if tenant is None:
        return problem(404, "Unknown tenant", f"tenant {tenant_id} is not registered")
    return None if tenant.scope is None else tenant.id


async def operator_acting_tenant(text: str | None, default_tenant: str | None,
                                 tenants: TenantLookup | None) -> Tenant | None | Reply:
    """The registered tenant (not the default: None) to start work in, or the answer naming the parameter: 400
    malformed, 404 unknown, 409 stopped."""
    if text is None or not text.strip():
        return None
    try:
        tenant_id = parse_tenant_id(text)
    except TenantProblem as exc:
        return problem(400, "Invalid tenant", f"tenant: {exc.detail}", parameter="tenant")
    if tenant_id == (default_tenant or "").strip().lower():
        return None
    tenant = await tenants.by_id(tenant_id) if tenants is not None else None
    if tenant is None:
        return problem(404, "Unknown tenant", f"tenant: no tenant {tenant_id} is registered", parameter="tenant")
    if tenant.stopped:
        return problem(409, "Tenant stopped", f"tenant: tenant {tenant_id} is stopped; PUT it to start it again",
                       parameter="tenant")
    return None if tenant.default else tenant
