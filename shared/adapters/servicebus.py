"""MessageQueue over Azure Service Bus (azure-servicebus, async), by connection string or managed identity.

Concurrency: azure-servicebus senders are not coroutine-safe, and one adapter serves every concurrent
invocation of a worker process. Each queue has one sender and one lock, held from
``create_message_batch`` through the last ``send_messages``. A sender is one AMQP link, which carries
one batch at a time anyway; a pool would add links (and connections) per process for throughput
this connector does not need, and it would let one caller's batches interleave with another's.

Errors: every SDK error becomes a connector error (``shared.errors``): a message that breaks a
Service Bus limit is ``RejectedByQueue`` naming the limit (dead-lettered with that reason);
a namespace that refuses the identity or lacks the queue is a ``ConfigurationError`` naming the
fix; everything else (connection, timeout, busy, quota) is a ``TransientError`` (retried).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.app.messaging import OutboundMessage
from shared.app.ports.operator import QueueStats
from shared.config import QueueConnection
from shared.errors import ConfigurationError, ConnectorError, RejectedByQueue, TransientError

__all__ = ["ServiceBusQueue"]

SETTING = "ServiceBusConnection"
MAX_ID_LENGTH = 128  # message id and session id, Service Bus's limit (the SDK checks it too)

# AMQP conditions with which Service Bus refuses a message as it is; retrying it cannot help.
_MESSAGE_CONDITIONS = {
    "amqp:link:message-size-exceeded": "message size",
    "amqp:not-allowed": "session id required on a session queue",
    "amqp:decode-error": "well-formed AMQP message",
    "amqp:invalid-field": "valid message fields",
    "com.microsoft:argument-error": "valid message fields",
    "com.microsoft:argument-out-of-range": "message id and session id at most 128 characters",
}


@dataclass
class _QueueSender:
    sender: Any
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class ServiceBusQueue:
    """Sends with session id = entity key and message id = CloudEvent id (duplicate detection).

    ``client_options`` go to ``ServiceBusClient`` (e.g. ``retry_total``); production uses the SDK's defaults.
    ``administration``: the queues' administration client (``stats``); None: built on first use.
    """

    def __init__(self, connection: QueueConnection, *, managed_identity_client_id: str | None = None,
                 client_options: Mapping[str, Any] | None = None, administration: Any = None) -> None:
        self._connection = connection
        self._identity_client_id = managed_identity_client_id
        self._client_options = dict(client_options or {})
        self._client: Any = None
        self._credential: Any = None
        self._queues: dict[str, _QueueSender] = {}
        self._lock = asyncio.Lock()
        self._administration = administration
        self._owns_administration = administration is None

    async def _queue(self, queue: str) -> _QueueSender:
        async with self._lock:
            if self._client is None:
                from azure.servicebus.aio import ServiceBusClient

                if self._connection.connection_string:
                    self._client = ServiceBusClient.from_connection_string(
                        self._connection.connection_string, **self._client_options)
                else:
                    from azure.identity.aio import DefaultAzureCredential

                    if self._credential is None:
                        self._credential = DefaultAzureCredential(
                            managed_identity_client_id=self._identity_client_id)
                    assert self._connection.fully_qualified_namespace
                    self._client = ServiceBusClient(self._connection.fully_qualified_namespace, self._credential,
                                                    **self._client_options)
            if queue not in self._queues:
                self._queues[queue] = _QueueSender(self._client.get_queue_sender(queue))
            return self._queues[queue]

    async def send(self, queue: str, messages: Sequence[OutboundMessage]) -> None:
        """Enqueue ``messages`` in as few batches as fit; every message is checked before the first batch goes.

        Should a later batch fail after an earlier one went, the caller's retry resends all and
        duplicate detection (message id) drops what already arrived.
        """
        if not messages:
            return
        entry = await self._queue(queue)
        async with entry.lock:
            try:
                batches = await _batches(entry.sender, queue, messages)
                for batch in batches:
                    await entry.sender.send_messages(batch)
            except ConnectorError:
                raise
            except Exception as exc:
                raise _classify(exc, queue) or exc from exc

    async def probe(self, queue: str) -> None:
        """Open the sender link (authenticates, proves the queue exists and the identity may send); sends nothing."""
        entry = await self._queue(queue)
        async with entry.lock:
            try:
                await entry.sender.create_message_batch()
            except Exception as exc:
                raise _classify(exc, queue) or exc from exc

    async def stats(self, queues: Sequence[str]) -> list[QueueStats]:
        """Active, dead-lettered and scheduled counts from each queue's runtime properties (Service Bus's
        administration API, which takes the Manage or EntityRead claim: see docs/operations.md). No age: the
        head of a session queue shows only to a receiver holding its session, and taking one would hold up
        the workers."""
        from azure.core.exceptions import AzureError

        from shared.adapters.azure_errors import map_azure_error

        admin = await self._admin()
        found = []
        for queue in queues:
            try:
                props = await admin.get_queue_runtime_properties(queue)
            except AzureError as exc:
                raise map_azure_error(exc, f"Service Bus runtime properties of {queue}", setting=SETTING) from exc
            found.append(QueueStats(queue, active=props.active_message_count or 0,
                                    dead_lettered=props.dead_letter_message_count or 0,
                                    scheduled=props.scheduled_message_count or 0))
        return found

    async def _admin(self) -> Any:
        async with self._lock:
            if self._administration is None:
                from azure.servicebus.aio.management import ServiceBusAdministrationClient

                if self._connection.connection_string:
                    self._administration = ServiceBusAdministrationClient.from_connection_string(
                        self._connection.connection_string)
                else:
                    from azure.identity.aio import DefaultAzureCredential

                    if self._credential is None:
                        self._credential = DefaultAzureCredential(
                            managed_identity_client_id=self._identity_client_id)
                    assert self._connection.fully_qualified_namespace
                    self._administration = ServiceBusAdministrationClient(
                        self._connection.fully_qualified_namespace, self._credential)
            return self._administration

    async def close(self) -> None:
        if self._administration is not None and self._owns_administration:
            await self._administration.close()
            self._administration = None
        for entry in self._queues.values():
            async with entry.lock:
                await entry.sender.close()
        self._queues.clear()
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._credential is not None:
            await self._credential.close()
            self._credential = None


async def _batches(sender: Any, queue: str, messages: Sequence[OutboundMessage]) -> list[Any]:
    from azure.servicebus.exceptions import MessageSizeExceededError

    batches = [await sender.create_message_batch()]
    for message in messages:
        sb_message = _sb_message(message, queue)
        try:
            batches[-1].add_message(sb_message)
            continue
        except MessageSizeExceededError:
            if len(batches[-1]) == 0:
                raise _too_large(message, queue, batches[-1].max_size_in_bytes) from None
        batches.append(await sender.create_message_batch())
        try:
            batches[-1].add_message(sb_message)
        except MessageSizeExceededError:
            raise _too_large(message, queue, batches[-1].max_size_in_bytes) from None
    return batches


def _sb_message(message: OutboundMessage, queue: str) -> Any:
    from azure.servicebus import ServiceBusMessage

    for name, value in (("message id", message.message_id), ("session id", message.session_id)):
        if value is not None and len(value) > MAX_ID_LENGTH:
            raise RejectedByQueue(
                f"Service Bus refuses message {value[:40]}… for {queue}: its {name} has {len(value)} characters, "
                f"at most {MAX_ID_LENGTH} are allowed", limit=f"{name} at most {MAX_ID_LENGTH} characters")
    try:
        return ServiceBusMessage(
            message.body,
            message_id=message.message_id,
            session_id=message.session_id,
            content_type=message.content_type,
            application_properties={str(k): v for k, v in message.application_properties.items()},
            scheduled_enqueue_time_utc=message.scheduled_enqueue_time,
        )
    except ValueError as exc:
        raise RejectedByQueue(f"Service Bus refuses message {message.message_id} for {queue}: {exc}",
                              limit=str(exc)) from exc


def _too_large(message: OutboundMessage, queue: str, limit: int) -> RejectedByQueue:
    return RejectedByQueue(
        f"message {message.message_id} for {queue} does not fit in one Service Bus message of at most {limit} bytes "
        f"(its body alone is {len(message.body)} bytes)", limit=f"message size at most {limit} bytes")


def _classify(exc: Exception, queue: str) -> ConnectorError | None:
    """The connector's error for an SDK error (None: not the SDK's, a defect that should surface as it is).

    The messages name the error type and AMQP condition, never a credential.
    """
    from azure.core.exceptions import ClientAuthenticationError
    from azure.servicebus.exceptions import (
        MessageSizeExceededError,
        MessagingEntityNotFoundError,
        ServiceBusAuthenticationError,
        ServiceBusAuthorizationError,
        ServiceBusError,
    )

    if isinstance(exc, MessageSizeExceededError):
        return RejectedByQueue(f"Service Bus refused a message for {queue} as too large: {exc}",
                               limit="message size")
    if isinstance(exc, MessagingEntityNotFoundError):
        return ConfigurationError(SETTING, f"the namespace has no queue {queue}; deploy infra/ (it creates the "
                                           "connector's queues) or point the setting at the right namespace")
    if isinstance(exc, ServiceBusAuthorizationError):
        return ConfigurationError(SETTING, f"the identity may not send to {queue}: grant it the 'Azure Service Bus "
                                           "Data Sender' role on the namespace (or use a key with the Send claim)")
    if isinstance(exc, ServiceBusAuthenticationError):
        return ConfigurationError(SETTING, "Service Bus refused the credential: check the connection string's key "
                                           "name and key, or the managed identity's client id")
    if isinstance(exc, ServiceBusError):
        condition = _condition(exc)
        if condition in _MESSAGE_CONDITIONS:
            return RejectedByQueue(f"Service Bus refused a message for {queue}: {exc}",
                                   limit=_MESSAGE_CONDITIONS[condition])
        # Connection, timeout, server busy, quota, entity disabled, anything unknown: retry.
        return TransientError(f"Service Bus send to {queue} failed: {type(exc).__name__}"
                              + (f" ({condition})" if condition else ""))
    if isinstance(exc, ClientAuthenticationError):
        return TransientError(f"no Entra token for Service Bus: {type(exc).__name__}")
    if isinstance(exc, ValueError):
        return RejectedByQueue(f"Service Bus refuses a message for {queue}: {exc}", limit=str(exc))
    if isinstance(exc, OSError):  # includes TimeoutError
        return TransientError(f"Service Bus send to {queue} failed: {type(exc).__name__}")
    return None


def _condition(exc: Exception) -> str | None:
    # azure-servicebus keeps the AMQP error condition only in a private attribute.
    condition = getattr(exc, "_condition", None)
    if isinstance(condition, bytes):
        condition = condition.decode("utf-8", "replace")
    return str(condition) if condition else None
