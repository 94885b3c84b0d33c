"""A MessageQueue that records what is sent and refuses what Service Bus refuses, as the Service Bus adapter
does: ``RejectedByQueue`` naming the limit, before anything is sent."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from shared.adapters.local_queue import MAX_MESSAGE_BYTES, check_sendable
from shared.app.messaging import OutboundMessage
from shared.errors import RejectedByQueue


@dataclass
class RecordingQueue:
    """Records what is sent; refuses what Service Bus refuses (ids over 128 characters, 256 KB ...)."""

    sent: list[tuple[str, OutboundMessage]] = field(default_factory=list)
    error: Exception | None = None

    async def send(self, queue: str, messages: Sequence[OutboundMessage]) -> None:
        if self.error is not None:
            raise self.error
        for message in messages:
            refuse_as_service_bus(queue, message)
        self.sent.extend((queue, m) for m in messages)

    async def close(self) -> None:
        pass


def refuse_as_service_bus(queue: str, message: OutboundMessage) -> None:
    from azure.servicebus.exceptions import MessageSizeExceededError

    try:
        check_sendable(message)
    except MessageSizeExceededError as exc:
        raise RejectedByQueue(f"message {message.message_id} for {queue} is too large: {exc}",
                              limit=f"message size at most {MAX_MESSAGE_BYTES} bytes") from exc
    except (ValueError, TypeError) as exc:
        raise RejectedByQueue(f"Service Bus refuses message {message.message_id} for {queue}: {exc}",
                              limit=str(exc)) from exc
