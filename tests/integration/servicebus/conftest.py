from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from local.amqppeer import AmqpPeer, start_peer
from shared.adapters.servicebus import ServiceBusQueue
from shared.config import QueueConnection

SESSION_QUEUES = ("planning-events", "graph-notifications", "outbound-events")
PLAIN_QUEUE = "no-sessions"
# The SDK's retries are kept, only their waits shortened, so that failing tests end quickly.
FAST_RETRIES = {"retry_total": 2, "retry_backoff_factor": 0.01, "retry_backoff_max": 0.05}


@pytest.fixture
def peer() -> Iterator[AmqpPeer]:
    running = start_peer({**dict.fromkeys(SESSION_QUEUES, True), PLAIN_QUEUE: False})
    yield running
    running.stop()


@pytest.fixture
async def queue(peer: AmqpPeer) -> AsyncIterator[ServiceBusQueue]:
    adapter = ServiceBusQueue(QueueConnection(connection_string=peer.connection_string), client_options=FAST_RETRIES)
    yield adapter
    await adapter.close()
