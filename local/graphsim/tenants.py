"""Several directories (tenants) in one simulator, for a multi-tenant app registration.

An app added with ``add_app`` lives in its home tenant, as before: its tokens carry that ``tid`` and it reaches
every mailbox no other tenant owns, so a single-tenant setup behaves exactly as without this module. With
``state.tenancy``:

* ``add_tenant(tid)`` makes a directory known to the token endpoint; ``assign(user, tid)`` puts a user (a room is
  a user too) into it. A user never assigned belongs to the home tenant of the app asking.
* ``multi_tenant(client_id, redirect_uris)`` marks the app multi-tenant and lists its registered redirect URIs.
* ``consent(tid, client_id)`` is what an administrator's consent does: a service principal of the app in that
  tenant (its own object id, the ``oid`` of its tokens). Before it, a token request in that tenant answers
  AADSTS7000229 (invalid_client: "missing service principal in the tenant"), as Entra does.
* ``add_secret(tid, client_id, secret)`` adds a password to the app's service principal in that tenant: it works
  there only. The app's own passwords (``state.creds``) work in every tenant that consented, as in Entra.
* Graph refuses a token whose ``tid`` does not own the mailbox: 403 ErrorAccessDenied, the answer Exchange gives
  an app-only token for a mailbox outside what it may reach.
* ``GET /{tenant}/v2.0/adminconsent?client_id&scope&redirect_uri&state`` (and ``/{tenant}/adminconsent``): the
  administrator's answer at once, a 302 to ``redirect_uri`` with ``admin_consent=True&tenant=..&scope=..&state=..``
  or, after ``answer_consent(tid, error, description)``, ``error=..&error_description=..&state=..``. The redirect URI
  must be one the app registered (else AADSTS50011, shown as Entra's error page: no redirect).

Over HTTP under ``/_sim/tenants``: ``PUT /{tid}`` {}, ``POST /{tid}/users`` {userPrincipalName},
``POST /{tid}/consent`` {clientId}, ``DELETE /{tid}/consent/{clientId}``, ``POST /{tid}/secrets`` {clientId,
secret}, ``DELETE /{tid}/secrets/{clientId}``, ``PUT /{tid}/consent-answer`` {error?, description?},
``PUT /_sim/apps/{clientId}/multi-tenant`` {redirectUris}.
"""

from __future__ import annotations

import hmac
import json
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from .errors import GraphError

__all__ = ["Tenancy", "build_routes", "missing_service_principal"]


@dataclass
class _Guest:
    """An app's service principal in a tenant other than its home."""

    object_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    secrets: list[str] = field(default_factory=list)


class Tenancy:
    def __init__(self, lock: threading.RLock, apps: Mapping[str, Any]) -> None:
        self._lock = lock
        self._apps = apps
        self._tenants: set[str] = set()
        self._multi: dict[str, list[str]] = {}  # client id → registered redirect URIs
        self._guests: dict[tuple[str, str], _Guest] = {}  # (tenant, client id)
        self._owners: dict[str, str] = {}  # user id (lower) → tenant
        self._answers: dict[str, tuple[str, str] | None] = {}
        self.expired: Any = lambda tenant_id, client_id, secret: False  # principals.py: a password's end date

    # -- directories, apps, consent
    def add_tenant(self, tenant_id: str) -> None:
        with self._lock:
            self._tenants.add(tenant_id.lower())

    def tenants(self) -> set[str]:
        with self._lock:
            return set(self._tenants)

    def multi_tenant(self, client_id: str, redirect_uris: list[str]) -> None:
        with self._lock:
            self._multi[client_id] = list(redirect_uris)

    def is_multi_tenant(self, client_id: str) -> bool:
        with self._lock:
            return client_id in self._multi

    def redirect_allowed(self, client_id: str, uri: str) -> bool:
        with self._lock:
            return uri in self._multi.get(client_id, [])

    def consent(self, tenant_id: str, client_id: str) -> str:
        """The service principal's object id in the tenant (created by the first consent)."""
        with self._lock:
            self.add_tenant(tenant_id)
            return self._guests.setdefault((tenant_id.lower(), client_id), _Guest()).object_id

    def revoke_consent(self, tenant_id: str, client_id: str) -> None:
        with self._lock:
            self._guests.pop((tenant_id.lower(), client_id), None)

    def consented(self, tenant_id: str, client_id: str) -> bool:
        with self._lock:
            return (tenant_id.lower(), client_id) in self._guests

    def principal_id(self, tenant_id: str, client_id: str) -> str | None:
        with self._lock:
            guest = self._guests.get((tenant_id.lower(), client_id))
            return guest.object_id if guest else None

    def add_secret(self, tenant_id: str, client_id: str, secret: str) -> None:
        with self._lock:
            guest = self._guests.get((tenant_id.lower(), client_id))
            if guest is None:
                raise KeyError(f"app {client_id} has no service principal in tenant {tenant_id}")
            guest.secrets.append(secret)

    def remove_secrets(self, tenant_id: str, client_id: str) -> None:
        with self._lock:
            guest = self._guests.get((tenant_id.lower(), client_id))
            if guest is not None:
                guest.secrets.clear()

    def secret_works(self, tenant_id: str, client_id: str, secret: str) -> bool:
        """True when ``secret`` is an unexpired password of the app's service principal in that tenant."""
        with self._lock:
            guest = self._guests.get((tenant_id.lower(), client_id))
            return (guest is not None and any(hmac.compare_digest(s.encode(), secret.encode()) for s in guest.secrets)
                    and not self.expired(tenant_id, client_id, secret))

    def secrets_of(self, tenant_id: str, client_id: str) -> list[str]:
        with self._lock:
            guest = self._guests.get((tenant_id.lower(), client_id))
            return list(guest.secrets) if guest else []

    def remove_secret(self, tenant_id: str, client_id: str, secret: str) -> None:
        with self._lock:
            guest = self._guests.get((tenant_id.lower(), client_id))
            if guest is not None and secret in guest.secrets:
                guest.secrets.remove(secret)

    def answer_consent(self, tenant_id: str, error: str | None = None, description: str | None = None) -> None:
        """How the tenant's administrator answers the next consent requests (None: grants)."""
        with self._lock:
            self._answers[tenant_id.lower()] = (error, description or "") if error else None

    def consent_answer(self, tenant_id: str) -> tuple[str, str] | None:
        with self._lock:
            return self._answers.get(tenant_id.lower())

    # -- mailboxes
    def assign(self, user_id: str, tenant_id: str) -> None:
        with self._lock:
            self.add_tenant(tenant_id)
            self._owners[user_id.lower()] = tenant_id.lower()

    def owner_of(self, user_id: str, home: str) -> str:
        with self._lock:
            return self._owners.get(user_id.lower(), home.lower())

    def check_mailbox(self, claims: Mapping[str, Any], user_id: str) -> None:
        """Raise Graph's 403 when the token's tenant does not own the mailbox."""
        app = self._apps.get(str(claims.get("appid")))
        home = app.tenant_id if app is not None else str(claims.get("tid"))
        if self.owner_of(user_id, home) != str(claims.get("tid", "")).lower():
            raise GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")


def missing_service_principal(client_id: str, tenant: str) -> Response:
    from .auth import entra_error

    return entra_error(401, "invalid_client", 7000229,
                       f"The client application {client_id} is missing service principal in the tenant {tenant}. "
                       "See instructions here: https://go.microsoft.com/fwlink/?linkid=2225119")


def _entra_page(code: int, text: str) -> Response:
    # Entra shows an error page (no redirect) when the request itself is wrong.
    return HTMLResponse(f"<html><body><h1>Sign in</h1><p>AADSTS{code}: {text}</p></body></html>", status_code=400)


def build_routes(state: Any) -> list[Route]:
    tenancy: Tenancy = state.tenancy

    async def admin_consent(request: Request) -> Response:
        tenant = request.path_params["tenant"].lower()
        q = request.query_params
        client_id, redirect = q.get("client_id", ""), q.get("redirect_uri", "")
        if client_id not in state.apps:
            return _entra_page(700016, f"Application with identifier '{client_id}' was not found in the directory.")
        if not redirect or not tenancy.redirect_allowed(client_id, redirect):
            return _entra_page(50011, f"The redirect URI '{redirect}' specified in the request does not match the "
                                      f"redirect URIs configured for the application '{client_id}'.")
        if not q.get("scope"):
            return _entra_page(900144, "The request body must contain the following parameter: 'scope'.")
        if tenant not in state.tenants():
            return _entra_page(90002, f"Tenant '{tenant}' not found.")
        answer = tenancy.consent_answer(tenant)
        if answer is None:
            tenancy.consent(tenant, client_id)
            params = {"admin_consent": "True", "tenant": tenant, "scope": q.get("scope", "")}
        else:
            params = {"error": answer[0], "error_description": answer[1]}
        if q.get("state") is not None:
            params["state"] = q.get("state", "")
        separator = "&" if "?" in redirect else "?"
        return RedirectResponse(redirect + separator + urlencode(params), status_code=302)

    async def body(request: Request) -> dict[str, Any]:
        raw = await request.body()
        data = json.loads(raw) if raw else {}
        return data if isinstance(data, dict) else {}

    async def put_tenant(request: Request) -> Response:
        tenancy.add_tenant(request.path_params["tid"])
        return JSONResponse({"tenantId": request.path_params["tid"].lower()})

    async def add_user(request: Request) -> Response:
        data = await body(request)
        upn = str(data.get("userPrincipalName") or "")
        user = state.find_user(upn) or state.add_user(upn, display_name=data.get("displayName"))
        tenancy.assign(user["id"], request.path_params["tid"])
        return JSONResponse(dict(user), status_code=201)

    async def consent(request: Request) -> Response:
        oid = tenancy.consent(request.path_params["tid"], str((await body(request)).get("clientId") or ""))
        return JSONResponse({"servicePrincipalId": oid}, status_code=201)

    async def revoke(request: Request) -> Response:
        tenancy.revoke_consent(request.path_params["tid"], request.path_params["client_id"])
        return Response(status_code=204)

    async def add_secret(request: Request) -> Response:
        data = await body(request)
        try:
            tenancy.add_secret(request.path_params["tid"], str(data.get("clientId") or ""), str(data["secret"]))
        except KeyError:
            return JSONResponse({"error": {"code": "BadRequest", "message": "no consent in that tenant"}}, 400)
        return Response(status_code=204)

    async def remove_secrets(request: Request) -> Response:
        tenancy.remove_secrets(request.path_params["tid"], request.path_params["client_id"])
        return Response(status_code=204)

    async def consent_answer(request: Request) -> Response:
        data = await body(request)
        tenancy.answer_consent(request.path_params["tid"], data.get("error"), data.get("description"))
        return Response(status_code=204)

    async def multi(request: Request) -> Response:
        tenancy.multi_tenant(request.path_params["client_id"], list((await body(request)).get("redirectUris") or []))
        return Response(status_code=204)

    return [
        Route("/_sim/tenants/{tid}", put_tenant, methods=["PUT"]),
        Route("/_sim/tenants/{tid}/users", add_user, methods=["POST"]),
        Route("/_sim/tenants/{tid}/consent", consent, methods=["POST"]),
        Route("/_sim/tenants/{tid}/consent/{client_id}", revoke, methods=["DELETE"]),
        Route("/_sim/tenants/{tid}/secrets", add_secret, methods=["POST"]),
        Route("/_sim/tenants/{tid}/secrets/{client_id}", remove_secrets, methods=["DELETE"]),
        Route("/_sim/tenants/{tid}/consent-answer", consent_answer, methods=["PUT"]),
        Route("/_sim/apps/{client_id}/multi-tenant", multi, methods=["PUT"]),
        Route("/{tenant}/v2.0/adminconsent", admin_consent, methods=["GET"]),
        Route("/{tenant}/adminconsent", admin_consent, methods=["GET"]),
    ]
