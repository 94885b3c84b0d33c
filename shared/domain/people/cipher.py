"""AES-256-GCM for the token caches kept in Table Storage. Pure (cryptography computes, does no I/O).

``CONNECTOR_TOKEN_ENCRYPTION_KEY`` holds one or more keys (base64, 32 bytes each, comma-separated): the first
encrypts, any decrypts, so a new key goes first and the old one stays until every row was written again (each
write re-encrypts with the first). A sealed value is ``v1.<key id>.<base64url(nonce | ciphertext | tag)>``: the
key id (8 hex digits of the key's SHA-256) picks the key without trying each; the associated data (the person)
binds a cache to its row, so a cache copied onto another person's row does not open.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Sequence

__all__ = ["TokenCipher", "Unreadable"]

_VERSION = "v1"


class Unreadable(Exception):
    """No key opens the value (a key was removed too early, or the row was altered). Never holds the value."""


def _key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


class TokenCipher:
    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys or any(len(k) != 32 for k in keys):
            raise ValueError("token encryption keys are 32 bytes each")
        # Imported here: importing the app (cold start) should not load cryptography.
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self._first = _key_id(keys[0])
        self._keys = {_key_id(k): AESGCM(k) for k in reversed(keys)}  # the first wins a (vanishing) id clash
        self._keys[self._first] = AESGCM(keys[0])

    def seal(self, plaintext: bytes, *, bound_to: str) -> str:
        nonce = os.urandom(12)
        sealed = self._keys[self._first].encrypt(nonce, plaintext, bound_to.encode("utf-8"))
        return f"{_VERSION}.{self._first}.{base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"

    def open(self, value: str, *, bound_to: str) -> bytes:
        version, _, rest = value.partition(".")
        key_id, _, data = rest.partition(".")
        aead = self._keys.get(key_id)
        if version != _VERSION or aead is None:
            raise Unreadable("sealed with a key that is not configured (any more)")
        from cryptography.exceptions import InvalidTag

        try:
            raw = base64.urlsafe_b64decode(data)
            return aead.decrypt(raw[:12], raw[12:], bound_to.encode("utf-8"))
        except (InvalidTag, ValueError):
            raise Unreadable("the sealed value does not open (altered, or bound to another row)") from None

    def is_current(self, value: str) -> bool:
        """True when ``value`` was sealed with the first key (no re-encryption due)."""
        return value.split(".", 2)[1:2] == [self._first]
