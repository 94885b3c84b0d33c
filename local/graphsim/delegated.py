"""Delegated sign-in (Entra's authorization code flow with PKCE) and the tokens that act as a person.

* ``GET /{tenant}/oauth2/v2.0/authorize``: a local sign-in that completes at once for the ``login_hint`` user (a
  simulator user) and redirects to ``redirect_uri`` with ``code`` and ``state`` (``response_mode=query``). The
  redirect URI must be registered on the app (``register_redirect`` / ``PUT /_sim/apps/{clientId}/redirect-uris``),
  else an error page (AADSTS50011), as Entra never redirects to an unregistered address. On demand
  (``PUT /_sim/delegated/consent`` {mode}): ``user`` → error=consent_required AADSTS65001, ``admin`` →
  AADSTS90094; ``PUT /_sim/delegated/sign-in`` {as} makes the next sign-in complete as another account.
* Token endpoint (auth.py hands these grants over after authenticating the client):
  ``authorization_code``: the code works once (AADSTS54005 again), for 10 minutes (AADSTS70008), for the
  same client and redirect_uri (AADSTS500112), and with the PKCE verifier of its S256 challenge (AADSTS501481
  missing, AADSTS50148 wrong). ``refresh_token``: a new refresh token on each use (rotation; as in Entra the
  previous one stays valid until it expires or is revoked); ``POST /_sim/delegated/users/{upn}/revoke``
  {code?: 50173 (default) | 70043 | 700082 | 50076 | 65001} refuses the user's refresh tokens from then on with
  invalid_grant and that AADSTS code, ``POST /_sim/delegated/refresh-tokens/expire`` expires all of them
  (AADSTS700082).
* Tokens: id tokens (aud = client id, nonce, preferred_username, oid, tid) and client_info as MSAL reads them;
  access tokens for Graph with ``scp`` and ``idtyp=user`` (graph_people.py enforces them).
  ``state.delegated.token_requests(grant)`` counts grant requests; ``GET /_sim/delegated`` shows the state.

Codes, verifiers and tokens never go into a log line or an error description.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from html import escape
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from .auth import GRAPH_AUDIENCE, Signer, entra_error
from .state import TOKEN_LIFETIME, SimState

GRANTS = ("authorization_code", "refresh_token")
CODE_LIFETIME = 600
REFRESH_LIFETIME = 90 * 24 * 3600
OIDC_SCOPES = {"openid", "profile", "email", "offline_access"}
GRAPH_SCOPES = {"Calendars.Read", "Calendars.ReadBasic", "Calendars.ReadWrite", "Calendars.Read.Shared",
                "Calendars.ReadWrite.Shared", "User.Read", "User.ReadBasic.All", "Mail.Send", "MailboxSettings.Read",
                "OnlineMeetings.ReadWrite"}
REVOCATIONS = {
    50173: "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might "
           "have changed or reset their password.",
    70043: "The refresh token has expired or is invalid due to sign-in frequency checks by conditional access.",
    700082: "The refresh token has expired due to inactivity. The token was issued on {issued} and was inactive "
            "for 90.00:00:00.",
    50076: "Due to a configuration change made by your administrator, or because you moved to a new location, "
           "you must use multi-factor authentication to access '00000003-0000-0000-c000-000000000000'.",
    65001: "The user or administrator has not consented to use the application with ID '{client}'. Send an "
           "interactive authorization request for this user and resource.",
}


@dataclass
class _Code:
    client_id: str
    user_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    challenge: str
    method: str
    nonce: str
    issued: float
    used: bool = False


@dataclass
class _Refresh:
    client_id: str
    user_id: str
    scopes: tuple[str, ...]
    issued: float
    refused: int | None = None


@dataclass
class DelegatedAuth:
    lock: threading.RLock = field(default_factory=threading.RLock)
    redirects: dict[str, set[str]] = field(default_factory=dict)  # client id → registered redirect URIs
    consent: str = "granted"  # granted | user | admin
    sign_in_as: str | None = None
    codes: dict[str, _Code] = field(default_factory=dict)  # by SHA-256 of the code
    refresh: dict[str, _Refresh] = field(default_factory=dict)  # by SHA-256 of the token
    requests: dict[str, int] = field(default_factory=dict)

    def register_redirect(self, client_id: str, uri: str) -> None:
        with self.lock:
            self.redirects.setdefault(client_id, set()).add(uri)

    def revoke_user(self, user_id: str, code: int = 50173) -> int:
        with self.lock:
            found = [r for r in self.refresh.values() if r.user_id == user_id]
            for r in found:
                r.refused = code
            return len(found)

    def expire_refresh_tokens(self) -> None:
        with self.lock:
            for r in self.refresh.values():
                r.refused = r.refused or 700082

    def expire_codes(self) -> None:
        with self.lock:
            for c in self.codes.values():
                c.issued -= CODE_LIFETIME + 1

    def token_requests(self, grant: str | None = None) -> int:
        with self.lock:
            return sum(n for g, n in self.requests.items() if grant in (None, g))

    def public(self) -> dict[str, Any]:
        with self.lock:
            return {"consent": self.consent, "signInAs": self.sign_in_as,
                    "redirectUris": {k: sorted(v) for k, v in self.redirects.items()},
                    "refreshTokens": [{"clientId": r.client_id, "userId": r.user_id, "refused": r.refused}
                                      for r in self.refresh.values()],
                    "tokenRequests": dict(self.requests)}


def auth_of(state: SimState) -> DelegatedAuth:
    """The delegated sign-in state of a simulator (created on first use)."""
    found = getattr(state, "delegated", None)
    if found is None:
        found = DelegatedAuth()
        state.delegated = found  # type: ignore[attr-defined]
    return found


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def graph_scopes(scope: str) -> tuple[str, ...] | None:
    """Graph permission names of a scope parameter (OIDC scopes dropped); None if one is unknown."""
    names: list[str] = []
    for item in scope.split():
        if item in OIDC_SCOPES:
            continue
        name = item.removeprefix(GRAPH_AUDIENCE + "/").removeprefix("00000003-0000-0000-c000-000000000000/")
        if name not in GRAPH_SCOPES:
            return None
        names.append(name)
    return tuple(dict.fromkeys(names))


def _error_page(status: int, code: int, message: str) -> Response:
    return HTMLResponse(f"<html><body><h1>Sign in</h1><p>AADSTS{code}: {escape(message)}</p></body></html>",
                        status_code=status)


def build_routes(state: SimState, signer: Signer) -> list[Route]:
    auth = auth_of(state)

    async def authorize(request: Request) -> Response:
        tenant = request.path_params["tenant"]
        q = request.query_params
        client_id, redirect_uri = q.get("client_id", ""), q.get("redirect_uri", "")
        app = state.apps.get(client_id)
        if tenant.lower() not in state.tenants() or app is None or app.tenant_id.lower() != tenant.lower():
            return _error_page(400, 700016, f"Application with identifier '{client_id}' was not found in the "
                                            f"directory '{tenant}'.")
        with auth.lock:
            registered = redirect_uri in auth.redirects.get(client_id, set())
        if not registered:
            return _error_page(400, 50011, f"The redirect URI '{redirect_uri}' specified in the request does not "
                                           f"match the redirect URIs configured for the application '{client_id}'.")
        mode = q.get("response_mode") or "query"
        if mode not in ("query", "form_post"):
            return _error_page(400, 900144, "response_mode must be query or form_post here.")
        if q.get("response_type") != "code":
            return _redirect_error(redirect_uri, q, "unsupported_response_type", 700054,
                                   "response_type 'code' is expected here.")
        if q.get("code_challenge_method", "plain") != "S256" or not q.get("code_challenge"):
            return _redirect_error(redirect_uri, q, "invalid_request", 700068,
                                   "A code_challenge with code_challenge_method S256 is required (PKCE).")
        scopes = graph_scopes(q.get("scope", ""))
        if scopes is None or not scopes:
            return _redirect_error(redirect_uri, q, "invalid_scope", 70011,
                                   "The provided value for the input parameter 'scope' is not valid.")
        with auth.lock:
            consent, as_account, auth.sign_in_as = auth.consent, auth.sign_in_as, None
        if consent == "user":
            return _redirect_error(redirect_uri, q, "consent_required", 65001,
                                   f"The user or administrator has not consented to use the application with ID "
                                   f"'{client_id}'. Send an interactive authorization request for this user and "
                                   "resource.")
        if consent == "admin":
            return _redirect_error(redirect_uri, q, "access_denied", 90094,
                                   "The grant requires admin permission.")
        user = state.find_user(as_account or q.get("login_hint", ""))
        if user is None or not user.get("accountEnabled", True):
            return _error_page(400, 50034, "The user account does not exist in this directory.")
        code = secrets.token_urlsafe(48)
        with auth.lock:
            auth.codes[_digest(code)] = _Code(client_id, user["id"], redirect_uri, scopes,
                                              q.get("code_challenge", ""), "S256", q.get("nonce", ""), time.time())
        return _answer(redirect_uri, q, {"code": code, "state": q.get("state", ""),
                                         "session_state": str(uuid.uuid4())})

    async def control(request: Request) -> Response:
        body = json.loads(await request.body() or b"{}")
        what = request.path_params["what"]
        if what == "consent":
            mode = body.get("mode", "granted")
            if mode not in ("granted", "user", "admin"):
                return JSONResponse({"error": "mode is granted, user or admin"}, status_code=400)
            auth.consent = mode
        elif what == "sign-in":
            auth.sign_in_as = body.get("as") or None
        else:
            return JSONResponse({"error": f"unknown setting {what}"}, status_code=404)
        return JSONResponse(auth.public())

    async def redirect_uris(request: Request) -> Response:
        body = json.loads(await request.body() or b"{}")
        client_id = request.path_params["client_id"]
        with auth.lock:
            auth.redirects[client_id] = set(body.get("redirectUris") or [])
        return JSONResponse(auth.public())

    async def revoke(request: Request) -> Response:
        body = json.loads(await request.body() or b"{}")
        user = state.find_user(request.path_params["upn"])
        if user is None:
            return JSONResponse({"error": "unknown user"}, status_code=404)
        code = int(body.get("code") or 50173)
        if code not in REVOCATIONS:
            return JSONResponse({"error": f"code is one of {sorted(REVOCATIONS)}"}, status_code=400)
        return JSONResponse({"revoked": auth.revoke_user(user["id"], code)})

    async def expire(request: Request) -> Response:
        kind = request.path_params["kind"]
        if kind == "refresh-tokens":
            auth.expire_refresh_tokens()
        elif kind == "codes":
            auth.expire_codes()
        else:
            return JSONResponse({"error": "refresh-tokens or codes"}, status_code=404)
        return Response(status_code=204)

    async def show(request: Request) -> Response:
        return JSONResponse(auth.public())

    return [
        Route("/_sim/delegated", show, methods=["GET"]),
        Route("/_sim/delegated/users/{upn}/revoke", revoke, methods=["POST"]),
        Route("/_sim/delegated/{kind}/expire", expire, methods=["POST"]),
        Route("/_sim/delegated/{what}", control, methods=["PUT"]),
        Route("/_sim/apps/{client_id}/redirect-uris", redirect_uris, methods=["PUT"]),
        Route("/{tenant}/oauth2/v2.0/authorize", authorize, methods=["GET"]),
    ]


def _redirect_error(redirect_uri: str, q: Any, error: str, code: int, description: str) -> Response:
    return _answer(redirect_uri, q, {"error": error, "error_description": f"AADSTS{code}: {description}",
                                     "state": q.get("state", "")})


def _answer(redirect_uri: str, q: Any, params: dict[str, str]) -> Response:
    """Back to the app: a redirect with a query, or (``response_mode=form_post``) a page that posts a form."""
    if q.get("response_mode") != "form_post":
        return RedirectResponse(f"{redirect_uri}?{urlencode(params)}", status_code=302)
    fields = "".join(f'<input type="hidden" name="{escape(k)}" value="{escape(v)}" />' for k, v in params.items())
    return HTMLResponse(f'<html><head><title>Working...</title></head><body><form method="POST" name="hiddenform" '
                        f'action="{escape(redirect_uri)}">{fields}<noscript><p>Script is disabled. Click Submit to '
                        'continue.</p><input type="submit" value="Submit" /></noscript></form><script language='
                        '"javascript">window.setTimeout(function(){document.forms[0].submit()},0);</script></body>'
                        '</html>', headers={"Cache-Control": "no-store"})


def _invalid_grant(code: int, description: str) -> Response:
    return entra_error(400, "invalid_grant", code, description)


def grant(state: SimState, signer: Signer, app: Any, form: dict[str, str], base: str) -> Response:
    """The ``authorization_code`` and ``refresh_token`` grants, for a client already authenticated."""
    auth = auth_of(state)
    kind = form.get("grant_type", "")
    with auth.lock:
        auth.requests[kind] = auth.requests.get(kind, 0) + 1
    now = time.time()
    if kind == "authorization_code":
        code = form.get("code", "")
        if not code:
            return entra_error(400, "invalid_request", 900144,
                               "The request body must contain the following parameter: 'code'.")
        with auth.lock:
            found = auth.codes.get(_digest(code))
            if found is None or found.client_id != app.client_id:
                return _invalid_grant(9002313, "Invalid request. Request is malformed or invalid.")
            if found.used:
                return _invalid_grant(54005, "OAuth2 Authorization code was already redeemed, please retry with "
                                             "a new valid code or use an existing refresh token.")
            if now - found.issued > CODE_LIFETIME:
                return _invalid_grant(70008, "The provided authorization code or refresh token has expired due to "
                                             "inactivity. Send a new interactive authorization request for this "
                                             "user and resource.")
            if form.get("redirect_uri", "") != found.redirect_uri:
                return _invalid_grant(500112, "The reply address does not match the reply address provided when "
                                              "requesting Authorization code.")
            verifier = form.get("code_verifier", "")
            if not verifier:
                return _invalid_grant(501481, "The Code_Verifier does not match the code_challenge supplied in the "
                                              "authorization request.")
            if not hmac.compare_digest(_b64(hashlib.sha256(verifier.encode()).digest()), found.challenge):
                return _invalid_grant(50148, "The code_verifier does not match the code_challenge supplied in the "
                                             "authorization request for PKCE.")
            found.used = True
        return _tokens(state, signer, app, found.user_id, found.scopes, found.nonce, base)
    token = form.get("refresh_token", "")
    with auth.lock:
        found_rt = auth.refresh.get(_digest(token))
        if found_rt is None or found_rt.client_id != app.client_id:
            return _invalid_grant(9002313, "Invalid request. Request is malformed or invalid.")
        if found_rt.refused is None and now - found_rt.issued > REFRESH_LIFETIME:
            found_rt.refused = 700082
        if found_rt.refused is not None:
            text = REVOCATIONS[found_rt.refused].format(client=app.client_id, issued=found_rt.issued)
            return _invalid_grant(found_rt.refused, text)
        asked = graph_scopes(form.get("scope", ""))
        if asked is None or not set(asked) <= set(found_rt.scopes):
            return entra_error(400, "invalid_grant", 65001, REVOCATIONS[65001].format(client=app.client_id,
                                                                                      issued=""))
    user = state.find_user(found_rt.user_id)
    if user is None or not user.get("accountEnabled", True):
        return _invalid_grant(50057, "The user account is disabled.")
    return _tokens(state, signer, app, found_rt.user_id, found_rt.scopes, "", base)


def _tokens(state: SimState, signer: Signer, app: Any, user_id: str, scopes: tuple[str, ...], nonce: str,
            base: str) -> Response:
    auth = auth_of(state)
    user = state.find_user(user_id) or {"id": user_id, "userPrincipalName": "", "displayName": ""}
    now, lifetime = int(time.time()), min(state.token_lifetime, TOKEN_LIFETIME)
    tenant = app.tenant_id
    issuer = f"{base}/{tenant}/v2.0"
    access = signer.issue({
        "aud": GRAPH_AUDIENCE, "iss": f"https://sts.windows.net/{tenant}/", "iat": now, "nbf": now,
        "exp": now + lifetime, "tid": tenant, "appid": app.client_id, "oid": user["id"], "sub": user["id"],
        "upn": user["userPrincipalName"], "name": user.get("displayName"), "scp": " ".join(scopes),
        "idtyp": "user", "uti": uuid.uuid4().hex, "ver": "1.0"})
    id_claims = {"aud": app.client_id, "iss": issuer, "iat": now, "nbf": now, "exp": now + 3600, "tid": tenant,
                 "oid": user["id"], "sub": _b64(hashlib.sha256(f"{user['id']}{app.client_id}".encode()).digest()),
                 "preferred_username": user["userPrincipalName"], "name": user.get("displayName"), "ver": "2.0"}
    if nonce:
        id_claims["nonce"] = nonce
    refresh = secrets.token_urlsafe(64)
    with auth.lock:
        auth.refresh[_digest(refresh)] = _Refresh(app.client_id, user["id"], scopes, time.time())
    client_info = _b64(json.dumps({"uid": user["id"], "utid": tenant}).encode())
    return JSONResponse(
        {"token_type": "Bearer", "scope": " ".join([*scopes, "openid", "profile", "email"]),
         "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": access, "refresh_token": refresh,
         "id_token": signer.issue(id_claims), "client_info": client_info},
        headers={"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"})
