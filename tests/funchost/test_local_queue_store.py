"""LocalQueueStore holds the Service Bus semantics the connector relies on."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from local.funchost.queue_store import MAX_DELIVERY_COUNT_EXCEEDED, LocalQueueStore, LockLostError
from shared.adapters.local_queue import LocalQueuePublisher
from shared.app.messaging import OutboundMessage
from shared.errors import RejectedByQueue, TransientError

Q = "work"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock):
    s = LocalQueueStore(tmp_path / "q.sqlite3", clock=clock, lock_seconds=30, max_delivery_count=3)
    yield s
    s.close()


def msg(message_id: str, session: str | None = None, **kwargs: object) -> OutboundMessage:
    return OutboundMessage(body=message_id.encode(), message_id=message_id, session_id=session, **kwargs)


def test_a_session_delivers_its_messages_in_order_and_one_at_a_time(store: LocalQueueStore) -> None:
    store.send(Q, [msg("a1", "A"), msg("b1", "B"), msg("a2", "A"), msg("b2", "B")])

    first, second = store.receive(Q), store.receive(Q)
    assert (first.message_id, second.message_id) == ("a1", "b1")
    assert store.receive(Q) is None, "both sessions have a message in flight"

    store.complete(first.lock_token)
    third = store.receive(Q)
    assert third.message_id == "a2"
    store.complete(second.lock_token)
    assert store.receive(Q).message_id == "b2"


def test_messages_without_a_session_are_plain_fifo_and_may_be_in_flight_together(
    store: LocalQueueStore,
) -> None:
    store.send(Q, [msg("m1"), msg("m2")])
    assert [store.receive(Q).message_id, store.receive(Q).message_id] == ["m1", "m2"]


def test_excluded_sessions_are_skipped(store: LocalQueueStore) -> None:
    store.send(Q, [msg("a1", "A"), msg("b1", "B")])
    assert store.receive(Q, exclude_sessions={"A"}).message_id == "b1"


def test_sequence_numbers_increase_and_fields_round_trip(store: LocalQueueStore, clock: FakeClock) -> None:
    store.send(Q, [OutboundMessage(b"{}", "x1", "S", "application/json", {"kind": "task", "v": 3})])
    store.send(Q, [msg("x2")])
    got = store.receive(Q)
    assert got.content_type == "application/json"
    assert got.application_properties == {"kind": "task", "v": 3}
    assert got.delivery_count == 1
    assert got.enqueued_time == datetime.fromtimestamp(clock.now, UTC)
    assert store.receive(Q).sequence_number > got.sequence_number


def test_a_message_id_seen_within_the_duplicate_window_is_dropped(tmp_path: Path, clock: FakeClock) -> None:
    store = LocalQueueStore(tmp_path / "q.sqlite3", clock=clock, duplicate_window_seconds=600)
    store.send(Q, [msg("m1"), msg("m1")])
    store.complete(store.receive(Q).lock_token)
    clock.advance(599)
    store.send(Q, [msg("m1")])
    assert store.receive(Q) is None, "completed long ago or not, the id is still in the window"

    clock.advance(2)
    store.send(Q, [msg("m1")])
    assert store.receive(Q).message_id == "m1"


def test_duplicate_detection_is_per_queue(store: LocalQueueStore) -> None:
    store.send("one", [msg("m1")])
    store.send("two", [msg("m1")])
    assert store.receive("two").message_id == "m1"


def test_a_batch_that_fails_part_way_enqueues_nothing(store: LocalQueueStore) -> None:
    broken = OutboundMessage(body=None, message_id="bad")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        store.send(Q, [msg("good"), broken])
    assert store.receive(Q) is None
    store.send(Q, [msg("good")])
    assert store.receive(Q).message_id == "good", "the failed batch did not consume the id"


def test_a_scheduled_message_is_not_delivered_before_its_time(store: LocalQueueStore, clock: FakeClock) -> None:
    due = datetime.fromtimestamp(clock.now, UTC) + timedelta(seconds=60)
    store.send(Q, [msg("later", scheduled_enqueue_time=due)])
    assert store.receive(Q) is None
    assert store.counts(Q)["scheduled"] == 1

    clock.advance(60)
    got = store.receive(Q)
    assert got.message_id == "later"
    assert got.enqueued_time == due


def test_an_abandoned_message_comes_back_at_once_with_its_delivery_count_raised(
    store: LocalQueueStore,
) -> None:
    store.send(Q, [msg("m", "S")])
    store.abandon(store.receive(Q).lock_token, "try again")
    again = store.receive(Q)
    assert (again.message_id, again.delivery_count) == ("m", 2)


def test_abandoning_at_the_maximum_delivery_count_dead_letters_with_the_reason(
    store: LocalQueueStore,
) -> None:
    store.send(Q, [msg("poison", "S"), msg("next", "S")])
    for _ in range(3):
        got = store.receive(Q)
        assert got.message_id == "poison"
        store.abandon(got.lock_token, "ValueError: bad data")

    [dead] = store.dead_letters(Q)
    assert (dead.message_id, dead.reason, dead.description) == (
        "poison",
        MAX_DELIVERY_COUNT_EXCEEDED,
        "ValueError: bad data",
    )
    assert dead.delivery_count == 3
    assert dead.session_id == "S"
    assert store.receive(Q).message_id == "next", "a dead letter no longer holds up its session"


def test_dead_letter_keeps_the_reason_and_description(store: LocalQueueStore) -> None:
    store.send(Q, [msg("m")])
    store.dead_letter(store.receive(Q).lock_token, "InvalidMessage", "title missing")
    [dead] = store.dead_letters(Q)
    assert (dead.reason, dead.description, dead.body) == ("InvalidMessage", "title missing", b"m")
    assert store.counts(Q) == {"active": 0, "scheduled": 0, "locked": 0, "dead_lettered": 1}


def test_an_expired_lock_makes_the_message_available_again(store: LocalQueueStore, clock: FakeClock) -> None:
    store.send(Q, [msg("m", "S")])
    first = store.receive(Q)
    clock.advance(29)
    assert store.receive(Q) is None
    clock.advance(2)
    second = store.receive(Q)
    assert (second.message_id, second.delivery_count) == ("m", 2)
    with pytest.raises(LockLostError):
        store.complete(first.lock_token)
    store.complete(second.lock_token)
    assert store.counts(Q)["active"] == 0


def test_renewing_a_lock_keeps_the_message_locked(store: LocalQueueStore, clock: FakeClock) -> None:
    store.send(Q, [msg("m")])
    got = store.receive(Q)
    clock.advance(20)
    store.renew_lock(got.lock_token)
    clock.advance(20)
    assert store.receive(Q) is None
    assert store.counts(Q)["locked"] == 1
    store.complete(got.lock_token)


def test_a_lock_that_expires_after_the_last_delivery_dead_letters_the_message(
    store: LocalQueueStore, clock: FakeClock
) -> None:
    store.send(Q, [msg("crasher")])
    for _ in range(3):
        assert store.receive(Q).message_id == "crasher"
        clock.advance(31)  # the consumer died holding the lock
    assert store.receive(Q) is None
    [dead] = store.dead_letters(Q)
    assert dead.reason == MAX_DELIVERY_COUNT_EXCEEDED


def test_replay_puts_a_dead_letter_back_with_a_fresh_delivery_count(store: LocalQueueStore) -> None:
    store.send(Q, [msg("m", "S")])
    store.dead_letter(store.receive(Q).lock_token, "Boom", "")
    [dead] = store.dead_letters(Q)

    assert store.replay_dead_letter(Q, dead.sequence_number) is True
    assert store.dead_letters(Q) == []
    again = store.receive(Q)
    assert (again.message_id, again.delivery_count) == ("m", 1)
    assert store.replay_dead_letter(Q, dead.sequence_number) is False, "it is no longer dead-lettered"
    assert store.replay_dead_letter("other", dead.sequence_number) is False


def test_settling_with_an_unknown_lock_token_fails(store: LocalQueueStore) -> None:
    for settle in (store.complete, store.abandon, store.renew_lock):
        with pytest.raises(LockLostError):
            settle("nope")


def test_two_stores_on_one_file_share_messages_and_locks(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    a, b = LocalQueueStore(path), LocalQueueStore(path)
    a.send(Q, [msg("m1", "S"), msg("m2", "S")])
    got = b.receive(Q)
    assert got.message_id == "m1"
    assert a.receive(Q) is None, "the other store sees the session locked"
    a.complete(got.lock_token)
    assert b.receive(Q).message_id == "m2"


def test_concurrent_consumers_in_threads_and_a_sending_process_deliver_each_message_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / "busy.sqlite3"
    consumers = [LocalQueueStore(path) for _ in range(3)]
    sender = (
        "import sys; from local.funchost.queue_store import LocalQueueStore;"
        "from shared.app.messaging import OutboundMessage as M;"
        "s = LocalQueueStore(sys.argv[1]);"
        "[s.send('work', [M(str(i).encode(), str(i), f'S{i % 7}')]) for i in range(150)]"
    )
    proc = subprocess.Popen([sys.executable, "-c", sender, str(path)], cwd=Path(__file__).parents[2])
    seen: list[str] = []
    lock = threading.Lock()

    def consume(store: LocalQueueStore) -> None:
        idle = 0
        while idle < 200:
            got = store.receive(Q)
            if got is None:
                idle += 1 if proc.poll() is not None else 0
                continue
            idle = 0
            with lock:
                seen.append(got.message_id)
            store.complete(got.lock_token)

    threads = [threading.Thread(target=consume, args=(s,)) for s in consumers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert proc.wait(60) == 0
    assert sorted(seen, key=int) == [str(i) for i in range(150)]
    by_session = [int(m) for m in seen if int(m) % 7 == 3]
    assert by_session == sorted(by_session), "per-session order holds across consumers"


async def test_the_publisher_enqueues_through_the_message_queue_port(tmp_path: Path) -> None:
    publisher = LocalQueuePublisher(tmp_path / "q.sqlite3")
    await publisher.send(Q, [msg("p1", "S")])
    await publisher.close()
    assert LocalQueueStore(tmp_path / "q.sqlite3").receive(Q).message_id == "p1"


class TestSendLimitsAsStrictAsServiceBus:
    """What azure-servicebus 7.15 raises for a message a Standard queue refuses, the store raises too."""

    @pytest.mark.parametrize("message", [
        OutboundMessage(body=b"x", message_id="m" * 129),
        OutboundMessage(body=b"x", message_id="m", session_id="s" * 129),
        OutboundMessage(body=b"x", message_id="m", application_properties={"n": 2 ** 40}),
    ])
    def test_ids_over_128_characters_and_ints_beyond_32_bits_raise_value_error(
            self, store: LocalQueueStore, message: OutboundMessage) -> None:
        with pytest.raises(ValueError):
            store.send(Q, [message])

    def test_ids_of_128_characters_are_taken(self, store: LocalQueueStore) -> None:
        store.send(Q, [OutboundMessage(body=b"x", message_id="m" * 128, session_id="s" * 128)])
        assert store.counts(Q)["active"] == 1

    @pytest.mark.parametrize("properties", [
        {},  # the body alone is too large
        {"big": "p" * 2048},  # the body fits, the application properties tip it over
    ])
    def test_a_message_over_256_kb_with_its_properties_raises_message_size_exceeded(
            self, store: LocalQueueStore, properties: dict) -> None:
        from azure.servicebus.exceptions import MessageSizeExceededError

        size = 256 * 1024 - (1024 if properties else 0)
        store.send(Q, [OutboundMessage(body=b"x" * (size - 1024), message_id="fits")])
        with pytest.raises(MessageSizeExceededError):
            store.send(Q, [OutboundMessage(body=b"x" * size, message_id="big", application_properties=properties)])

    @pytest.mark.parametrize("value", [[1], {"a": 1}, b"bytes", None, object()])
    def test_property_values_service_bus_does_not_take_raise_type_error(self, store: LocalQueueStore,
                                                                        value: object) -> None:
        with pytest.raises(TypeError):
            store.send(Q, [OutboundMessage(body=b"x", message_id="m", application_properties={"p": value})])

    def test_one_refused_message_queues_none_of_its_batch(self, store: LocalQueueStore) -> None:
        with pytest.raises(ValueError):
            store.send(Q, [msg("ok-1"), OutboundMessage(body=b"x", message_id="m" * 129), msg("ok-2")])
        assert store.counts(Q)["active"] == 0

    async def test_the_publisher_maps_a_refusal_as_the_service_bus_adapter_does(self, tmp_path: Path) -> None:
        publisher = LocalQueuePublisher(tmp_path / "p.sqlite3")
        with pytest.raises(RejectedByQueue, match="128"):
            await publisher.send(Q, [OutboundMessage(body=b"x", message_id="m" * 129)])
        with pytest.raises(RejectedByQueue) as caught:
            await publisher.send(Q, [OutboundMessage(body=b"x" * 300_000, message_id="big")])
        assert "size" in caught.value.limit
        await publisher.close()


async def test_the_publisher_opens_the_file_on_first_use_and_the_probe_needs_it(tmp_path: Path) -> None:
    publisher = LocalQueuePublisher(tmp_path / "later" / "q.sqlite3")
    assert not publisher.path.exists()
    with pytest.raises(TransientError, match="unavailable"):
        await publisher.probe(Q)
    await publisher.send(Q, [msg("p1", "S")])
    await publisher.probe(Q)
    await publisher.close()


def test_a_batch_larger_than_one_id_lookup_still_drops_every_seen_id(store: LocalQueueStore) -> None:
    store.send(Q, [msg("m-1199")])
    store.send(Q, [msg(f"m-{i}") for i in range(1200)] + [msg("m-3"), msg("m-700")])
    assert store.counts(Q)["active"] == 1200, "1199 new ids plus the one sent before; the repeats dropped"


class TestTheSendabilityShortcut:
    """``check_sendable`` skips encoding a message only when the SDK's exact check could find nothing."""

    @given(body_size=st.integers(200_000, 262_144), texts=st.lists(st.text(max_size=300), max_size=6),
           numbers=st.lists(st.integers(-(2 ** 31), 2 ** 31 - 1), max_size=4),
           message_id=st.text(min_size=1, max_size=128), session=st.none() | st.text(max_size=128),
           scheduled=st.booleans())
    @settings(max_examples=60)
    def test_a_message_it_lets_through_is_one_the_sdk_takes(self, body_size: int, texts: list[str],
                                                            numbers: list[int], message_id: str, session: str | None,
                                                            scheduled: bool) -> None:
        from azure.servicebus import ServiceBusMessage, ServiceBusMessageBatch

        from shared.adapters.local_queue import MAX_MESSAGE_BYTES, _clearly_sendable

        properties: dict[str, str | int] = {f"p{i}": t for i, t in enumerate(texts)}
        properties |= {f"n{i}": n for i, n in enumerate(numbers)} | {"flag": True}
        due = datetime(2030, 1, 1, tzinfo=UTC) if scheduled else None
        message = OutboundMessage(body=b"x" * body_size, message_id=message_id, session_id=session,
                                  application_properties=properties, scheduled_enqueue_time=due)
        if _clearly_sendable(message):
            sb = ServiceBusMessage(message.body, message_id=message_id, session_id=session,
                                   application_properties=dict(message.application_properties),
                                   scheduled_enqueue_time_utc=due)
            ServiceBusMessageBatch(max_size_in_bytes=MAX_MESSAGE_BYTES).add_message(sb)  # raises if too large

    def test_an_ordinary_planning_message_takes_the_shortcut(self) -> None:
        from shared.adapters.local_queue import _clearly_sendable

        assert _clearly_sendable(OutboundMessage(body=b"{}" * 2000, message_id="e" * 80, session_id="s" * 80,
                                                 application_properties={"type": "task.planned", "source": "x"}))
        assert _clearly_sendable(OutboundMessage(  # put off by the coalescing window at ingest
            body=b"{}" * 2000, message_id="e" * 80, session_id="s" * 80,
            application_properties={"type": "task.planned", "source": "x", "connector-coalesce": 1},
            scheduled_enqueue_time=datetime(2030, 1, 1, tzinfo=UTC)))


async def test_concurrent_sends_share_writes_and_each_stays_all_or_nothing(tmp_path: Path) -> None:
    import asyncio

    publisher = LocalQueuePublisher(tmp_path / "p.sqlite3")
    refused = [msg("r-1"), OutboundMessage(body=b"x", message_id="m" * 129)]
    sends = [[msg(f"a-{i}"), msg(f"b-{i}")] for i in range(20)]
    results = await asyncio.gather(*(publisher.send(Q, batch) for batch in sends[:10]), publisher.send(Q, refused),
                                   *(publisher.send(Q, batch) for batch in sends[10:]), return_exceptions=True)
    assert [type(r).__name__ for r in results] == ["NoneType"] * 10 + ["RejectedByQueue"] + ["NoneType"] * 10
    await publisher.send(Q, [msg("a-3"), msg("r-1")])  # a-3 already came, r-1 never did
    await publisher.close()
    store = LocalQueueStore(tmp_path / "p.sqlite3")
    assert store.counts(Q)["active"] == 41
    store.close()
