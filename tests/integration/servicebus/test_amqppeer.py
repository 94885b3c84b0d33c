"""The loopback peer is no more lenient than Service Bus on what the adapter relies on (driven by the SDK itself)."""

from __future__ import annotations

import time

import pytest
from azure.servicebus import ServiceBusMessage
from azure.servicebus.aio import ServiceBusClient
from azure.servicebus.exceptions import MessageSizeExceededError

from local.amqppeer import start_peer

pytestmark = pytest.mark.amqp  # each test starts its own peer


class Clock:
    """Starts at the real time: the peer also checks the SAS token's expiry against it."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


async def _send(connection_string: str, queue: str, *messages: ServiceBusMessage) -> None:
    async with ServiceBusClient.from_connection_string(connection_string, retry_total=0) as client, \
            client.get_queue_sender(queue) as sender:
        await sender.send_messages(list(messages))


async def test_a_transfer_above_the_link_limit_is_rejected_with_service_bus_s_condition() -> None:
    peer = start_peer({"q": False})
    try:
        # A list is sent as one batch only after the SDK's own check; a single message goes as it is.
        with pytest.raises(MessageSizeExceededError, match="262144"):
            async with ServiceBusClient.from_connection_string(peer.connection_string, retry_total=0) as client, \
                    client.get_queue_sender("q") as sender:
                await sender.send_messages(ServiceBusMessage(b"x" * 262_145, message_id="big"))
        assert peer.received("q") == []
    finally:
        peer.stop()


async def test_duplicate_detection_forgets_a_message_id_after_its_window() -> None:
    clock = Clock()
    peer = start_peer({"q": False}, clock=clock)
    try:
        await _send(peer.connection_string, "q", ServiceBusMessage(b"1", message_id="same"))
        clock.now += 9 * 60
        await _send(peer.connection_string, "q", ServiceBusMessage(b"2", message_id="same"))
        clock.now += 2 * 60
        await _send(peer.connection_string, "q", ServiceBusMessage(b"3", message_id="same"))

        assert [m.body for m in peer.received("q")] == [b"1", b"3"]
    finally:
        peer.stop()


async def test_a_message_without_a_message_id_is_stored_every_time() -> None:
    peer = start_peer({"q": False})
    try:
        await _send(peer.connection_string, "q", ServiceBusMessage(b"a"), ServiceBusMessage(b"b"))
        assert [m.body for m in peer.received("q")] == [b"a", b"b"]
    finally:
        peer.stop()
