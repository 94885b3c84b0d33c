"""Subscription clientState that the webhook can verify without a table read.

A clientState is ``r1~<nonce>~<mac>~<mailbox>`` for a room's calendar, ``o1~...`` for a watched organizer's:
a fresh random nonce per subscription, and an HMAC-SHA256 (truncated to 128 bits) of the version, nonce and
mailbox under the connector's key (``CONNECTOR_CLIENT_STATE_KEY``). Only a holder of the key can mint one, so
the request path checks authenticity in constant time with no storage; the version (inside the MAC) tells
which kind of calendar it watches, and the mailbox it carries becomes the queue session. Whether the
subscription is still the calendar's current one is checked later, by the worker.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

__all__ = ["MAX_LENGTH", "ORGANIZER", "ROOM", "ClientStateError", "identify", "mint", "verify"]

MAX_LENGTH = 128  # Graph's documented maximum for subscription.clientState
ROOM, ORGANIZER = "room", "organizer"  # the kinds of watched calendar
_VERSIONS = {ROOM: "r1", ORGANIZER: "o1"}
_KINDS = {version: kind for kind, version in _VERSIONS.items()}
_SEP = "~"


class ClientStateError(ValueError):
    """The room's mailbox is too long to fit a clientState."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _mac(key: bytes, nonce: str, room: str, version: str = _VERSIONS[ROOM]) -> str:
    message = f"{version}\n{nonce}\n{room}".encode()
    return _b64(hmac.new(key, message, hashlib.sha256).digest()[:16])


def mint(key: bytes, room: str, nonce: str | None = None, *, kind: str = ROOM) -> str:
    """A fresh clientState for a subscription to the events of ``room`` (a mailbox of that ``kind``)."""
    room = room.strip().lower()
    nonce = nonce or _b64(secrets.token_bytes(12))
    version = _VERSIONS[kind]
    value = _SEP.join((version, nonce, _mac(key, nonce, room, version), room))
    if len(value) > MAX_LENGTH:
        raise ClientStateError(f"the mailbox {room} is too long for a subscription clientState")
    return value


def identify(keys: tuple[bytes, ...], value: object) -> tuple[str, str] | None:
    """(kind, mailbox) when ``value`` was minted with one of ``keys``; None otherwise (constant time per key)."""
    if not isinstance(value, str) or len(value) > MAX_LENGTH:
        return None
    parts = value.split(_SEP, 3)
    if len(parts) != 4 or parts[0] not in _KINDS:
        return None
    version, nonce, mac, room = parts
    matched = False
    for key in keys:
        # compare_digest against every key: which key matched leaks nothing through timing.
        matched |= hmac.compare_digest(_mac(key, nonce, room, version).encode(), mac.encode())
    return (_KINDS[version], room) if matched and room else None


def verify(keys: tuple[bytes, ...], value: object) -> str | None:
    """The room mailbox when ``value`` is a room's clientState minted with one of ``keys``; None otherwise."""
    found = identify(keys, value)
    return found[1] if found is not None and found[0] == ROOM else None
