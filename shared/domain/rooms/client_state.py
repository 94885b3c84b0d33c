"""Subscription clientState that the webhook can verify without a table read.

A clientState is ``r1~<nonce>~<mac>~<mailbox>`` for a room's calendar, ``o1~...`` for a watched organizer's:
a fresh random nonce per subscription, and an HMAC-SHA256 (truncated to 128 bits) of the version, nonce and
mailbox under the connector's key (``CONNECTOR_CLIENT_STATE_KEY``). Only a holder of the key can mint one, so
the request path checks authenticity in constant time with no storage; the version (inside the MAC) tells
which kind of calendar it watches, and the mailbox it carries becomes the queue session. Whether the
subscription is still the calendar's current one is checked later, by the worker.

A calendar of a tenant other than the default carries its tenant too, inside the MAC:
``r2~<nonce>~<mac>~<tenant>~<mailbox>`` (``o2`` for an organizer), the tenant's directory id as 22 base64url
characters of its 16 bytes, so a notification finds its tenant with no lookup. A version-1 clientState (every
subscription made before there were tenants, and every one of the default tenant's) means the default tenant.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from typing import NamedTuple

__all__ = ["MAX_LENGTH", "ORGANIZER", "ROOM", "ClientStateError", "Identified", "identify", "mint", "verify"]

MAX_LENGTH = 128  # Graph's documented maximum for subscription.clientState
ROOM, ORGANIZER = "room", "organizer"  # the kinds of watched calendar
_VERSIONS = {ROOM: "r1", ORGANIZER: "o1"}
_TENANT_VERSIONS = {ROOM: "r2", ORGANIZER: "o2"}  # the calendar of a tenant other than the default
_KINDS = {version: kind for kind, version in (*_VERSIONS.items(), *_TENANT_VERSIONS.items())}
_SEP = "~"


class Identified(NamedTuple):
    """What an authentic clientState says: the kind of calendar, its mailbox, its tenant (None: the default)."""

    kind: str
    mailbox: str
    tenant: str | None = None


class ClientStateError(ValueError):
    """The room's mailbox is too long to fit a clientState."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _mac(key: bytes, nonce: str, room: str, version: str = _VERSIONS[ROOM]) -> str:
    message = f"{version}\n{nonce}\n{room}".encode()
    return _b64(hmac.new(key, message, hashlib.sha256).digest()[:16])


def _tenant_text(tenant: str) -> str:
    return _b64(uuid.UUID(tenant).bytes)


def _tenant_of_text(text: str) -> str | None:
    try:
        raw = base64.urlsafe_b64decode(text + "==")
    except ValueError:
        return None
    return str(uuid.UUID(bytes=raw)) if len(raw) == 16 and len(text) == 22 else None


def mint(key: bytes, room: str, nonce: str | None = None, *, kind: str = ROOM, tenant: str | None = None) -> str:
    """A fresh clientState for a subscription to the events of ``room`` (a mailbox of that ``kind``), of
    ``tenant`` (a directory id; None for the default tenant, whose clientState is version 1 as always)."""
    room = room.strip().lower()
    nonce = nonce or _b64(secrets.token_bytes(12))
    if tenant:
        version, mailbox = _TENANT_VERSIONS[kind], f"{_tenant_text(tenant)}{_SEP}{room}"
    else:
        version, mailbox = _VERSIONS[kind], room
    value = _SEP.join((version, nonce, _mac(key, nonce, mailbox, version), mailbox))
    if len(value) > MAX_LENGTH:
        raise ClientStateError(f"the mailbox {room} is too long for a subscription clientState")
    return value


def identify(keys: tuple[bytes, ...], value: object) -> Identified | None:
    """(kind, mailbox, tenant) when ``value`` was minted with one of ``keys``; None otherwise (constant time
    per key)."""
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
    if not matched or not room:
        return None
    if version in _VERSIONS.values():
        return Identified(_KINDS[version], room)
    tenant_text, sep, mailbox = room.partition(_SEP)
    tenant = _tenant_of_text(tenant_text)
    return Identified(_KINDS[version], mailbox, tenant) if sep and mailbox and tenant else None


def verify(keys: tuple[bytes, ...], value: object) -> str | None:
    """The room mailbox when ``value`` is a room's clientState minted with one of ``keys``; None otherwise."""
    found = identify(keys, value)
    return found.mailbox if found is not None and found.kind == ROOM else None
