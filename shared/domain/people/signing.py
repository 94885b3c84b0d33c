"""Signed, short-lived tokens the connector hands to a browser and reads back: the OAuth ``state`` of a connect
flow and the link in a reconnect mail. Pure: the time is passed in.

A token is ``base64url(payload JSON) "." base64url(HMAC-SHA256)``. The HMAC key is derived (HKDF-SHA256, one
``purpose`` each) from the token encryption keys: the first signs, any verifies (rotation). Signatures are
compared in constant time; the payload is read only after its signature checks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

__all__ = ["STATE_LIFETIME", "SignedToken", "TokenRejected"]

STATE_LIFETIME = timedelta(minutes=10)  # a person signs in within minutes; Entra's own code lives 10 minutes


class TokenRejected(Exception):
    """``code`` is what the browser is told: ``state_invalid`` (forged, altered, unreadable) or ``state_expired``."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SignedToken:
    """Signs and verifies payloads for one ``purpose`` (the derived keys differ per purpose)."""

    def __init__(self, keys: Sequence[bytes], purpose: str) -> None:
        if not keys:
            raise ValueError("at least one key is needed")
        # Imported here: importing the app (cold start) should not load cryptography.
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        self._keys = [HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                           info=f"connector {purpose}".encode()).derive(key) for key in keys]

    def sign(self, payload: dict[str, Any], *, expires: datetime) -> str:
        body = _b64(json.dumps({**payload, "exp": int(expires.timestamp())}, separators=(",", ":")).encode())
        return f"{body}.{_b64(hmac.new(self._keys[0], body.encode(), hashlib.sha256).digest())}"

    def verify(self, token: str, now: datetime | None) -> dict[str, Any]:
        """The payload of a token signed with any of the keys and not expired at ``now`` (None: the signature
        only); else ``TokenRejected``."""
        body, dot, signature = token.partition(".")
        if not dot or len(token) > 4096:
            raise TokenRejected("state_invalid")
        try:
            given = _unb64(signature)
        except ValueError:
            raise TokenRejected("state_invalid") from None
        valid = False
        for key in self._keys:  # every key is tried: the time taken does not tell which one matched
            valid |= hmac.compare_digest(hmac.new(key, body.encode(), hashlib.sha256).digest(), given)
        if not valid:
            raise TokenRejected("state_invalid")
        try:
            payload = json.loads(_unb64(body))
            expires = int(payload["exp"])
        except (ValueError, KeyError, TypeError):
            raise TokenRejected("state_invalid") from None
        if not isinstance(payload, dict):
            raise TokenRejected("state_invalid")
        if now is not None and now.timestamp() >= expires:
            raise TokenRejected("state_expired")
        return payload
