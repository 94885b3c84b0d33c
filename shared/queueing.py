"""Queue messages as the connector sends and receives them, independent of the transport.

Service Bus in Azure and the local SQLite transport both carry exactly these fields.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

__all__ = ["DeadLetter", "MessageQueue", "OutboundMessage", "PLANNING_QUEUE"]

PLANNING_QUEUE = "planning-events"


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
