"""An app's service principal in a tenant other than its home, and its own passwords, under
``/v1.0/servicePrincipals(appId='{appId}')``: what a customer's administrator (or the app itself) manages there.

* ``GET`` (id, appId, passwordCredentials with hint, never the value, keyCredentials), ``POST .../addPassword``
  (secretText returned once) and ``.../removePassword``. The service principal is the one in the token's tenant
  (``tid``): a token of tenant A never reads or changes tenant B's, and the app registration's own passwords
  (``/applications``, the home tenant) are untouched. A tenant without consent has no service principal: 404.
* Writing needs ``Application.ReadWrite.All``, or ``Application.ReadWrite.OwnedBy`` with the service principal
  among its own owners (``own(tid, client_id)``, ``PUT /_sim/tenants/{tid}/principals/{clientId}/owner``);
  otherwise 403 ``Authorization_RequestDenied``, as Graph answers.
* A password added here works at the token endpoint in that tenant only (``Tenancy.add_secret``) until its
  ``endDateTime`` (``expired`` is Tenancy's check); removing it stops it at once. Passwords added through
  ``/_sim/tenants/{tid}/secrets`` are listed too (no end date, a key id derived from the secret).
* ``addKey``/``removeKey`` of a service principal are not modelled (a certificate of a guest service principal
  cannot sign in here either): 400 with that reason.
"""

from __future__ import annotations

import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .credmodel import iso, parse_iso
from .errors import GraphError, graph_error_response, json_response

if TYPE_CHECKING:
    from .auth import Signer

__all__ = ["PrincipalPasswords", "build_routes"]

_PATH = re.compile(r"\(appId='(?P<app_id>[^']+)'\)(?:/(?:microsoft\.graph\.)?(?P<action>addPassword|removePassword|"
                   r"addKey|removeKey))?/?", re.I)
_WRITE_ALL = "Application.ReadWrite.All"
_OWNED_BY = "Application.ReadWrite.OwnedBy"
_READ = {"Application.Read.All", _WRITE_ALL, "Directory.Read.All", "Directory.ReadWrite.All"}


@dataclass
class _Password:
    key_id: str
    secret: str = field(repr=False)
    display_name: str | None
    start: datetime
    end: datetime | None

    def public(self) -> dict[str, Any]:
        return {"customKeyIdentifier": None, "displayName": self.display_name,
                "endDateTime": iso(self.end) if self.end else None, "hint": self.secret[:3], "keyId": self.key_id,
                "secretText": None, "startDateTime": iso(self.start)}


class PrincipalPasswords:
    """The passwords' metadata per (tenant, client id); the secrets themselves are the tenancy's."""

    def __init__(self, lock: threading.RLock, tenancy: Any) -> None:
        self._lock = lock
        self._tenancy = tenancy
        self._passwords: dict[tuple[str, str], dict[str, _Password]] = {}
        self._owned: set[tuple[str, str]] = set()
        tenancy.expired = self.expired

    def own(self, tenant_id: str, client_id: str) -> None:
        with self._lock:
            self._owned.add((tenant_id.lower(), client_id))

    def owns_itself(self, tenant_id: str, client_id: str) -> bool:
        with self._lock:
            return (tenant_id.lower(), client_id) in self._owned

    def listed(self, tenant_id: str, client_id: str) -> list[_Password]:
        key = (tenant_id.lower(), client_id)
        with self._lock:
            known = self._passwords.setdefault(key, {})
            by_secret = {p.secret for p in known.values()}
            for secret in self._tenancy.secrets_of(tenant_id, client_id):
                if secret not in by_secret:  # added through the control API: adopt it
                    key_id = str(uuid.uuid5(uuid.NAMESPACE_OID, f"{key}{secret}"))
                    known[key_id] = _Password(key_id, secret, None, datetime.now(UTC), None)
            return list(known.values())

    def add(self, tenant_id: str, client_id: str, display_name: str | None, end: datetime | None) -> _Password:
        import secrets

        now = datetime.now(UTC)
        password = _Password(str(uuid.uuid4()), secrets.token_urlsafe(30), display_name, now,
                             end or now + timedelta(days=730))
        with self._lock:
            self.listed(tenant_id, client_id)
            self._tenancy.add_secret(tenant_id, client_id, password.secret)
            self._passwords[(tenant_id.lower(), client_id)][password.key_id] = password
        return password

    def remove(self, tenant_id: str, client_id: str, key_id: str) -> bool:
        with self._lock:
            self.listed(tenant_id, client_id)
            password = self._passwords[(tenant_id.lower(), client_id)].pop(key_id, None)
            if password is not None:
                self._tenancy.remove_secret(tenant_id, client_id, password.secret)
            return password is not None

    def expired(self, tenant_id: str, client_id: str, secret: str) -> bool:
        with self._lock:
            known = self._passwords.get((tenant_id.lower(), client_id), {})
            ends = [p.end for p in known.values() if p.secret == secret and p.end is not None]
        return bool(ends) and all(end <= datetime.now(UTC) for end in ends)


def build_routes(state: Any, signer: Signer) -> list[Route]:
    passwords: PrincipalPasswords = state.principals

    from .auth import TokenError

    def claims_of(request: Request) -> dict[str, Any]:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty.")
        try:
            return signer.verify(token.strip())
        except TokenError as exc:
            raise GraphError(401, "InvalidAuthenticationToken", exc.message) from exc

    async def handle(request: Request) -> Response:
        ids = (str(uuid.uuid4()), request.headers.get("client-request-id") or str(uuid.uuid4()))
        entry = {"method": request.method, "path": request.scope["path"], "query": request.url.query,
                 "mailbox": None, "status": None, "at": datetime.now(UTC).isoformat(), "requestId": ids[0]}
        try:
            response = await dispatch(request, claims_of(request))
        except GraphError as err:
            response = graph_error_response(err, *ids)
        response.headers["request-id"], response.headers["client-request-id"] = ids
        entry["status"] = response.status_code
        state.log_request(entry)
        return response

    async def dispatch(request: Request, claims: dict[str, Any]) -> Response:
        match = _PATH.fullmatch(request.path_params["rest"])
        if match is None:
            raise GraphError(400, "Request_BadRequest", "Resource not found for the segment 'servicePrincipals'.")
        tenant, client_id, action = str(claims.get("tid", "")).lower(), match["app_id"], (match["action"] or "")
        principal = state.tenancy.principal_id(tenant, client_id)
        if principal is None:
            raise GraphError(404, "Request_ResourceNotFound", f"Resource '{client_id}' does not exist or one of its "
                                                              "queried reference-property objects are not present.")
        roles = set(claims.get("roles") or [])
        may_write = _WRITE_ALL in roles or (_OWNED_BY in roles and str(claims.get("appid")) == client_id
                                            and passwords.owns_itself(tenant, client_id))
        if not action:
            if request.method != "GET":
                raise GraphError(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request "
                                                            "target.")
            if not (roles & _READ or may_write):
                raise _denied()
            return json_response(200, {"id": principal, "appId": client_id, "keyCredentials": [],
                                       "passwordCredentials": [p.public() for p in passwords.listed(tenant,
                                                                                                    client_id)]})
        if request.method != "POST":
            raise GraphError(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")
        if action.lower() in ("addkey", "removekey"):
            raise GraphError(400, "Request_BadRequest", "The simulator does not model certificates of a service "
                                                        "principal in another tenant.")
        if not may_write:
            raise _denied()
        body = await _body(request)
        if action.lower() == "removepassword":
            if not passwords.remove(tenant, client_id, str(body.get("keyId") or "")):
                raise GraphError(400, "Request_BadRequest", "No password credential with that keyId.")
            return Response(status_code=204)
        spec = body.get("passwordCredential") or {}
        try:
            end = parse_iso(spec["endDateTime"]) if isinstance(spec, dict) and spec.get("endDateTime") else None
        except ValueError as exc:
            raise GraphError(400, "Request_BadRequest", "Invalid value specified for property 'endDateTime' of "
                                                        "resource 'PasswordCredential'.") from exc
        if end is not None and end <= datetime.now(UTC):
            raise GraphError(400, "Request_BadRequest", "Key credential end date is invalid.")
        added = passwords.add(tenant, client_id, spec.get("displayName") if isinstance(spec, dict) else None, end)
        return json_response(200, {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#"
                                                     "microsoft.graph.passwordCredential"}
                             | added.public() | {"secretText": added.secret})

    async def own(request: Request) -> Response:
        passwords.own(request.path_params["tid"], request.path_params["client_id"])
        return Response(status_code=204)

    return [Route("/v1.0/servicePrincipals{rest:path}", handle, methods=["GET", "POST", "PATCH", "DELETE"]),
            Route("/_sim/tenants/{tid}/principals/{client_id}/owner", own, methods=["PUT"])]


def _denied() -> GraphError:
    return GraphError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")


async def _body(request: Request) -> dict[str, Any]:
    import json

    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise GraphError(400, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type header "
                                            "is set and payload is of valid JSON format.")
    return body
