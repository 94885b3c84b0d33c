"""Operator API of the tenant registry: ``PUT|GET|DELETE /api/manage/tenants/{tenantId}``, ``GET
/api/manage/tenants``.

``PUT`` adds or changes a tenant (and starts a stopped one again); its sources must be free (409 names the source
and the tenant that has it). ``DELETE`` stops the tenant's work and keeps its data; ``?purge=true`` also removes
its rows from the purgeable stores (never for the default tenant).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from shared.app.credentials.tenants import shares_default_credential
from shared.app.ports.clock import Clock
from shared.app.ports.credentials import CredentialStateStore
from shared.app.ports.tenants import ConsentNonces, PurgeableStore, TenantStore
from shared.app.responses import Reply, json_reply, problem
from shared.app.tenants.directory import all_tenants, default_tenant, merge_default
from shared.app.tenants.purge import purge_tenant
from shared.config import Settings
from shared.domain.tenants.model import (
    ACTIVE,
    STOPPED,
    Tenant,
    TenantId,
    TenantProblem,
    parse_tenant,
    parse_tenant_id,
    source_conflicts,
)
from shared.errors import ConcurrencyConflict, ConnectorError

__all__ = ["TenantDeps", "delete_tenant", "ensure_row", "get_tenant", "known_tenant", "list_tenants", "put_tenant",
           "tenant_id_of", "tenant_json"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TenantDeps:
    settings: Settings
    store: TenantStore
    nonces: ConsentNonces
    purgeables: tuple[PurgeableStore, ...]  # the registry's own store among them
    clock: Clock
    credential_state: CredentialStateStore | None = None  # the default tenant's credential health
    # Told after this instance changed the registry, so its routing reads it again at once (others within 30 s).
    changed: Callable[[], None] = lambda: None
    # Another tenant's own credential state row (its rotation's); None: only the default tenant's is known.
    credential_state_of: Callable[[TenantId], CredentialStateStore] | None = None


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


async def _credential_health(tenant: Tenant, deps: TenantDeps) -> dict[str, Any]:
    """What the tenant's credential state row knows, without a token request: the default tenant's (also for a
    tenant that uses the app's own credential), or the tenant's own row (its rotation and checks write it)."""
    store = deps.credential_state
    if not tenant.default and not shares_default_credential(tenant, deps.settings):
        store = deps.credential_state_of(tenant.id) if deps.credential_state_of is not None else None
    unknown = {"lastChecked": None, "problem": None, "expiresOn": None, "lastRotation": None}
    if store is None:
        return {"status": "unchecked", **unknown}
    try:
        state = await store.get()
    except ConnectorError as exc:
        return {**unknown, "status": "unknown", "problem": str(exc)}
    status = "problem" if state.problem else ("ok" if state.last_checked else "unchecked")
    return {"status": status, "lastChecked": _iso(state.last_checked), "problem": state.problem,
            "expiresOn": _iso(state.expires_on), "lastRotation": _iso(state.last_rotation)}


async def tenant_json(tenant: Tenant, deps: TenantDeps) -> dict[str, Any]:
    return {
        "tenantId": tenant.id,
        "displayName": tenant.display_name,
        "default": tenant.default,
        "state": tenant.state,
        "sources": list(tenant.sources),
        "takesUnclaimedSources": tenant.catch_all,
        "credential": tenant.credential.as_json() if tenant.credential else None,
        "credentialHealth": await _credential_health(tenant, deps),
        "consent": tenant.consent.as_json(),
        "counts": {"sources": len(tenant.sources)},
    }


def tenant_id_of(segment: str) -> TenantId | Reply:
    try:
        return parse_tenant_id(segment)
    except TenantProblem as exc:
        return problem(400, "Invalid tenant id", exc.detail, pointer=exc.pointer)


async def known_tenant(tenant_id: TenantId, deps: TenantDeps) -> Tenant | None:
    default = default_tenant(deps.settings)
    stored = await deps.store.get(tenant_id)
    if default is not None and default.id == tenant_id:
        return merge_default(default, stored)
    return stored


async def _not_found(tenant_id: str, deps: TenantDeps) -> Reply:
    purged = next((p for p in await deps.store.purges() if p.tenant_id == tenant_id), None)
    detail = f"no tenant {tenant_id} is registered"
    if purged is not None:
        detail += f" (it was purged at {_iso(purged.requested_at)})"
    return problem(404, "Not found", detail)


async def list_tenants(deps: TenantDeps) -> Reply:
    tenants = await all_tenants(deps.settings, deps.store)
    return json_reply(200, {"value": [await tenant_json(t, deps) for t in tenants]})


async def _find(segment: str, deps: TenantDeps) -> Tenant | Reply:
    """The tenant the path names, or the answer for a malformed id (400) or an unknown tenant (404)."""
    tenant_id = tenant_id_of(segment)
    if isinstance(tenant_id, Reply):
        return tenant_id
    tenant = await known_tenant(tenant_id, deps)
    return tenant if tenant is not None else await _not_found(tenant_id, deps)


async def get_tenant(segment: str, deps: TenantDeps) -> Reply:
    tenant = await _find(segment, deps)
    if isinstance(tenant, Reply):
        return tenant
    return json_reply(200, await tenant_json(tenant, deps))


async def put_tenant(segment: str, body: bytes, deps: TenantDeps) -> Reply:
    try:
        payload = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError):
        return problem(400, "Invalid tenant", "the body is not JSON")
    try:
        wanted = parse_tenant(segment, payload)
    except TenantProblem as exc:
        return problem(400, "Invalid tenant", exc.detail, pointer=exc.pointer)
    policy = _policy_problem(wanted, deps.settings)
    if policy is not None:
        return policy
    conflicts = source_conflicts(wanted, await all_tenants(deps.settings, deps.store))
    if conflicts:
        source, other = conflicts[0]
        return problem(409, "Source taken", f"the source {source!r} belongs to tenant {other.id} "
                                            f"({other.display_name}); a source belongs to one tenant",
                       source=source, tenantId=other.id)
    existing = await deps.store.get(wanted.id)
    # The consent stays; a PUT (re)starts the tenant's work.
    saved = replace(wanted, state=ACTIVE, consent=existing.consent if existing else wanted.consent,
                    etag=existing.etag if existing else None)
    try:
        saved = await deps.store.save(saved)
    except ConcurrencyConflict:
        return problem(409, "Changed meanwhile", f"tenant {wanted.id} was changed by another request; send the "
                                                 "PUT again")
    deps.changed()
    logger.info("tenant %s %s with %d sources", saved.id, "updated" if existing else "registered",
                len(saved.sources))
    shown = await known_tenant(saved.id, deps) or saved
    return json_reply(200 if existing else 201, await tenant_json(shown, deps))


def _policy_problem(tenant: Tenant, settings: Settings) -> Reply | None:
    """A rotation policy that, with the settings' for what the tenant leaves out, rotates before it is due."""
    ref = tenant.credential
    if ref is None or (ref.rotate_days_before is None) == (ref.lifetime_days is None):
        return None  # neither (the settings' policy) or both (checked together when parsed)
    before, lifetime = ref.rotation_days(settings.credential.rotate_days_before, settings.credential.lifetime_days)
    if before < lifetime:
        return None
    member = "rotateDaysBefore" if ref.rotate_days_before is not None else "lifetimeDays"
    return problem(400, "Invalid tenant", f"rotateDaysBefore ({before}) must be less than lifetimeDays ({lifetime}; "
                                          "the settings' for the one not given)", pointer=f"/credential/{member}")


async def delete_tenant(segment: str, deps: TenantDeps, *, purge: bool) -> Reply:
    tenant = await _find(segment, deps)
    if isinstance(tenant, Reply):
        return tenant
    tenant_id = tenant.id
    if purge and tenant.default:
        return problem(409, "Default tenant", f"tenant {tenant_id} is the settings' tenant "
                                              "(CALENDAR_MSGRAPH_TENANT_GUID): it can be stopped, never purged")
    await _stop(tenant, deps)
    deps.changed()
    document: dict[str, Any] = {"tenantId": tenant_id, "state": STOPPED, "purge": None}
    if purge:
        record = await purge_tenant(tenant_id, deps.purgeables, deps.store, deps.clock)
        document["purge"] = {"requestedAt": _iso(record.requested_at), "stores": list(record.stores)}
        logger.info("tenant %s purged from %s", tenant_id, ", ".join(record.stores))
    else:
        logger.info("tenant %s stopped", tenant_id)
    return json_reply(200, document)


async def _stop(tenant: Tenant, deps: TenantDeps) -> None:
    if await deps.store.get(tenant.id) is None:  # the default tenant without a row gets one
        await ensure_row(tenant, deps)
    await deps.store.set_state(tenant.id, STOPPED)


async def ensure_row(tenant: Tenant, deps: TenantDeps) -> None:
    """A row for the default tenant, which has none until something about it is recorded."""
    with suppress(ConcurrencyConflict):  # another request wrote it first
        await deps.store.save(replace(tenant, sources=(), etag=None))
