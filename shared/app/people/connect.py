"""Connecting a person: ``POST /api/connections`` starts Entra's authorization code flow with PKCE, the
anonymous callback finishes it, and a reconnect mail's link starts it again.

The ``state`` the browser carries is signed (HMAC), expires within minutes and works once: it names a connect
attempt kept in Table Storage (the user, the returnUrl, MSAL's flow with the PKCE verifier, sealed), which the
callback claims with a conditional write. The request's optional ``tenant`` (a registered tenant's id) says whose
person connects: the state and a reconnect link carry it (signed), so the callback keeps the connection among
that tenant's (``shared/app/people/tenancy.py``) and signs the person in against the tenant's directory. The
browser returns to the attempt's returnUrl (checked against ``CONNECTOR_CONNECT_RETURN_URLS`` when it was given,
so never an open redirect) with ``connection=connected`` or ``connection=failed&error=<code>``. Codes, tokens
and the state never go into a log line.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from typing import Any

from shared.app.people.lifecycle import PeopleDeps, record_connected
from shared.app.people.tenancy import people_in, people_of
from shared.app.ports.people import ConnectAttempt
from shared.app.responses import Reply, json_reply, problem
from shared.domain.people.cipher import Unreadable
from shared.domain.people.connections import (
    CONNECTED,
    DELEGATED_SCOPES,
    Connection,
    allowed_return_url,
    authorize_error,
    with_query,
)
from shared.domain.people.signing import STATE_LIFETIME, TokenRejected
from shared.domain.tenants.model import TenantId
from shared.errors import ConfigurationError

__all__ = ["begin", "finish", "reconnect", "start"]

logger = logging.getLogger(__name__)

EMAIL = re.compile(r"[^@\s/\\?#]{1,64}@[^@\s/\\?#]{1,255}")


def _redirect(url: str) -> Reply:
    # no-referrer: the page the browser lands on must not learn this URL (it carried the code).
    return Reply(302, b"", "text/plain",
                 {"Location": url, "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


def _failed(return_url: str, code: str, **extra: str) -> Reply:
    return _redirect(with_query(return_url, {"connection": "failed", "error": code, **extra}))


def _not_configured(exc: ConfigurationError) -> Reply:
    return problem(503, "Connections are not configured", str(exc), setting=exc.setting)


async def start(body: bytes, deps: PeopleDeps) -> Reply:
    """``POST /api/connections`` ``{"user", "returnUrl", "tenant"?}`` → ``{"authorizeUrl"}``."""
    try:
        request = json.loads(body or b"null")
    except ValueError:
        request = None
    if not isinstance(request, dict):
        return problem(400, "Invalid request", "the body must be a JSON object {\"user\", \"returnUrl\"}")
    user = request.get("user")
    if not isinstance(user, str) or not EMAIL.fullmatch(user.strip()):
        return problem(400, "Invalid user", "user must be the person's email address", field="user")
    return_url = request.get("returnUrl")
    if not allowed_return_url(return_url, deps.settings.people.return_urls):
        return problem(400, "Invalid returnUrl",
                       "returnUrl must be an absolute URL starting with one of CONNECTOR_CONNECT_RETURN_URLS",
                       field="returnUrl")
    assert isinstance(return_url, str)
    try:
        scoped = await people_of(request.get("tenant"), deps)
        if isinstance(scoped, Reply):
            return scoped
        deps = scoped
        url = await begin(user.strip().lower(), return_url, deps)
    except ConfigurationError as exc:
        return _not_configured(exc)
    return json_reply(200, {"authorizeUrl": url})


async def begin(user: str, return_url: str, deps: PeopleDeps) -> str:
    """Keep a new connect attempt and return Entra's authorize URL for it."""
    nonce = secrets.token_urlsafe(18)
    now = deps.clock()
    expires = now + STATE_LIFETIME
    signer, cipher = deps.state_signer(), deps.cipher()
    claims = {"n": nonce, "t": deps.tenant} if deps.tenant else {"n": nonce}
    request = await deps.authority.begin(user, signer.sign(claims, expires=expires), deps.redirect_uri)
    sealed = cipher.seal(json.dumps(request.flow).encode("utf-8"), bound_to=nonce)
    await deps.attempts.add(ConnectAttempt(nonce=nonce, user=user, return_url=return_url, flow=sealed,
                                           expires_at=expires))
    logger.info("connect flow started for %s", user)
    return request.url


async def finish(params: dict[str, str], deps: PeopleDeps) -> Reply:
    """``GET /api/connections/callback``: Entra's answer (code and state, or error) → a redirect to returnUrl."""
    if "admin_consent" in params and "state" not in params:
        granted = params.get("admin_consent", "").lower() == "true"
        return Reply(200, (b"Administrator consent recorded: people can connect their calendars now."
                           if granted else b"Administrator consent was not granted."), "text/plain")
    try:
        signer, cipher = deps.state_signer(), deps.cipher()
    except ConfigurationError as exc:
        return _not_configured(exc)
    state = params.get("state", "")
    try:
        payload = signer.verify(state, None)  # the signature first; expiry below, once the attempt is known
    except TokenRejected as exc:
        logger.warning("connect callback refused: %s", exc.code)
        return problem(400, "Invalid state", "the sign-in did not start here, or its link was altered",
                       error=exc.code)
    claimed = await deps.attempts.claim(str(payload.get("n", "")))
    if claimed is None:
        return problem(400, "Invalid state", "no connect attempt has this state", error="state_invalid")
    attempt, first = claimed
    if payload.get("t"):  # a person of another tenant: the tenant's rows and its directory's authority
        try:
            deps = people_in(deps, TenantId(str(payload["t"])))
        except ConfigurationError as exc:
            return _not_configured(exc)
    if not first:
        logger.warning("connect callback for %s refused: state already used", attempt.user)
        return _failed(attempt.return_url, "state_used")
    try:
        signer.verify(state, deps.clock())
    except TokenRejected as exc:
        logger.warning("connect callback for %s refused: %s", attempt.user, exc.code)
        return _failed(attempt.return_url, exc.code)
    if params.get("error"):
        return _entra_refused(attempt, params.get("error", ""), params.get("error_description", ""), deps)
    try:
        flow: dict[str, Any] = json.loads(cipher.open(attempt.flow, bound_to=attempt.nonce))
    except (Unreadable, ValueError):
        return _failed(attempt.return_url, "state_invalid")
    redeemed = await deps.authority.redeem(flow, params)
    if redeemed.error:
        return _entra_refused(attempt, redeemed.error, redeemed.error_description, deps)
    if redeemed.username.lower() != attempt.user:
        # Someone else signed in (another account in the browser): their tokens are dropped here.
        logger.warning("connect callback for %s refused: another account signed in", attempt.user)
        return _failed(attempt.return_url, "account_mismatch")
    now = deps.clock()
    sealed = cipher.seal(redeemed.cache.encode("utf-8"), bound_to=attempt.user)
    await record_connected(Connection(
        user=attempt.user, state=CONNECTED, since=now, scopes=_granted(redeemed.scopes),
        cache=sealed, account=redeemed.account, return_url=attempt.return_url), deps)
    return _redirect(with_query(attempt.return_url, {"connection": "connected"}))


def _entra_refused(attempt: ConnectAttempt, error: str, description: str, deps: PeopleDeps) -> Reply:
    code = authorize_error(error, description)
    logger.warning("connect flow for %s refused by Entra: %s (%s)", attempt.user, code, error)
    if code == "consent_required":
        return _failed(attempt.return_url, code, adminConsentUrl=deps.authority.admin_consent_url(deps.redirect_uri))
    return _failed(attempt.return_url, code)


def _granted(scopes: tuple[str, ...]) -> tuple[str, ...]:
    """The Graph permissions granted (OpenID scopes left out), or the ones asked for when Entra did not say."""
    granted = tuple(s.rsplit("/", 1)[-1] for s in scopes if s not in ("openid", "profile", "email", "offline_access"))
    return granted or DELEGATED_SCOPES


async def reconnect(token: str, deps: PeopleDeps) -> Reply:
    """``GET /api/connections/reconnect?token=``: the link of a reconnect mail starts the flow again."""
    try:
        payload = deps.link_signer().verify(token, deps.clock())
    except ConfigurationError as exc:
        return _not_configured(exc)
    except TokenRejected as exc:
        message = "this link has expired: ask for a new one" if exc.code == "state_expired" else "invalid link"
        return problem(400, "Invalid link", message, error=exc.code.replace("state", "link"))
    user = str(payload.get("u", ""))
    try:
        deps = people_in(deps, TenantId(str(payload["t"])) if payload.get("t") else None)
    except ConfigurationError as exc:
        return _not_configured(exc)
    connection = await deps.connections.get(user)
    if connection is None or not allowed_return_url(connection.return_url, deps.settings.people.return_urls):
        return problem(404, "No connection", "start connecting from the scheduling system", error="not_connected")
    return _redirect(await begin(user, connection.return_url, deps))
