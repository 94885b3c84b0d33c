"""Administrator consent: ``GET /api/manage/tenants/{tenantId}/consent-url`` makes Entra's admin-consent link for
the multi-tenant app registration, and ``GET /api/tenants/consent-callback`` (anonymous: the administrator's
browser comes back from Entra) records the answer as the tenant's consent state.

The link's ``state`` is signed, expires and is spent once (``shared.domain.tenants.consent``); the callback
answers a small HTML page of its own and never redirects, so it cannot be used to send a browser elsewhere.
"""

from __future__ import annotations

import html
import logging
import secrets
from collections.abc import Mapping
from urllib.parse import urlencode

from shared.app.responses import Reply, json_reply, problem
from shared.app.tenants.registry import TenantDeps, ensure_row, known_tenant, tenant_id_of
from shared.config import DEFAULT_SCOPES
from shared.domain.tenants.consent import (
    CONSENT_LIFETIME,
    InvalidConsentState,
    sign_consent_state,
    verify_consent_state,
)
from shared.domain.tenants.model import Consent
from shared.errors import NotFound

__all__ = ["CALLBACK_PATH", "consent_callback", "consent_url"]

logger = logging.getLogger(__name__)

CALLBACK_PATH = "/api/tenants/consent-callback"
_MAX_DESCRIPTION = 500


def redirect_uri(deps: TenantDeps) -> str:
    return deps.settings.rooms.public_base_url.rstrip("/") + CALLBACK_PATH


async def consent_url(segment: str, deps: TenantDeps) -> Reply:
    tenant_id = tenant_id_of(segment)
    if isinstance(tenant_id, Reply):
        return tenant_id
    if await known_tenant(tenant_id, deps) is None:
        return problem(404, "Not found", f"no tenant {tenant_id} is registered: PUT it first")
    settings = deps.settings
    if not settings.client_id:
        return problem(503, "Not configured", "CALENDAR_MSGRAPH_CLIENT_ID (the multi-tenant app's client id) "
                                              "is not set")
    if not settings.rooms.client_state_keys:
        return problem(503, "Not configured", "CONNECTOR_CLIENT_STATE_KEY is not set: the consent link's state "
                                              "is signed with a key derived from it")
    now = deps.clock()
    state = sign_consent_state(tenant_id, secrets.token_urlsafe(18), now, settings.rooms.client_state_keys[0])
    query = urlencode({"client_id": settings.client_id, "scope": DEFAULT_SCOPES,
                       "redirect_uri": redirect_uri(deps), "state": state})
    url = f"{settings.auth_endpoint.rstrip('/')}/{tenant_id}/v2.0/adminconsent?{query}"
    return json_reply(200, {"tenantId": tenant_id, "url": url, "redirectUri": redirect_uri(deps),
                            "expiresAt": (now + CONSENT_LIFETIME).isoformat(timespec="seconds")})


def _page(status: int, title: str, text: str) -> Reply:
    body = (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"</head><body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>")
    return Reply(status, body.encode("utf-8"), "text/html",
                 {"Content-Security-Policy": "default-src 'none'", "X-Content-Type-Options": "nosniff",
                  "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


def _clip(value: str | None) -> str | None:
    return value[:_MAX_DESCRIPTION] if value else None


async def consent_callback(params: Mapping[str, str], deps: TenantDeps) -> Reply:
    """Entra's redirect: ``admin_consent=True&tenant=..&state=..`` or ``error=..&error_description=..&state=..``."""
    now = deps.clock()
    try:
        state = verify_consent_state(params.get("state") or "", deps.settings.rooms.client_state_keys, now)
    except InvalidConsentState as exc:
        logger.warning("consent callback refused: %s", exc)
        return _page(400, "Consent not recorded", f"{exc}. Ask the connector's operator for a new consent link.")
    if not await deps.nonces.spend(state.nonce, state.expires):
        return _page(409, "Consent link already used", "This consent link has been used before. Ask the "
                                                       "connector's operator for a new one.")
    tenant = await known_tenant(state.tenant_id, deps)
    if tenant is None:
        return _page(404, "Consent not recorded", "The organisation this link was made for is no longer "
                                                  "registered with the connector.")
    granted = (params.get("admin_consent") or "").lower() == "true"
    answered_for = (params.get("tenant") or "").lower()
    if granted and answered_for != state.tenant_id:
        logger.warning("consent for tenant %s answered from tenant %s", state.tenant_id, answered_for or "?")
        return _page(400, "Consent not recorded", "The administrator consented in a different organisation "
                                                  "than the one this link was made for. Sign in to the right "
                                                  "organisation and use a new link.")
    if granted:
        consent = Consent("granted", now)
    else:
        consent = Consent("denied", now, _clip(params.get("error")) or "unknown_error",
                          _clip(params.get("error_description")))
    try:
        await deps.store.record_consent(state.tenant_id, consent)
    except NotFound:
        await ensure_row(tenant, deps)
        await deps.store.record_consent(state.tenant_id, consent)
    logger.info("tenant %s consent: %s %s", state.tenant_id, consent.status, consent.error or "")
    if granted:
        return _page(200, "Consent recorded", f"Thank you: the calendar connector may now work for "
                                              f"{tenant.display_name}. You can close this page.")
    return _page(200, "Consent not given", f"The consent request for {tenant.display_name} was not "
                                           f"granted ({consent.error}). You can close this page.")
