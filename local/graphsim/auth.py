"""The Entra ID side: OIDC discovery, JWKS, MSAL instance discovery and the client-credentials
token endpoint, with errors in Entra's shape (samples/token-error-response.json).

The token endpoint accepts exactly the app's current passwords (appcreds.py: unexpired, removed ones
refused, new ones only after the app's propagation delay) and ``client_assertion``s (assertions.py:
certificate assertions, federated managed identity tokens), for Graph or Key Vault.

Secrets and tokens never go into a response body or a log line.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .assertions import JWT_BEARER, Rejection, check_client_assertion
from .state import SimState
from .tenants import missing_service_principal

GRAPH_AUDIENCE = "https://graph.microsoft.com"
VAULT_AUDIENCE = "https://vault.azure.net"
# Entra accepts a resource by URI or by its well-known app id; the token names it by URI.
RESOURCES = {GRAPH_AUDIENCE: GRAPH_AUDIENCE, "00000003-0000-0000-c000-000000000000": GRAPH_AUDIENCE,
             VAULT_AUDIENCE: VAULT_AUDIENCE, "cfa8b339-82a2-471a-a3c9-0fc0be7a4093": VAULT_AUDIENCE}


class TokenError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Signer:
    """RS256 key pair generated per run; its kid is published in the JWKS."""

    def __init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(RSAAlgorithm.to_jwk(self._key.public_key()))
        jwk |= {"kid": self.kid, "use": "sig", "alg": "RS256"}
        return {"keys": [jwk]}

    def issue(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})

    def verify_signature(self, token: str) -> dict[str, Any]:
        """Claims of a token this signer issued, whatever its audience or lifetime."""
        return jwt.decode(token, self._key.public_key(), algorithms=["RS256"],
                          options={"verify_aud": False, "verify_exp": False, "verify_nbf": False,
                                   "verify_iat": False})

    def verify(self, token: str, audience: str = GRAPH_AUDIENCE) -> dict[str, Any]:
        try:
            return jwt.decode(
                token, self._key.public_key(), algorithms=["RS256"], audience=audience,
                options={"require": ["exp", "iat", "nbf", "tid", "appid"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenError("Lifetime validation failed, the token is expired.") from exc
        except jwt.PyJWTError as exc:
            raise TokenError("IDX14100: JWT is not well formed.") from exc


def _base(request: Request) -> str:
    # Discovery documents point at whatever host name the client used (localhost or 127.0.0.1).
    return f"{request.url.scheme}://{request.url.netloc}"


def entra_error(status: int, error: str, code: int, description: str) -> Response:
    trace_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    body = {
        "error": error,
        "error_description": f"AADSTS{code}: {description}\r\nTrace ID: {trace_id}\r\n"
        f"Correlation ID: {correlation_id}\r\nTimestamp: {stamp}",
        "error_codes": [code],
        "timestamp": stamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
    }
    return JSONResponse(body, status_code=status, headers={"x-ms-request-id": trace_id})


def _unknown_tenant(tenant: str) -> Response:
    return entra_error(
        400, "invalid_request", 90002,
        f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are "
        "signing into the correct cloud. Check with your subscription administrator, this may "
        "happen if there are no active subscriptions for the tenant.",
    )


def _invalid_secret(client_id: str) -> Response:
    return entra_error(
        401, "invalid_client", 7000215,
        "Invalid client secret provided. Ensure the secret being sent in the request is the client "
        f"secret value, not the client secret ID, for a secret added to app '{client_id}'.")


def _expired_secret(client_id: str) -> Response:
    return entra_error(
        401, "invalid_client", 7000222,
        f"The provided client secret keys for app '{client_id}' are expired. Visit the Azure portal to "
        "create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate "
        "credentials for added security: https://aka.ms/certCreds.")


def build_routes(state: SimState, signer: Signer) -> list[Route]:
    def known(tenant: str) -> bool:
        return tenant.lower() in state.tenants()

    async def openid_configuration(request: Request) -> Response:
        tenant = request.path_params["tenant"]
        if not known(tenant) and tenant.lower() not in ("common", "organizations"):
            return _unknown_tenant(tenant)
        base = _base(request)
        return JSONResponse({
            "token_endpoint": f"{base}/{tenant}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt",
                                                      "client_secret_basic"],
            "jwks_uri": f"{base}/{tenant}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{base}/{tenant}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{base}/oidc/userinfo",
            "authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/{tenant}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "tid", "appid", "roles"],
            "kerberos_endpoint": f"{base}/{tenant}/kerberos",
            "tenant_region_scope": "EU",
            "cloud_instance_name": request.url.hostname,
            "cloud_graph_host_name": request.url.netloc,
            "msgraph_host": request.url.netloc,
        })

    async def keys(request: Request) -> Response:
        return JSONResponse(signer.jwks())

    async def instance_discovery(request: Request) -> Response:
        # MSAL asks this before trusting an authority host; answer that this host is its own cloud.
        base = _base(request)
        endpoint = request.query_params.get("authorization_endpoint", "")
        parts = endpoint.split("/")
        tenant = parts[3] if len(parts) > 3 and parts[3] else "common"
        host = request.url.netloc
        return JSONResponse({
            "tenant_discovery_endpoint": f"{base}/{tenant}/v2.0/.well-known/openid-configuration",
            "api-version": "1.1",
            "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
        })

    async def token(request: Request) -> Response:
        tenant = request.path_params["tenant"]
        # Parsed by hand: starlette's form parser needs python-multipart for nothing we use.
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace"),
                                             keep_blank_values=True).items()}
        grant = str(form.get("grant_type") or "")
        client_id = str(form.get("client_id") or "")
        secret = str(form.get("client_secret") or "")
        assertion = str(form.get("client_assertion") or "")
        assertion_type = str(form.get("client_assertion_type") or "")
        scope = str(form.get("scope") or "")
        state.count_token_request(client_id)
        if not known(tenant):
            return _unknown_tenant(tenant)
        if not grant:
            return entra_error(400, "invalid_request", 900144,
                               "The request body must contain the following parameter: "
                               "'grant_type'.")
        if grant not in ("client_credentials", "authorization_code", "refresh_token"):  # delegated.py: the latter
            return entra_error(400, "unsupported_grant_type", 70003,
                               f"The app requested an unsupported grant type '{grant}'.")
        app = state.apps.get(client_id)
        # A multi-tenant app in another tenant: only where an administrator consented (tenants.py).
        guest = app is not None and app.tenant_id.lower() != tenant.lower() and state.tenancy.is_multi_tenant(
            client_id)
        if guest and not state.tenancy.consented(tenant, client_id):
            return missing_service_principal(client_id, tenant)
        if app is None or (app.tenant_id.lower() != tenant.lower() and not guest):
            return entra_error(
                400, "unauthorized_client", 700016,
                f"Application with identifier '{client_id}' was not found in the directory "
                f"'{tenant}'. This can happen if the application has not been installed by the "
                "administrator of the tenant or consented to by any user in the tenant. You may "
                "have sent your authentication request to the wrong tenant.")
        if secret and assertion:
            return entra_error(400, "invalid_request", 90014,
                               "Only one client credential may be sent: 'client_secret' or "
                               "'client_assertion'.")
        if secret:
            verdict = "valid" if guest and state.tenancy.secret_works(tenant, client_id, secret) else \
                state.creds.check_secret(client_id, secret)
            if verdict == "invalid":
                return _invalid_secret(client_id)
            if verdict == "expired":
                return _expired_secret(client_id)
        elif assertion:
            if assertion_type != JWT_BEARER:
                return entra_error(400, "invalid_request", 50027,
                                   "Invalid 'client_assertion_type'; expected "
                                   f"'{JWT_BEARER}'.")
            base = _base(request)
            urls = [f"{base}/{tenant}/oauth2/v2.0/token", f"{base}/{tenant}/oauth2/token"]
            try:
                check_client_assertion(state, signer, client_id, assertion, urls)
            except Rejection as no:
                return entra_error(no.status, no.error, no.code, no.description)
        else:
            return entra_error(401, "invalid_client", 7000216,
                               "'client_assertion', 'client_secret' or 'request' is required for "
                               "the 'client_credentials' grant type.")
        if grant != "client_credentials":
            from . import delegated

            return delegated.grant(state, signer, app, form, _base(request))
        scopes = scope.split()
        if len(scopes) != 1 or not scopes[0].endswith("/.default"):
            return entra_error(
                400, "invalid_scope", 1002012,
                f"The provided value for scope {scope} is not valid. Client credential flows must "
                "have a scope value with /.default suffixed to the resource identifier "
                "(application ID URI).")
        audience = RESOURCES.get(scopes[0][: -len("/.default")].rstrip("/"))
        if audience is None:
            return entra_error(
                400, "invalid_scope", 70011,
                "The provided value for the input parameter 'scope' is not valid. The scope "
                f"{scope} is not valid.")
        now, lifetime = int(time.time()), state.token_lifetime
        tid = tenant.lower() if guest else app.tenant_id
        oid = (state.tenancy.principal_id(tenant, client_id) if guest else None) or app.object_id
        claims = {
            "aud": audience,
            "iss": f"{_base(request)}/{tid}/v2.0",
            "iat": now, "nbf": now, "exp": now + lifetime,
            "tid": tid, "appid": app.client_id, "azp": app.client_id,
            "oid": oid, "sub": oid, "idtyp": "app",
            "roles": list(app.roles), "uti": uuid.uuid4().hex, "ver": "1.0",
        }
        return JSONResponse(
            {"token_type": "Bearer", "expires_in": lifetime,
             "ext_expires_in": lifetime, "access_token": signer.issue(claims)},
            headers={"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"},
        )

    return [
        Route("/common/discovery/instance", instance_discovery, methods=["GET"]),
        Route("/{tenant}/v2.0/.well-known/openid-configuration", openid_configuration,
              methods=["GET"]),
        Route("/{tenant}/discovery/v2.0/keys", keys, methods=["GET"]),
        Route("/{tenant}/oauth2/v2.0/token", token, methods=["POST"]),
    ]
