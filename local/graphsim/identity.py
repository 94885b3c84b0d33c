"""The App Service managed identity endpoint (api-version 2019-08-01), as azure-identity's
``ManagedIdentityCredential`` calls it when ``IDENTITY_ENDPOINT`` and ``IDENTITY_HEADER`` are set::

    GET {IDENTITY_ENDPOINT}?resource=...&api-version=2019-08-01&client_id=...
    X-IDENTITY-HEADER: {IDENTITY_HEADER}

Identities are registered with ``state.creds.add_managed_identity``. Tokens are signed by the same
key as every other token of the simulator; their issuer is the production one
(``https://login.microsoftonline.com/{tenant}/v2.0``) so a federated identity credential written for
Azure (issuer, subject = the identity's principal id) matches here unchanged.
"""

from __future__ import annotations

import hmac
import time
import uuid

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .auth import GRAPH_AUDIENCE, VAULT_AUDIENCE, Signer
from .credmodel import EXCHANGE_AUDIENCE
from .state import TOKEN_LIFETIME, SimState

IDENTITY_PATH = "/msi/token"
_RESOURCES = {EXCHANGE_AUDIENCE, VAULT_AUDIENCE, GRAPH_AUDIENCE}


def _error(status: int, message: str) -> Response:
    return JSONResponse({"statusCode": status, "message": message, "correlationId": str(uuid.uuid4())},
                        status_code=status)


def issuer_of(tenant_id: str) -> str:
    return f"https://login.microsoftonline.com/{tenant_id}/v2.0"


def build_routes(state: SimState, signer: Signer) -> list[Route]:
    async def token(request: Request) -> Response:
        header = request.headers.get("x-identity-header", "")
        if not header or not hmac.compare_digest(header.encode(), state.creds.identity_header.encode()):
            return _error(401, "X-IDENTITY-HEADER is missing or invalid.")
        q = request.query_params
        if q.get("api-version") != "2019-08-01":
            return _error(400, "Only api-version 2019-08-01 is supported by this endpoint.")
        resource = (q.get("resource") or "").removesuffix("/.default").rstrip("/")
        if not resource:
            return _error(400, "Required query parameter 'resource' is missing.")
        mi = state.creds.find_managed_identity(
            client_id=q.get("client_id"), principal_id=q.get("principal_id") or q.get("object_id"),
            resource_id=q.get("mi_res_id"))
        if mi is None:
            return _error(400, "No User Assigned or Delegated Managed Identity found for specified "
                               "ClientId/ResourceId/PrincipalId.")
        if resource not in _RESOURCES:
            return _error(400, f"AADSTS500011: The resource principal named {resource} was not found in "
                               f"the tenant named {mi.tenant_id}.")
        now = int(time.time())
        claims = {
            "aud": resource, "iss": issuer_of(mi.tenant_id), "iat": now, "nbf": now,
            "exp": now + TOKEN_LIFETIME, "tid": mi.tenant_id, "appid": mi.client_id,
            "azp": mi.client_id, "oid": mi.principal_id, "sub": mi.principal_id, "idtyp": "app",
            "uti": uuid.uuid4().hex, "ver": "2.0",
            "xms_mirid": mi.resource_id or f"/subscriptions/local/resourcegroups/local/providers/"
                                           f"Microsoft.ManagedIdentity/userAssignedIdentities/{mi.client_id}",
        }
        return JSONResponse({"access_token": signer.issue(claims), "expires_on": str(now + TOKEN_LIFETIME),
                             "resource": resource, "token_type": "Bearer", "client_id": mi.client_id})

    return [Route(IDENTITY_PATH, token, methods=["GET"])]
