"""A MessageQueue that records what is sent and refuses what Service Bus refuses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from shared.adapters.local_queue import check_sendable
from shared.app.messaging import OutboundMessage


@dataclass
class RecordingQueue:
    """Records what is sent; refuses what Service Bus refuses (ids over 128 characters, 256 KB ...)."""

    sent: list[tuple[str, OutboundMessage]] = field(default_factory=list)
    error: Exception | None = None

    async def send(self, queue: str, messages: Sequence[OutboundMessage]) -> None:
        if self.error is not None:
            raise self.error
        for message in messages:
            check_sendable(message)
        self.sent.extend((queue, m) for m in messages)

    async def close(self) -> None:
        pass
