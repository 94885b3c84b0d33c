"""Queue messages as the connector sends and receives them, independent of the transport.

Service Bus in Azure and the local SQLite transport both carry exactly these fields. Every message
and session id is built by ``queue_id``: Service Bus refuses ids longer than 128 characters.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

__all__ = ["DeadLetter", "MAX_ID_CHARS", "MessageQueue", "ORIGIN_PROPERTY", "OutboundMessage", "PLANNING_QUEUE",
           "queue_id", "source_tag"]

PLANNING_QUEUE = "planning-events"
MAX_ID_CHARS = 128  # Service Bus's limit for MessageId and SessionId (the SDK raises ValueError beyond)
# The id of the first message of a chain of rescheduled copies, so each copy's id is derived from it.
ORIGIN_PROPERTY = "connector-origin"
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


@dataclass(frozen=True)
class OutboundMessage:
    """One message to enqueue.

    ``session_id`` keeps per-entity order; ``message_id`` lets the transport drop duplicates;
    ``scheduled_enqueue_time`` (UTC, aware) defers delivery, which is how long waits
    (throttling) are left to the queue instead of a sleeping function.
    """

    body: bytes
    message_id: str
    session_id: str | None = None
    content_type: str = "application/cloudevents+json"
    application_properties: Mapping[str, str | int] = field(default_factory=dict)
    scheduled_enqueue_time: datetime | None = None


@dataclass(frozen=True)
class DeadLetter:
    """A message that could not be processed, with the reason an operator reads."""

    queue: str
    sequence_number: int
    message_id: str
    session_id: str | None
    body: bytes
    reason: str
    description: str
    dead_lettered_at: datetime
    delivery_count: int


class MessageQueue(Protocol):
    """Where accepted messages go; implemented over Service Bus and over the local transport."""

    async def send(self, queue: str, messages: Sequence[OutboundMessage]) -> None:
        """Enqueue all messages or none (raises ``TransientError`` when the transport fails)."""
        ...

    async def close(self) -> None: ...
