"""The Key Vault secrets REST API (7.x / 2025+ api-versions) with challenge authentication.

A request without a bearer token answers 401 with the challenge
``Bearer authorization="{authority}/{tenant}", resource="https://vault.azure.net"``; tokens are
checked against the Entra simulator's JWKS (signature, audience https://vault.azure.net, tenant,
lifetime). Paths: ``PUT /secrets/{name}``, ``GET /secrets/{name}[/{version}]``,
``PATCH /secrets/{name}/{version}``, ``GET /secrets/{name}/versions``, ``GET /secrets``.
"""

from __future__ import annotations

import json
import logging
import ssl
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .control import build_routes as control_routes
from .state import SecretVersion, VaultError, VaultState

log = logging.getLogger("vaultsim")
VAULT_RESOURCE = "https://vault.azure.net"
_AUDIENCES = [VAULT_RESOURCE, VAULT_RESOURCE + "/", "cfa8b339-82a2-471a-a3c9-0fc0be7a4093"]
PAGE_SIZE = 25


class JwksValidator:
    """Checks bearer tokens with the signing keys the Entra simulator publishes (fetched lazily,
    refetched once when a token names an unknown key id)."""

    def __init__(self, authority: str, tenant_id: str, ca_path: str | None) -> None:
        self.url = f"{authority.rstrip('/')}/{tenant_id}/discovery/v2.0/keys"
        self.tenant_id = tenant_id
        self._verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca_path) if ca_path else True
        self._keys: dict[str, Any] = {}

    async def _refresh(self) -> None:
        async with httpx.AsyncClient(verify=self._verify, timeout=10) as client:
            response = await client.get(self.url)
            response.raise_for_status()
        self._keys = {k["kid"]: jwt.PyJWK(k).key for k in response.json().get("keys", [])}

    async def __call__(self, token: str) -> dict[str, Any]:
        kid = jwt.get_unverified_header(token).get("kid", "")
        if kid not in self._keys:
            await self._refresh()
        key = self._keys.get(kid)
        if key is None:
            raise VaultError(401, "Unauthorized", "AKV10000: Request is missing a valid Bearer token: "
                                                  "unknown signing key.")
        try:
            claims = jwt.decode(token, key, algorithms=["RS256"], options={"verify_aud": False,
                                                                          "require": ["exp", "tid"]})
        except jwt.ExpiredSignatureError as exc:
            raise VaultError(401, "Unauthorized", "AKV10000: The access token has expired.") from exc
        except jwt.PyJWTError as exc:
            raise VaultError(401, "Unauthorized", "AKV10000: Request is missing a valid Bearer token.") from exc
        if claims.get("aud") not in _AUDIENCES:
            raise VaultError(401, "Unauthorized", f"AKV10022: Invalid audience. Expected {VAULT_RESOURCE}, "
                                                  f"found: {claims.get('aud')}.")
        if str(claims.get("tid", "")).lower() != self.tenant_id.lower():
            raise VaultError(401, "Unauthorized", "AKV10032: Invalid issuer. Expected one of "
                                                  f"https://sts.windows.net/{self.tenant_id}/, found: "
                                                  f"{claims.get('iss')}.")
        return claims


Validator = Callable[[str], Awaitable[dict[str, Any]]]


def _attrs_in(body: dict[str, Any]) -> dict[str, Any]:
    """Request ``attributes`` → VaultState.update keyword arguments (only what was sent)."""
    attrs = body.get("attributes") or {}
    out: dict[str, Any] = {}
    if "enabled" in attrs and attrs["enabled"] is not None:
        out["enabled"] = bool(attrs["enabled"])
    for wire, kw in (("nbf", "not_before"), ("exp", "expires_on")):
        if wire in attrs:
            out[kw] = None if attrs[wire] is None else datetime.fromtimestamp(int(attrs[wire]), UTC)
    return out


def build_app(state: VaultState, validator: Validator, *, authority: str, tenant_id: str) -> Starlette:
    challenge = f'Bearer authorization="{authority.rstrip("/")}/{tenant_id}", resource="{VAULT_RESOURCE}"'

    def error(err: VaultError) -> Response:
        headers = {"WWW-Authenticate": challenge} if err.status == 401 else None
        return JSONResponse(err.body(), status_code=err.status, headers=headers)

    async def authorize(request: Request) -> None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise VaultError(401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.")
        claims = await validator(token.strip())
        allowed = state.allowed_principals
        if allowed is not None and str(claims.get("oid", "")).lower() not in allowed:
            raise VaultError(403, "Forbidden", "Caller is not authorized to perform action on resource. "
                             f"Caller: appid={claims.get('appid')};oid={claims.get('oid')}. "
                             "Action: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'.", "ForbiddenByRbac")

    async def secrets(request: Request) -> Response:
        entry = {"method": request.method, "path": request.scope["path"], "status": None,
                 "at": datetime.now(UTC).isoformat()}
        try:
            if state.outage is not None:
                raise VaultError(state.outage, "ServiceUnavailable", "The service is temporarily unavailable.")
            if not request.query_params.get("api-version"):
                raise VaultError(400, "BadParameter", "The request URI is missing the api-version parameter.")
            await authorize(request)
            response = await _dispatch(request)
        except VaultError as err:
            response = error(err)
        except Exception:  # a simulator bug must still answer in Key Vault's shape
            log.exception("vaultsim handler failed for %s %s", request.method, entry["path"])
            response = error(VaultError(500, "InternalServerError", "vaultsim internal error."))
        response.headers["x-ms-request-id"] = str(uuid.uuid4())
        response.headers["x-ms-keyvault-service-version"] = "1.9.0.0"
        entry["status"] = response.status_code
        state.log_request(entry)
        return response

    async def _dispatch(request: Request) -> Response:
        base = f"{request.url.scheme}://{request.url.netloc}"
        parts = request.path_params["rest"].split("/")  # "", "name", ["version" | "versions"]
        method = request.method
        if parts == [""] or parts == ["", ""]:
            if method != "GET":
                raise VaultError(405, "BadParameter", "Method not allowed.")
            latest = [state.versions(n)[-1] for n in state.names()]
            return _page(request, base, [v.item(base, with_version=False) for v in latest])
        if parts[0] != "" or len(parts) > 3:
            raise VaultError(404, "NotFound", "The requested path was not found.")
        name = parts[1]
        tail = parts[2] if len(parts) == 3 else ""
        try:
            body = json.loads(await request.body() or b"{}") if method in ("PUT", "PATCH") else {}
        except ValueError as exc:
            raise VaultError(400, "BadParameter", "The request body is not valid JSON.") from exc
        if not isinstance(body, dict):
            raise VaultError(400, "BadParameter", "The request body must be a JSON object.")
        if method == "PUT" and len(parts) == 2:
            if not isinstance(body.get("value"), str):
                raise VaultError(400, "BadParameter", "Property 'value' is required.")
            attrs = _attrs_in(body)
            created = state.set_secret(name, body["value"], content_type=body.get("contentType"),
                                       enabled=attrs.get("enabled", True), not_before=attrs.get("not_before"),
                                       expires_on=attrs.get("expires_on"), tags=body.get("tags"))
            return JSONResponse(created.bundle(base))
        if method == "GET" and tail == "versions":
            return _page(request, base, [v.item(base) for v in state.versions(name)])
        if method == "GET":
            return JSONResponse(state.get(name, tail or None).bundle(base))
        if method == "PATCH":
            changes = _attrs_in(body)
            for wire, kw in (("contentType", "content_type"), ("tags", "tags")):
                if wire in body:
                    changes[kw] = body[wire]
            updated: SecretVersion = state.update(name, tail or None, **changes)
            return JSONResponse(updated.bundle(base, with_value=False))
        raise VaultError(405, "BadParameter", f"Method {method} is not supported by this simulator here.")

    def _page(request: Request, base: str, items: list[dict[str, Any]]) -> Response:
        raw_size = request.query_params.get("maxresults") or ""
        size = max(1, min(int(raw_size), PAGE_SIZE)) if raw_size.isdigit() else PAGE_SIZE
        skip_raw = request.query_params.get("$skiptoken") or "0"
        skip = int(skip_raw) if skip_raw.isdigit() else 0
        next_link = None
        if skip + size < len(items):
            query = {"api-version": request.query_params["api-version"], "$skiptoken": str(skip + size),
                     "maxresults": str(size)}
            next_link = f"{base}{request.url.path}?{urlencode(query)}"
        return JSONResponse({"value": items[skip: skip + size], "nextLink": next_link})

    return Starlette(routes=[*control_routes(state), Route("/secrets{rest:path}", secrets,
                                                           methods=["GET", "PUT", "PATCH", "DELETE", "POST"])])
