"""Subscription clientState that the webhook can verify without a table read.

A clientState is ``r1~<nonce>~<mac>~<room mailbox>``: a fresh random nonce per subscription, and an
HMAC-SHA256 (truncated to 128 bits) of the version, nonce and mailbox under the connector's key
(``CONNECTOR_CLIENT_STATE_KEY``). Only a holder of the key can mint one, so the request path checks
authenticity in constant time with no storage; the room mailbox it carries becomes the queue
session. Whether the subscription is still the room's current one is checked later, by the worker.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

__all__ = ["MAX_LENGTH", "ClientStateError", "mint", "verify"]

MAX_LENGTH = 128  # Graph's documented maximum for subscription.clientState
_VERSION = "r1"
_SEP = "~"


class ClientStateError(ValueError):
    """The room's mailbox is too long to fit a clientState."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _mac(key: bytes, nonce: str, room: str) -> str:
    message = f"{_VERSION}\n{nonce}\n{room}".encode()
    return _b64(hmac.new(key, message, hashlib.sha256).digest()[:16])


def mint(key: bytes, room: str, nonce: str | None = None) -> str:
    """A fresh clientState for a subscription to ``room``'s events."""
    room = room.strip().lower()
    nonce = nonce or _b64(secrets.token_bytes(12))
    value = _SEP.join((_VERSION, nonce, _mac(key, nonce, room), room))
    if len(value) > MAX_LENGTH:
        raise ClientStateError(f"the mailbox {room} is too long for a subscription clientState")
    return value


def verify(keys: tuple[bytes, ...], value: object) -> str | None:
    """The room mailbox when ``value`` was minted with one of ``keys``; None otherwise (constant time per key)."""
    if not isinstance(value, str) or len(value) > MAX_LENGTH:
        return None
    parts = value.split(_SEP, 3)
    if len(parts) != 4 or parts[0] != _VERSION:
        return None
    _, nonce, mac, room = parts
    matched = False
    for key in keys:
        # compare_digest against every key: which key matched leaks nothing through timing.
        matched |= hmac.compare_digest(_mac(key, nonce, room).encode(), mac.encode())
    return room if matched and room else None
