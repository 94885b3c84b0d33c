"""Each tenant's credential on its own: the timer's ``rotate_all`` and the operator routes' ``?tenant=``.

The default tenant's credential (the settings') is rotated first, as it always was. Then every registered, active
tenant whose credential is a secret or certificate of its own in Key Vault is rotated by the same ``rotate`` with a
``CredentialRuntime`` built for it: its credential provider, its Key Vault secret, its app's service principal in
its directory, its own lease and state row (keyed ``tenant_key(tenant, ...)``) and its rotation policy. One
tenant's failure (Key Vault refused, Graph 403, lease held) is logged and reported for that tenant only.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from shared.app.credentials import status as manage
from shared.app.credentials.rotation import RotationOutcome, rotate
from shared.app.credentials.runtime import CredentialRuntime
from shared.app.operator.tenant_scope import operator_acting_tenant
from shared.app.ports.tenants import TenantLookup
from shared.app.responses import Reply, problem
from shared.config import Settings
from shared.domain.tenants.model import Tenant

__all__ = ["TenantCredentialDeps", "TenantRotation", "credential_status_in", "rotate_all", "rotate_now_in",
           "shares_default_credential"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TenantCredentialDeps:
    settings: Settings
    default: Callable[[], CredentialRuntime]  # the default tenant's (the settings') runtime
    registered: Callable[[], Awaitable[Sequence[Tenant]]]  # every tenant of the registry (none without one)
    runtime_for: Callable[[Tenant], CredentialRuntime]  # a runtime built for a registered tenant
    tenants: TenantLookup | None = None  # the operator routes' lookup; None: the default tenant only


@dataclass(frozen=True)
class TenantRotation:
    tenant: str | None  # None: the default tenant
    outcome: RotationOutcome

    def as_dict(self) -> dict[str, Any]:
        return {"tenant": self.tenant, **self.outcome.as_dict()}


def shares_default_credential(tenant: Tenant, settings: Settings) -> bool:
    """True when the tenant names the default tenant's own Key Vault secret: the multi-tenant app's one
    credential, rotated with the default tenant (rotating it again per tenant would only add passwords)."""
    ref = tenant.credential
    if ref is None or ref.secret_name is None:
        return False
    credential = settings.credential
    return ref.kind == credential.kind and ref.secret_name == (
        credential.certificate_name if ref.kind == "certificate" else credential.client_secret_name)


async def rotate_all(deps: TenantCredentialDeps) -> list[TenantRotation]:
    """One timer run: the default tenant, then each other tenant independently."""
    results = [TenantRotation(None, await _guarded(None, lambda: rotate(deps.default())))]
    try:
        default = (deps.settings.tenant_id or "").strip().lower()
        tenants = [t for t in await deps.registered() if not t.default and t.id != default]
    except Exception as exc:  # the registry unreachable: the default tenant was rotated, the others wait
        logger.warning("credential rotation of the other tenants skipped: the tenant registry failed: %s", exc)
        return [*results, TenantRotation("*", RotationOutcome("failed", f"the tenant registry failed: {exc}"))]
    for tenant in sorted(tenants, key=lambda t: t.id):
        results.append(TenantRotation(tenant.id, await _rotate_tenant(tenant, deps)))
    return results


async def _rotate_tenant(tenant: Tenant, deps: TenantCredentialDeps) -> RotationOutcome:
    if tenant.stopped:
        return RotationOutcome("skipped", "the tenant is stopped")
    ref = tenant.credential
    if ref is None or ref.kind == "federated":
        return RotationOutcome("nothing-to-rotate", "federated credentials hold no secret (the managed identity's "
                                                    "token is exchanged)")
    if shares_default_credential(tenant, deps.settings):
        return RotationOutcome("nothing-to-rotate", f"the tenant uses the app's own credential (Key Vault secret "
                                                    f"{ref.secret_name}), rotated with the default tenant")
    return await _guarded(tenant.id, lambda: rotate(deps.runtime_for(tenant)))


async def _guarded(tenant: str | None, run: Callable[[], Awaitable[RotationOutcome]]) -> RotationOutcome:
    """``rotate`` reports expected problems in its outcome; anything else (the lease table unreachable, a
    runtime that cannot be built) is this tenant's failure, never another's."""
    try:
        outcome = await run()
    except Exception as exc:
        logger.exception("credential rotation of %s failed", f"tenant {tenant}" if tenant else "the default tenant")
        outcome = RotationOutcome("failed", f"{type(exc).__name__}: {exc}")
    return outcome


async def credential_status_in(text: str | None, deps: TenantCredentialDeps) -> Reply:
    """``GET /api/manage/credentials[?tenant=]``: the tenant's credential, its state row and its policy."""
    tenant = await operator_acting_tenant(text, deps.settings.tenant_id, deps.tenants)
    if isinstance(tenant, Reply):
        return tenant
    return await manage.credential_status(deps.default() if tenant is None else deps.runtime_for(tenant))


async def rotate_now_in(text: str | None, deps: TenantCredentialDeps, *, revoke_old: bool) -> Reply:
    """``POST /api/manage/credentials/rotate[?tenant=]``. A tenant that names the app's own credential has it
    rotated with the default tenant (409 says so); a federated one has nothing to rotate."""
    tenant = await operator_acting_tenant(text, deps.settings.tenant_id, deps.tenants)
    if isinstance(tenant, Reply):
        return tenant
    if tenant is None:
        return await manage.rotate_now(deps.default(), revoke_old=revoke_old)
    if shares_default_credential(tenant, deps.settings):
        name = tenant.credential.secret_name if tenant.credential else None
        return problem(409, "Shared credential", f"tenant: tenant {tenant.id} uses the app's own credential (Key "
                                                 f"Vault secret {name}); rotate it without tenant (the default "
                                                 "tenant's)", parameter="tenant")
    return await manage.rotate_now(deps.runtime_for(tenant), revoke_old=revoke_old)
