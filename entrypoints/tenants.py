"""Tenant triggers: the registry under manage/tenants and the administrator-consent callback.
Thin: decode → one call → encode."""

from __future__ import annotations

import azure.functions as func

from entrypoints._bindings import to_http_response as _http
from entrypoints._deps import container
from entrypoints._operator import manage_route
from shared.app.responses import problem
from shared.app.tenants import consent, registry

bp = func.Blueprint()


@bp.function_name("manage_tenants")
@manage_route(bp, "manage/tenants", ["GET"])
async def manage_tenants(req: func.HttpRequest) -> func.HttpResponse:
    return _http(await registry.list_tenants((await container()).tenants()))


@bp.function_name("manage_tenant")
@manage_route(bp, "manage/tenants/{tenantId}", ["GET", "PUT", "DELETE"])
async def manage_tenant(req: func.HttpRequest) -> func.HttpResponse:
    tenant_id, deps = req.route_params["tenantId"], (await container()).tenants()
    if req.method == "PUT":
        return _http(await registry.put_tenant(tenant_id, req.get_body(), deps))
    if req.method == "DELETE":
        purge = (req.params.get("purge") or "false").lower()
        if purge not in ("true", "false"):  # a typo must not purge, nor silently keep the data
            return _http(problem(400, "Invalid purge", f"purge must be true or false, not {purge!r}"))
        return _http(await registry.delete_tenant(tenant_id, deps, purge=purge == "true"))
    return _http(await registry.get_tenant(tenant_id, deps))


@bp.function_name("manage_tenant_consent_url")
@manage_route(bp, "manage/tenants/{tenantId}/consent-url", ["GET"])
async def manage_tenant_consent_url(req: func.HttpRequest) -> func.HttpResponse:
    return _http(await consent.consent_url(req.route_params["tenantId"], (await container()).tenants()))


@bp.function_name("tenant_consent_callback")
@bp.route(route="tenants/consent-callback", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def tenant_consent_callback(req: func.HttpRequest) -> func.HttpResponse:
    return _http(await consent.consent_callback(dict(req.params), (await container()).tenants()))
