"""Control API for application credentials and managed identities (tests and the demo only).

Each route is a thin wrapper of a ``state.creds`` method (appcreds.CredentialStore); ``{keyId}``
may be ``all``. Secret values are returned only where the caller creates one without giving it.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .credmodel import CredentialError, parse_iso
from .identity import IDENTITY_PATH
from .state import SimState


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    data = json.loads(raw) if raw else {}
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


def _bad(message: str, status: int = 400) -> Response:
    return JSONResponse({"error": {"code": "BadRequest", "message": message}}, status_code=status)


def build_routes(state: SimState) -> list[Route]:
    creds = state.creds

    def guarded(fn: Any) -> Any:
        async def handler(request: Request) -> Response:
            try:
                return await fn(request, request.path_params.get("client_id", ""), await _body(request))
            except CredentialError as exc:
                return _bad(str(exc), 404)
            except (ValueError, KeyError, TypeError) as exc:
                return _bad(f"invalid request: {exc}")
        return handler

    @guarded
    async def get_credentials(request: Request, cid: str, body: dict[str, Any]) -> Response:
        return JSONResponse(creds.public(cid))

    @guarded
    async def add_password(request: Request, cid: str, body: dict[str, Any]) -> Response:
        given = body.get("secret")
        pw = creds.add_password(
            cid, display_name=body.get("displayName"), secret=given,
            start=parse_iso(body["startDateTime"]) if body.get("startDateTime") else None,
            end=parse_iso(body["endDateTime"]) if body.get("endDateTime") else None,
            delay=body.get("delaySeconds"))
        out = pw.public()
        if not given:
            out["secretText"] = pw.secret
        return JSONResponse(out, status_code=201)

    @guarded
    async def expire_password(request: Request, cid: str, body: dict[str, Any]) -> Response:
        creds.expire_password(cid, request.path_params["key_id"])
        return Response(status_code=204)

    @guarded
    async def revoke_password(request: Request, cid: str, body: dict[str, Any]) -> Response:
        creds.revoke_password(cid, request.path_params["key_id"])
        return Response(status_code=204)

    @guarded
    async def put_delay(request: Request, cid: str, body: dict[str, Any]) -> Response:
        creds.set_password_delay(cid, float(body["seconds"]))
        return JSONResponse({"seconds": float(body["seconds"])})

    @guarded
    async def propagate(request: Request, cid: str, body: dict[str, Any]) -> Response:
        creds.propagate(cid)
        return Response(status_code=204)

    @guarded
    async def add_key(request: Request, cid: str, body: dict[str, Any]) -> Response:
        key = creds.add_key(cid, str(body["certificate"]), display_name=body.get("displayName"))
        return JSONResponse(key.public(), status_code=201)

    @guarded
    async def expire_key(request: Request, cid: str, body: dict[str, Any]) -> Response:
        creds.expire_key(cid, request.path_params["key_id"])
        return Response(status_code=204)

    @guarded
    async def revoke_key(request: Request, cid: str, body: dict[str, Any]) -> Response:
        creds.revoke_key(cid, request.path_params["key_id"])
        return Response(status_code=204)

    @guarded
    async def add_owner(request: Request, cid: str, body: dict[str, Any]) -> Response:
        if body.get("userPrincipalName"):
            user = state.find_user(str(body["userPrincipalName"]))
            if user is None:
                return _bad("unknown user", 404)
            owner = creds.add_owner(cid, user=user)
        else:
            owner = creds.add_owner(cid, owner_client_id=str(body.get("clientId") or cid))
        return JSONResponse(owner.public(), status_code=201)

    @guarded
    async def grant_roles(request: Request, cid: str, body: dict[str, Any]) -> Response:
        roles = creds.grant_roles(cid, list(body["roles"]), replace=request.method == "PUT")
        return JSONResponse({"roles": roles})

    @guarded
    async def add_federated(request: Request, cid: str, body: dict[str, Any]) -> Response:
        fic = creds.add_federated(cid, issuer=str(body["issuer"]), subject=str(body["subject"]),
                                  audiences=body.get("audiences"), name=body.get("name"),
                                  description=body.get("description"))
        return JSONResponse(fic.public(), status_code=201)

    @guarded
    async def put_identity(request: Request, cid: str, body: dict[str, Any]) -> Response:
        mi = creds.add_managed_identity(
            request.path_params["mi_client_id"], str(body["tenantId"]), principal_id=body.get("principalId"),
            resource_id=body.get("resourceId"), system_assigned=bool(body.get("systemAssigned", False)))
        return JSONResponse({"clientId": mi.client_id, "principalId": mi.principal_id, "tenantId": mi.tenant_id,
                             "resourceId": mi.resource_id, "systemAssigned": mi.system_assigned})

    async def identity_env(request: Request) -> Response:
        # What App Service puts into the app's environment.
        base = f"{request.url.scheme}://{request.url.netloc}"
        return JSONResponse({"IDENTITY_ENDPOINT": base + IDENTITY_PATH, "IDENTITY_HEADER": creds.identity_header})

    app = "/_sim/apps/{client_id}"
    return [
        Route(f"{app}/credentials", get_credentials, methods=["GET"]),
        Route(f"{app}/passwords", add_password, methods=["POST"]),
        Route(f"{app}/passwords/{{key_id}}/expire", expire_password, methods=["POST"]),
        Route(f"{app}/passwords/{{key_id}}", revoke_password, methods=["DELETE"]),
        Route(f"{app}/password-delay", put_delay, methods=["PUT"]),
        Route(f"{app}/propagate", propagate, methods=["POST"]),
        Route(f"{app}/keys", add_key, methods=["POST"]),
        Route(f"{app}/keys/{{key_id}}/expire", expire_key, methods=["POST"]),
        Route(f"{app}/keys/{{key_id}}", revoke_key, methods=["DELETE"]),
        Route(f"{app}/owners", add_owner, methods=["POST"]),
        Route(f"{app}/roles", grant_roles, methods=["POST", "PUT"]),
        Route(f"{app}/federated-credentials", add_federated, methods=["POST"]),
        Route("/_sim/managed-identities/{mi_client_id}", put_identity, methods=["PUT"]),
        Route("/_sim/managed-identity-env", identity_env, methods=["GET"]),
    ]
