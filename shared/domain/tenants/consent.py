"""The ``state`` of an administrator-consent request: signed, expiring, single use (pure; time is passed in).

``state`` travels through the administrator's browser to Entra and back to the callback, so it must name the
tenant the link was made for, prove the connector made it (HMAC-SHA256 under a key derived from the
clientState keys, so no new secret is needed), expire, and carry a nonce the callback spends once.
Format: ``v1.<base64url(json payload)>.<base64url(mac)>``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shared.domain.tenants.model import TenantId, TenantProblem, parse_tenant_id

__all__ = ["CONSENT_LIFETIME", "ConsentState", "InvalidConsentState", "sign_consent_state",
           "verify_consent_state"]

CONSENT_LIFETIME = timedelta(hours=1)
_PURPOSE = b"calendar-connector tenant consent state v1"
_MAX_STATE = 1024


class InvalidConsentState(ValueError):
    """The callback's ``state`` is not one the connector issued, has expired, or is malformed."""


@dataclass(frozen=True)
class ConsentState:
    tenant_id: TenantId
    nonce: str
    expires: datetime


def _key(secret: bytes) -> bytes:
    # A key of its own for this purpose, so a consent state can never pass as a clientState or the reverse.
    return hmac.new(secret, _PURPOSE, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_consent_state(tenant_id: TenantId, nonce: str, now: datetime, key: bytes,
                       lifetime: timedelta = CONSENT_LIFETIME) -> str:
    """``state`` for a consent link to ``tenant_id``, valid until ``now + lifetime``."""
    payload = json.dumps({"t": tenant_id, "n": nonce, "e": int((now + lifetime).timestamp())},
                         separators=(",", ":")).encode()
    body = "v1." + _b64(payload)
    return body + "." + _b64(hmac.new(_key(key), body.encode(), hashlib.sha256).digest())


def verify_consent_state(state: str, keys: Sequence[bytes], now: datetime) -> ConsentState:
    """The tenant and nonce ``state`` carries. Any key of ``keys`` may have signed it (rotation); compared in
    constant time. Raises ``InvalidConsentState`` (forged, expired, malformed)."""
    if not state or len(state) > _MAX_STATE or state.count(".") != 2 or not state.startswith("v1."):
        raise InvalidConsentState("the consent state is malformed")
    body, _, mac = state.rpartition(".")
    try:
        given = _unb64(mac)
    except ValueError:
        raise InvalidConsentState("the consent state is malformed") from None
    if not any(hmac.compare_digest(hmac.new(_key(k), body.encode(), hashlib.sha256).digest(), given)
               for k in keys):
        raise InvalidConsentState("the consent state was not issued by this connector")
    try:
        payload = json.loads(_unb64(body[3:]))
        tenant, nonce, expires = parse_tenant_id(payload["t"]), str(payload["n"]), int(payload["e"])
    except (ValueError, KeyError, TypeError, TenantProblem):
        raise InvalidConsentState("the consent state is malformed") from None
    moment = datetime.fromtimestamp(expires, tz=UTC)
    if moment <= now:
        raise InvalidConsentState("the consent link has expired: ask for a new one")
    return ConsentState(tenant, nonce, moment)
