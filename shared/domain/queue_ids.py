"""Message and session ids for the queues. Pure.

Every message and session id is built by ``queue_id``: Service Bus refuses ids longer than 128 characters.
"""

from __future__ import annotations

import hashlib

__all__ = ["MAX_ID_CHARS", "queue_id", "source_tag"]

MAX_ID_CHARS = 128  # Service Bus's limit for MessageId and SessionId (the SDK raises ValueError beyond)
_DIGEST_CHARS = 32  # 128 bits of SHA-256


def queue_id(*parts: str) -> str:
    """A message or session id: ``parts`` joined by ``~``, as is when it fits 128 characters.

    A longer one keeps its readable beginning and ends with ``~`` and a digest of the whole, so it
    stays deterministic (duplicate detection still recognises a repeat) and distinct inputs stay
    distinct.
    """
    text = "~".join(parts)
    if len(text) <= MAX_ID_CHARS:
        return text
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:_DIGEST_CHARS]
    return f"{text[:MAX_ID_CHARS - _DIGEST_CHARS - 1]}~{digest}"


def source_tag(source: str) -> str:
    """A short, fixed-length stand-in for a CloudEvent ``source`` inside ids (48 bits of SHA-256)."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:12]
