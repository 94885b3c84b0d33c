"""Access tokens for the connector's own API (its operator routes), as Entra issues them to a signed-in
operator or a calling app, minted on request for tests and the local stack::

    POST /_sim/operator-tokens
    {"audience": "api://<client id>",      required: the connector's app ID URI or client id
     "roles": ["Connector.Operator"],      the app roles assigned to the caller
     "tenant": "<tenant id>",              default: the simulator's only tenant
     "expiresIn": 3600,                    seconds from now; negative for an expired token
     "version": "2.0",                     "1.0": the sts.windows.net issuer
     "signedBy": "simulator",              "stranger": a key the JWKS does not hold, under the simulator's kid
     "kid": null,                          another key id in the header (with signedBy stranger: an unknown kid)
     "user": "ops@contoso.com"}            preferred_username; absent for an app-only token
    → 201 {"access_token", "token_type": "Bearer", "expires_in"}

Signed by the simulator's key (published at /{tenant}/discovery/v2.0/keys) with the issuer the app derives
from its authority setting: ``{base}/{tenant}/v2.0``.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .auth import Signer
from .state import SimState

PATH = "/_sim/operator-tokens"


def _bad(message: str) -> Response:
    return JSONResponse({"error": {"code": "BadRequest", "message": message}}, status_code=400)


def build_routes(state: SimState, signer: Signer) -> list[Route]:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    async def mint(request: Request) -> Response:
        try:
            body: dict[str, Any] = json.loads(await request.body() or b"{}")
            audience = str(body["audience"])
            roles = [str(r) for r in body.get("roles", [])]
            lifetime = int(body.get("expiresIn", 3600))
        except (ValueError, KeyError, TypeError) as exc:
            return _bad(f"invalid request: {exc}")
        # The apps' home tenants: customer tenants that consented to a multi-tenant app are not where operators sign in.
        homes = sorted({app.tenant_id.lower() for app in list(state.apps.values())})
        tenant = str(body.get("tenant") or (homes[0] if len(homes) == 1 else ""))
        if not tenant:
            return _bad("name the tenant: the simulator's apps live in more than one")
        now = int(time.time())
        base = f"{request.url.scheme}://{request.url.netloc}"
        v1 = body.get("version") == "1.0"
        claims: dict[str, Any] = {
            "aud": audience, "iss": f"https://sts.windows.net/{tenant}/" if v1 else f"{base}/{tenant}/v2.0",
            "iat": now - 5, "nbf": now - 5, "exp": now + lifetime, "tid": tenant, "oid": str(uuid.uuid4()),
            "sub": str(uuid.uuid4()), "roles": roles, "ver": "1.0" if v1 else "2.0", "uti": uuid.uuid4().hex,
        }
        if user := body.get("user"):
            claims["preferred_username" if not v1 else "upn"] = str(user)
        else:
            claims |= {"azp": "operator-tool", "idtyp": "app"}
        kid = str(body.get("kid") or signer.kid)
        if body.get("signedBy", "simulator") == "stranger":
            token = jwt.encode(claims, stranger, algorithm="RS256", headers={"kid": kid})
        else:
            token = signer.issue(claims) if kid == signer.kid else _with_kid(signer, claims, kid)
        return JSONResponse({"access_token": token, "token_type": "Bearer", "expires_in": lifetime},
                            status_code=201)

    return [Route(PATH, mint, methods=["POST"])]


def _with_kid(signer: Signer, claims: dict[str, Any], kid: str) -> str:
    """Signed by the simulator's key but naming another key id (one the JWKS does not list)."""
    return jwt.encode(claims, signer._key, algorithm="RS256", headers={"kid": kid})  # noqa: SLF001
