"""The doctor and the status for one tenant (``?tenant=``, ``--tenant``): its credential probed with its own token
(requested in its directory with its registered credential), its rooms' subscriptions, its dead letters."""

from __future__ import annotations

from dataclasses import replace

from shared.app.operator.findings import DoctorDeps
from shared.app.responses import Reply, problem
from shared.app.rooms.tenancy import ScopedCalendars
from shared.domain.tenants.model import TenantProblem, parse_tenant_id

__all__ = ["in_tenant"]


async def in_tenant(text: str | None, deps: DoctorDeps) -> DoctorDeps | Reply:
    """The report's dependencies for the tenant ``text`` names (unchanged when none is named); 400 for a malformed
    id, 404 for a tenant that is not registered."""
    if text is None:
        return deps
    try:
        tenant_id = parse_tenant_id(text)
    except TenantProblem as exc:
        return problem(400, "Invalid tenant", exc.detail)
    tenant = await deps.tenants.by_id(tenant_id) if deps.tenants is not None else None
    if tenant is None and tenant_id == (deps.settings.tenant_id or "").strip().lower():
        return replace(deps, tenant=tenant_id)
    if tenant is None:
        return problem(404, "Unknown tenant", f"tenant {tenant_id} is not registered")
    if tenant.scope is None:
        return replace(deps, tenant=tenant.id)
    if deps.tenant_credentials is None:
        return problem(404, "Unknown tenant", f"no Graph credential for tenant {tenant_id} in this deployment")
    # The deployment's settings stay (the default tenant's id tells whose dead letters name no tenant).
    credentials = replace(deps.credentials, settings=replace(deps.credentials.settings, tenant_id=tenant.id),
                          provider=deps.tenant_credentials(tenant))
    return replace(deps, credentials=credentials, tenant=tenant.id,
                   rooms=ScopedCalendars(deps.rooms, tenant.id) if deps.rooms is not None else None)
