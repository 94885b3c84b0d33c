"""Which tenant a request names (a route's ``?tenant=``, a body's ``tenant``): one reading for every route.

Absent, empty or the default tenant's id: the default tenant (None, its keys unscoped). Otherwise the registered
tenant, or the answer naming the parameter or field: 400 for a malformed id, ``unknown`` (404; 400 where a route
has always answered so) for one that is not registered, 409 for a stopped one where the route would start work in
it (a stopped tenant may still be looked at, decided for and have its people forgotten).
"""

from __future__ import annotations

from shared.app.ports.tenants import TenantLookup
from shared.app.responses import Reply, problem
from shared.domain.tenants.model import Tenant, TenantProblem, parse_tenant_id

__all__ = ["tenant_asked"]


async def tenant_asked(text: str | None, default_tenant: str | None, tenants: TenantLookup | None, *,
                       malformed: str = "Invalid tenant", unknown: int = 404, refuse_stopped: bool = False,
                       **names: str) -> Tenant | None | Reply:
    """The registered tenant ``text`` names (None: the default tenant), or the answer; ``names`` (``parameter``
    or ``field``) go into it."""
    if text is None or not text.strip():
        return None
    try:
        tenant_id = parse_tenant_id(text)
    except TenantProblem as exc:
        return problem(400, malformed, exc.detail, **names)
    if tenant_id == (default_tenant or "").strip().lower():
        return None
    tenant = await tenants.by_id(tenant_id) if tenants is not None else None
    if tenant is None:
        return problem(unknown, "Unknown tenant", f"tenant {tenant_id} is not registered", **names)
    if tenant.stopped and refuse_stopped:
        return problem(409, "Tenant stopped",
                       f"tenant {tenant_id} is stopped; PUT /api/manage/tenants/{tenant_id} starts it again", **names)
    return None if tenant.default else tenant
