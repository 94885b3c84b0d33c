"""MessageQueue, send side: the recording fake, the local queue (SQLite, what the local host uses) and the
Service Bus adapter through azure-servicebus against the loopback AMQP peer. All deliver the same fields,
keep a caller's order, and refuse what Service Bus refuses (``RejectedByQueue``, nothing sent)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from local.amqppeer import AmqpPeer
from local.funchost.queue_store import LocalQueueStore
from shared.adapters.local_queue import LocalQueuePublisher
from shared.adapters.servicebus import ServiceBusQueue
from shared.app.messaging import MessageQueue, OutboundMessage
from shared.config import QueueConnection
from shared.errors import RejectedByQueue
from tests.fakes.queue import RecordingQueue
from tests.integration.servicebus.conftest import FAST_RETRIES, peer

__all__ = ["peer"]  # the AMQP peer's fixture, used by the "servicebus" backend

Q = "planning-events"
LIMIT = 256 * 1024


@dataclass(frozen=True)
class Arrived:
    message_id: str | None
    session_id: str | None
    body: bytes
    content_type: str | None
    application_properties: dict[str, Any]


@dataclass
class Queue:
    port: MessageQueue
    arrived: Callable[[str], list[Arrived]]


def _local_arrivals(path: Path) -> Callable[[str], list[Arrived]]:
    def arrived(queue: str) -> list[Arrived]:
        store = LocalQueueStore(path)
        try:
            got = []
            while (message := store.receive(queue)) is not None:
                got.append(Arrived(message.message_id, message.session_id, message.body, message.content_type,
                                   message.application_properties))
                store.complete(message.lock_token)
            return got
        finally:
            store.close()
    return arrived


@pytest.fixture(params=["fake", "local", pytest.param("servicebus", marks=pytest.mark.amqp)])
async def queue(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Queue]:
    port: Any
    if request.param == "fake":
        port = RecordingQueue()
        fake = port
        yield Queue(port, lambda name: [Arrived(m.message_id, m.session_id, m.body, m.content_type,
                                                dict(m.application_properties)) for q, m in fake.sent if q == name])
    elif request.param == "local":
        port = LocalQueuePublisher(tmp_path / "queues.db")
        yield Queue(port, _local_arrivals(tmp_path / "queues.db"))
    else:
        amqp: AmqpPeer = request.getfixturevalue("peer")
        port = ServiceBusQueue(QueueConnection(connection_string=amqp.connection_string), client_options=FAST_RETRIES)
        yield Queue(port, lambda name: [Arrived(m.message_id, m.session_id, m.body, m.content_type,
                                                dict(m.application_properties)) for m in amqp.received(name)])
    await port.close()


def msg(message_id: str, session: str | None = "room-1", body: bytes | None = None, **kwargs: Any) -> OutboundMessage:
    return OutboundMessage(body=body if body is not None else b'{"id":"%s"}' % message_id.encode(),
                           message_id=message_id, session_id=session, **kwargs)



class TestMessageQueue:
    async def test_messages_arrive_with_their_fields_in_order(self, queue: Queue) -> None:
        await queue.port.send(Q, [msg("e1", application_properties={"kind": "task", "attempt": 2}),
                                  msg("e2", session="room-2"), msg("e3")])
        got = queue.arrived(Q)
        assert [(m.message_id, m.session_id) for m in got] == [("e1", "room-1"), ("e2", "room-2"), ("e3", "room-1")]
        assert got[0].body == b'{"id":"e1"}' and got[0].content_type == "application/cloudevents+json"
        assert got[0].application_properties == {"kind": "task", "attempt": 2}

    async def test_ids_of_exactly_128_characters_are_accepted(self, queue: Queue) -> None:
        await queue.port.send(Q, [msg("m" * 128, session="s" * 128)])
        assert [len(m.message_id or "") for m in queue.arrived(Q)] == [128]

    async def test_large_messages_within_the_limit_all_arrive(self, queue: Queue) -> None:
        messages = [msg(f"big-{i}", session=f"s{i % 2}", body=os.urandom(90_000)) for i in range(4)]
        await queue.port.send(Q, messages)
        assert [m.body for m in queue.arrived(Q)] == [m.body for m in messages]

    @pytest.mark.parametrize("field", ["message_id", "session_id"])
    async def test_an_id_over_128_characters_is_refused_and_nothing_is_sent(
            self, queue: Queue, field: str, request: pytest.FixtureRequest) -> None:
        bad = msg("x" * 129) if field == "message_id" else msg("ok-id", session="x" * 129)
        with pytest.raises(RejectedByQueue) as caught:
            await queue.port.send(Q, [msg("first"), bad])
        assert "128" in str(caught.value) + caught.value.limit
        assert queue.arrived(Q) == []

    async def test_a_message_over_256_kb_is_refused_as_too_large_and_nothing_is_sent(
            self, queue: Queue, request: pytest.FixtureRequest) -> None:
        with pytest.raises(RejectedByQueue) as caught:
            await queue.port.send(Q, [msg("fine"), msg("huge", body=b"x" * (LIMIT + 1))])
        assert "size" in caught.value.limit, "ingest answers 413 for a size limit"
        assert queue.arrived(Q) == []
