"""MessageQueue over Azure Service Bus (azure-servicebus, async), by connection string or managed identity."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from shared.config import QueueConnection
from shared.errors import TransientError
from shared.queueing import OutboundMessage

__all__ = ["ServiceBusQueue"]


class ServiceBusQueue:
    """Sends with session id = entity key and message id = CloudEvent id (duplicate detection)."""

    def __init__(self, connection: QueueConnection, *, managed_identity_client_id: str | None = None) -> None:
        self._connection = connection
        self._identity_client_id = managed_identity_client_id
        self._client: Any = None
        self._credential: Any = None
        self._senders: dict[str, Any] = {}
        self._lock = asyncio.Lock()

    async def _sender(self, queue: str) -> Any:
        async with self._lock:
            if self._client is None:
                from azure.servicebus.aio import ServiceBusClient

                if self._connection.connection_string:
                    self._client = ServiceBusClient.from_connection_string(self._connection.connection_string)
                else:
                    from azure.identity.aio import DefaultAzureCredential

                    self._credential = DefaultAzureCredential(managed_identity_client_id=self._identity_client_id)
                    assert self._connection.fully_qualified_namespace
                    self._client = ServiceBusClient(self._connection.fully_qualified_namespace, self._credential)
            if queue not in self._senders:
                self._senders[queue] = self._client.get_queue_sender(queue)
            return self._senders[queue]

    async def send(self, queue: str, messages: Sequence[OutboundMessage]) -> None:
        from azure.servicebus import ServiceBusMessage
        from azure.servicebus.exceptions import MessageSizeExceededError, ServiceBusError

        sender = await self._sender(queue)
        try:
            batch = await sender.create_message_batch()
            for message in messages:
                sb_message = ServiceBusMessage(
                    message.body,
                    message_id=message.message_id,
                    session_id=message.session_id,
                    content_type=message.content_type,
                    application_properties={str(k): v for k, v in message.application_properties.items()},
                    scheduled_enqueue_time_utc=message.scheduled_enqueue_time,
                )
                try:
                    batch.add_message(sb_message)
                except MessageSizeExceededError:
                    # Full: send what we have and start the next batch. Should a later batch fail,
                    # the client resends all, and duplicate detection drops what already arrived.
                    await sender.send_messages(batch)
                    batch = await sender.create_message_batch()
                    batch.add_message(sb_message)
            await sender.send_messages(batch)
        except ServiceBusError as exc:
            raise TransientError(f"Service Bus send to {queue} failed: {type(exc).__name__}") from exc

    async def close(self) -> None:
        for sender in self._senders.values():
            await sender.close()
        self._senders.clear()
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._credential is not None:
            await self._credential.close()
