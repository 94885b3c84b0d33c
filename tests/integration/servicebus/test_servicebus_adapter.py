"""ServiceBusQueue through the real azure-servicebus SDK against a loopback AMQP 1.0 peer (local/amqppeer): what
only this adapter does (the MessageQueue contract, ids and size limits included, is in tests/contract)."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta

import pytest

from local.amqppeer import AmqpPeer
from shared.adapters.servicebus import ServiceBusQueue
from shared.app.messaging import OutboundMessage
from shared.config import QueueConnection
from shared.errors import ConfigurationError, RejectedByQueue, TransientError
from tests.integration.servicebus.conftest import FAST_RETRIES, PLAIN_QUEUE

Q = "planning-events"
LIMIT = 256 * 1024


def msg(message_id: str, session: str | None = "room-1", body: bytes | None = None,
        **kwargs: object) -> OutboundMessage:
    return OutboundMessage(body=body if body is not None else b'{"id":"%s"}' % message_id.encode(),
                           message_id=message_id, session_id=session, **kwargs)  # type: ignore[arg-type]


async def test_a_message_arrives_with_its_ids_content_type_and_properties(
        queue: ServiceBusQueue, peer: AmqpPeer) -> None:
    await queue.send(Q, [msg("e1", application_properties={"kind": "task", "attempt": 2})])

    [got] = peer.received(Q)
    assert (got.message_id, got.session_id, got.body) == ("e1", "room-1", b'{"id":"e1"}')
    assert got.content_type == "application/cloudevents+json"
    assert got.application_properties == {"kind": "task", "attempt": 2}
    assert got.scheduled_enqueue_time is None


async def test_the_scheduled_enqueue_time_travels_as_the_service_bus_annotation(
        queue: ServiceBusQueue, peer: AmqpPeer) -> None:
    at = datetime(2031, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)
    await queue.send(Q, [msg("later", scheduled_enqueue_time=at)])

    assert peer.received(Q)[0].scheduled_enqueue_time == at


async def test_messages_beyond_one_batch_go_in_several_batches_each_within_the_link_limit(
        queue: ServiceBusQueue, peer: AmqpPeer) -> None:
    messages = [msg(f"big-{i}", session=f"s{i % 2}", body=os.urandom(90_000)) for i in range(7)]
    await queue.send(Q, messages)

    got = peer.received(Q)
    assert [m.message_id for m in got] == [m.message_id for m in messages], "all, once, in order"
    assert [m.body for m in got] == [m.body for m in messages]
    sizes = peer.transfer_sizes(Q)
    assert len(sizes) >= 3 and all(size <= LIMIT for size in sizes)


async def test_concurrent_sends_from_one_adapter_arrive_exactly_once(queue: ServiceBusQueue, peer: AmqpPeer) -> None:
    queues = ("planning-events", "graph-notifications", "outbound-events")

    async def one(i: int) -> None:
        await queue.send(queues[i % 3], [msg(f"c{i}-a", session=f"s{i}"), msg(f"c{i}-b", session=f"s{i}")])

    await asyncio.gather(*(one(i) for i in range(50)))

    for index, name in enumerate(queues):
        expected = sorted(f"c{i}-{part}" for i in range(index, 50, 3) for part in "ab")
        assert sorted(m.message_id for m in peer.received(name)) == expected
        for i in range(index, 50, 3):
            in_session = [m.message_id for m in peer.received(name) if m.session_id == f"s{i}"]
            assert in_session == [f"c{i}-a", f"c{i}-b"], "one caller's messages stay in order"


async def test_a_repeated_message_id_is_dropped_by_duplicate_detection(queue: ServiceBusQueue, peer: AmqpPeer) -> None:
    await queue.send(Q, [msg("d1"), msg("d2")])
    await queue.send(Q, [msg("d2"), msg("d3")])

    assert [m.message_id for m in peer.received(Q)] == ["d1", "d2", "d3"]


async def test_a_message_too_large_for_service_bus_is_rejected_permanently_and_nothing_is_sent(
        queue: ServiceBusQueue, peer: AmqpPeer) -> None:
    with pytest.raises(RejectedByQueue) as caught:
        await queue.send(Q, [msg("fine"), msg("huge", body=b"x" * (LIMIT + 1))])

    assert "huge" in str(caught.value) and str(LIMIT) in caught.value.limit
    assert peer.received(Q) == [], "every message is checked before the first batch goes"


async def test_a_session_queue_refuses_a_message_without_session_id_permanently(
        queue: ServiceBusQueue, peer: AmqpPeer) -> None:
    with pytest.raises(RejectedByQueue) as caught:
        await queue.send(Q, [msg("lonely", session=None)])

    assert "session" in caught.value.limit
    assert peer.received(Q) == []
    await queue.send(PLAIN_QUEUE, [msg("lonely", session=None)])
    assert [m.message_id for m in peer.received(PLAIN_QUEUE)] == ["lonely"]


async def test_the_peer_going_away_mid_send_is_transient_and_the_adapter_recovers(
        queue: ServiceBusQueue, peer: AmqpPeer) -> None:
    await queue.send(Q, [msg("before")])
    peer.drop_connections_on_transfer = True

    with pytest.raises(TransientError):
        await queue.send(Q, [msg("during")])

    assert peer.connections_dropped >= 1
    peer.drop_connections_on_transfer = False
    await queue.send(Q, [msg("during"), msg("after")])
    assert [m.message_id for m in peer.received(Q)] == ["before", "during", "after"]


async def test_an_unreachable_namespace_is_transient(peer: AmqpPeer) -> None:
    connection_string = peer.connection_string
    peer.stop()
    adapter = ServiceBusQueue(QueueConnection(connection_string=connection_string), client_options=FAST_RETRIES)
    try:
        with pytest.raises(TransientError):
            await adapter.send(Q, [msg("nowhere")])
    finally:
        await adapter.close()


async def test_a_queue_the_namespace_does_not_have_is_a_configuration_error(queue: ServiceBusQueue) -> None:
    with pytest.raises(ConfigurationError) as caught:
        await queue.send("no-such-queue", [msg("x")])

    assert caught.value.setting == "ServiceBusConnection" and "no-such-queue" in caught.value.problem


async def test_a_wrong_key_is_a_configuration_error_that_does_not_show_the_key(peer: AmqpPeer) -> None:
    wrong = peer.connection_string.replace(peer.key, "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmc=")
    adapter = ServiceBusQueue(QueueConnection(connection_string=wrong), client_options=FAST_RETRIES)
    try:
        with pytest.raises(ConfigurationError) as caught:
            await adapter.send(Q, [msg("x")])
    finally:
        await adapter.close()

    assert caught.value.setting == "ServiceBusConnection"
    assert "d3Jvbmc" not in str(caught.value) and peer.key not in str(caught.value)
    assert peer.received(Q) == []


async def test_probe_opens_the_link_without_sending(queue: ServiceBusQueue, peer: AmqpPeer) -> None:
    await queue.probe(Q)

    assert peer.received(Q) == []
    with pytest.raises(ConfigurationError):
        await queue.probe("no-such-queue")


async def test_the_scheduled_time_survives_a_batch_split(queue: ServiceBusQueue, peer: AmqpPeer) -> None:
    at = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=3)
    messages = [msg(f"t{i}", body=os.urandom(100_000), scheduled_enqueue_time=at) for i in range(3)]
    await queue.send(Q, messages)

    assert [m.scheduled_enqueue_time for m in peer.received(Q)] == [at] * 3
