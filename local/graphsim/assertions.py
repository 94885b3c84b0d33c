"""``client_assertion`` checks of the token endpoint: certificate assertions (private_key_jwt) and
federated identity credentials (a managed identity token presented for exchange).

Both fail with :class:`Rejection`, which carries the Entra error (code, text) the endpoint answers.
Messages follow Entra's wording where it is known; see the package docstring for the list.
"""

from __future__ import annotations

import base64
import binascii
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import jwt

from .credmodel import EXCHANGE_APP_ID, EXCHANGE_AUDIENCE, FederatedCredential, utcnow

if TYPE_CHECKING:
    from .auth import Signer
    from .state import SimState

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_ALGORITHMS = ["RS256", "PS256"]  # azure-identity signs PS256 (x5t#S256); older clients RS256 (x5t)
_SKEW = 300  # Entra tolerates five minutes of clock skew on assertion lifetimes
_FIC_DOC = "https://learn.microsoft.com/entra/workload-id/workload-identity-federation"
_CERT_DOC = "https://learn.microsoft.com/entra/identity-platform/certificate-credentials"


@dataclass
class Rejection(Exception):
    status: int
    error: str
    code: int
    description: str


def _invalid_client(code: int, description: str) -> Rejection:
    return Rejection(401, "invalid_client", code, description)


def _stamp(epoch: Any) -> str:
    try:
        return datetime.fromtimestamp(int(epoch), UTC).strftime("%m/%d/%Y %H:%M:%S")
    except (TypeError, ValueError, OverflowError):
        return "(none)"


def _thumbprint_hex(value: str | None) -> str:
    if not value:
        return ""
    try:
        return base64.urlsafe_b64decode(value.rstrip("=") + "=" * (-len(value.rstrip("=")) % 4)).hex().upper()
    except (binascii.Error, ValueError):
        return value


def _check_lifetime(claims: dict[str, Any]) -> None:
    now = time.time()
    nbf, exp = claims.get("nbf"), claims.get("exp")
    try:
        expired = exp is None or float(exp) + _SKEW < now
        early = nbf is not None and float(nbf) - _SKEW > now
    except (TypeError, ValueError):
        expired = early = True
    if expired or early:
        raise _invalid_client(
            700024, f"Client assertion is not within its valid time range. Current time: {_stamp(now)}, "
            f"assertion valid from {_stamp(nbf)}, expiry time of assertion {_stamp(exp)}. Review the "
            f"documentation at {_CERT_DOC} .")


def check_client_assertion(state: SimState, signer: Signer, client_id: str, assertion: str,
                           token_urls: list[str]) -> None:
    """Accept the assertion for ``client_id`` or raise :class:`Rejection`."""
    try:
        header = jwt.get_unverified_header(assertion)
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise Rejection(400, "invalid_request", 50027,
                        "JWT token is invalid or malformed.") from exc
    if header.get("x5t") or header.get("x5t#S256"):
        _check_certificate(state, client_id, assertion, header, claims, token_urls)
    else:
        _check_federated(state, signer, client_id, assertion, claims)


def _check_certificate(state: SimState, client_id: str, assertion: str, header: dict[str, Any],
                       claims: dict[str, Any], token_urls: list[str]) -> None:
    x5t, x5t_s256 = header.get("x5t"), header.get("x5t#S256")
    shown = _thumbprint_hex(x5t or x5t_s256)
    key = state.creds.find_key(client_id, x5t, x5t_s256)
    if key is None:
        raise _invalid_client(
            700027, "The certificate with identifier used to sign the client assertion is not registered "
            f"on application. [Reason - The key was not found., Thumbprint of key used by client: '{shown}', "
            "Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys "
            f"for app Id '{client_id}'.]")
    if not key.valid_at(utcnow()):
        raise _invalid_client(
            700027, "Client assertion contains an invalid signature. [Reason - The key used is expired., "
            f"Thumbprint of key used by client: '{shown}', Found key 'Start={key.start:%m/%d/%Y %H:%M:%S}, "
            f"End={key.end:%m/%d/%Y %H:%M:%S}']")
    try:
        jwt.decode(assertion, key.certificate.public_key(), algorithms=_ALGORITHMS,  # type: ignore[arg-type]
                   options={"verify_aud": False, "verify_exp": False, "verify_nbf": False,
                            "verify_iat": False})
    except jwt.PyJWTError as exc:
        raise _invalid_client(700027, "Client assertion failed signature validation.") from exc
    _check_lifetime(claims)
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise _invalid_client(700021, "Client assertion application identifier doesn't match "
                                      "'client_id' parameter. Review the documentation at "
                                      f"{_CERT_DOC} .")
    wanted = {u.lower().rstrip("/") for u in token_urls}
    if str(claims.get("aud") or "").lower().rstrip("/") not in wanted:
        raise _invalid_client(700023, "Client assertion audience claim does not match Realm issuer. "
                                      f"Review the documentation at {_CERT_DOC} .")


def _check_federated(state: SimState, signer: Signer, client_id: str, assertion: str,
                     claims: dict[str, Any]) -> None:
    iss, sub = str(claims.get("iss") or ""), str(claims.get("sub") or "")
    aud_claim = claims.get("aud")
    auds = [aud_claim] if isinstance(aud_claim, str) else list(aud_claim or [])
    shown_aud = ", ".join(auds)
    fics = state.creds.federated(client_id)
    if not fics:
        raise _invalid_client(
            70021, "No matching federated identity record found for presented assertion. Assertion "
            f"Issuer: '{iss}'. Assertion Subject: '{sub}'. Assertion Audience: '{shown_aud}'. {_FIC_DOC}")
    # Matching is case-sensitive (Entra changed this in 2024).
    by_issuer = [f for f in fics if f.issuer == iss]
    if not by_issuer:
        raise _invalid_client(
            700211, f"No matching federated identity record found for presented assertion issuer '{iss}'. "
            "Please check your federated identity credential Subject, Audience and Issuer against the "
            f"presented assertion. {_FIC_DOC}")
    by_subject = [f for f in by_issuer if f.subject == sub]
    if not by_subject:
        raise _invalid_client(
            700213, f"No matching federated identity record found for presented assertion subject '{sub}'. "
            "Check your federated identity credential Subject, Audience and Issuer against the presented "
            f"assertion. {_FIC_DOC}")
    if not any(_audience_matches(f, auds) for f in by_subject):
        raise _invalid_client(
            700212, "No matching federated identity record found for presented assertion audience "
            f"'{shown_aud}'. Please check your federated identity credential Subject, Audience and Issuer "
            f"against the presented assertion. {_FIC_DOC}")
    # The only issuer the simulator knows is itself (its managed identity tokens).
    try:
        signer.verify_signature(assertion)
    except jwt.PyJWTError as exc:
        raise _invalid_client(
            700027, "Client assertion failed signature validation. [Reason - The key was not found., "
            f"Issuer: '{iss}']") from exc
    _check_lifetime(claims)


def _audience_matches(fic: FederatedCredential, auds: list[str]) -> bool:
    # A managed identity's v1 token names the exchange app by id rather than by its URI.
    aliases = {EXCHANGE_AUDIENCE: {EXCHANGE_AUDIENCE, EXCHANGE_APP_ID}}
    for wanted in fic.audiences:
        accepted = aliases.get(wanted, {wanted})
        if any(a in accepted for a in auds):
            return True
    return False
