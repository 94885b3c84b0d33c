"""MessageQueue over the local queue file (``CONNECTOR_LOCAL_QUEUE_PATH``): what the app uses instead of
Service Bus when it runs on the local function host, which consumes the same SQLite file
(``local/funchost/queue_store.py`` adds receiving, locks, dead letters and limits).

What both sides must agree on lives here: the schema, the transaction discipline (WAL, ``BEGIN
IMMEDIATE``, a busy timeout: several processes open the file), and enqueueing with duplicate detection
by message id and scheduled delivery. Sending is no more lenient than Service Bus (``check_sendable``).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from shared.app.messaging import OutboundMessage
from shared.app.ports.operator import QueueStats
from shared.errors import RejectedByQueue, TransientError

__all__ = ["DUPLICATE_WINDOW_SECONDS", "MAX_MESSAGE_BYTES", "LocalQueuePublisher", "QueueFile", "check_sendable"]

MAX_MESSAGE_BYTES = 256 * 1024  # Service Bus Standard: body, system and application properties together
DUPLICATE_WINDOW_SECONDS = 600.0  # the queues' duplicateDetectionHistoryTimeWindow (infra/)
# Types every Service Bus client and the broker take as application property values (bytes are refused
# by the service, lists and maps are not simple AMQP types); None, UUID and datetime are left out too.
_PROPERTY_TYPES = (str, bool, int, float)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    message_id TEXT NOT NULL,
    session_id TEXT,
    body BLOB NOT NULL,
    content_type TEXT,
    properties TEXT NOT NULL,
    enqueued_at REAL NOT NULL,
    delivery_count INTEGER NOT NULL DEFAULT 0,
    lock_token TEXT,
    locked_until REAL,
    dead INTEGER NOT NULL DEFAULT 0,
    dl_reason TEXT,
    dl_description TEXT,
    dl_at REAL
);
CREATE INDEX IF NOT EXISTS messages_by_queue ON messages (queue, dead, session_id, seq);
CREATE UNIQUE INDEX IF NOT EXISTS messages_by_lock ON messages (lock_token);
CREATE INDEX IF NOT EXISTS messages_in_order ON messages (queue, dead, seq);
CREATE INDEX IF NOT EXISTS messages_in_flight ON messages (queue, locked_until) WHERE locked_until IS NOT NULL;
CREATE TABLE IF NOT EXISTS seen_ids (
    queue TEXT NOT NULL,
    message_id TEXT NOT NULL,
    seen_at REAL NOT NULL,
    PRIMARY KEY (queue, message_id)
);
CREATE INDEX IF NOT EXISTS seen_ids_by_age ON seen_ids (queue, seen_at);
"""
_LOOKUP_CHUNK = 500  # ids per "IN (...)": well below SQLite's limit of bound parameters


class _Connection:
    """The process's one connection to a queue file, guarded by a lock and shared by every ``QueueFile`` of the
    process over that file: the function host's store and the app's publisher then wait for each other on the
    lock, in turn, instead of in SQLite's busy handler, which sleeps up to 100 ms between tries."""

    _open: dict[Path, _Connection] = {}
    _registry = threading.Lock()

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.users = 0
        # (queue, session) → how many sends of this process reached it: what a session receiver of the local host
        # watches while it waits for its session's next message, instead of asking the file again and again.
        self.sends: dict[tuple[str, str | None], int] = {}
        # isolation_level=None: we issue BEGIN ourselves. A busy timeout for the other processes on the file.
        self.db = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA busy_timeout=30000")
        self.db.execute("PRAGMA synchronous=NORMAL")

    @classmethod
    def acquire(cls, path: Path) -> _Connection:
        key = path.resolve()
        with cls._registry:
            connection = cls._open.get(key)
            if connection is None:
                connection = cls._open[key] = _Connection(key)
            connection.users += 1
            return connection

    def release(self) -> None:
        with self._registry:
            self.users -= 1
            if self.users == 0:
                del self._open[self.path]
                with self.lock:
                    self.db.close()


class QueueFile:
    """The queue file, created with its schema if need be; safe across threads and processes."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._connection: _Connection | None = _Connection.acquire(self.path)
        # Statements are short, and an sqlite3 connection must not be used by two threads at once.
        self._lock = self._connection.lock
        self._db = self._connection.db
        with self._write():
            # executescript would COMMIT our transaction, hence one statement at a time.
            for statement in filter(str.strip, _SCHEMA.split(";")):
                self._db.execute(statement)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.release()
            self._connection = None

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        # BEGIN IMMEDIATE takes the write lock up front, so a read-then-update can't deadlock
        # against another process doing the same (SQLITE_BUSY on lock upgrade).
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def enqueue(self, queue: str, messages: Sequence[OutboundMessage], *, now: float,
                duplicate_window_seconds: float = DUPLICATE_WINDOW_SECONDS) -> None:
        """Enqueue the batch atomically; ids seen on the queue within the window are dropped.

        Raises what azure-servicebus raises for a message Service Bus refuses (``check_sendable``),
        before anything is enqueued.
        """
        for message in messages:
            check_sendable(message)
        with self._write() as db:
            _insert(db, queue, messages, now, duplicate_window_seconds)
            self._count_sends(queue, messages)

    def enqueue_each(self, sends: Sequence[tuple[str, Sequence[OutboundMessage]]], *,
                     now: float) -> list[Exception | None]:
        """Several senders' batches in one transaction, each still all or nothing: a batch with a message Service
        Bus would refuse gets that error in its place of the result and is left out; the others are enqueued
        (None). A failing file fails them all (raises)."""
        outcomes: list[Exception | None] = []
        for _, messages in sends:
            try:
                for message in messages:
                    check_sendable(message)
                outcomes.append(None)
            except Exception as exc:  # what azure-servicebus raises for this batch: reported to its sender
                outcomes.append(exc)
        with self._write() as db:
            for (queue, messages), outcome in zip(sends, outcomes, strict=True):
                if outcome is None:
                    _insert(db, queue, messages, now, DUPLICATE_WINDOW_SECONDS)
                    self._count_sends(queue, messages)
        return outcomes

    def _count_sends(self, queue: str, messages: Sequence[OutboundMessage]) -> None:
        assert self._connection is not None
        sends = self._connection.sends
        for message in messages:
            key = (queue, message.session_id)
            sends[key] = sends.get(key, 0) + 1

    def sends_to(self, queue: str, session_id: str | None) -> int:
        """How many sends of this process reached the session so far (a count to compare, no more)."""
        return 0 if self._connection is None else self._connection.sends.get((queue, session_id), 0)


def _insert(db: sqlite3.Connection, queue: str, messages: Sequence[OutboundMessage], now: float,
            duplicate_window_seconds: float) -> None:
    # One statement per step for the whole batch: expire old ids, look up the batch's ids, insert the rest.
    db.execute("DELETE FROM seen_ids WHERE queue = ? AND seen_at < ?", (queue, now - duplicate_window_seconds))
    ids = list(dict.fromkeys(message.message_id for message in messages))
    seen: set[str] = set()
    for start in range(0, len(ids), _LOOKUP_CHUNK):
        chunk = ids[start:start + _LOOKUP_CHUNK]
        marks = ",".join("?" * len(chunk))
        seen.update(row[0] for row in db.execute(
            f"SELECT message_id FROM seen_ids WHERE queue = ? AND message_id IN ({marks})", (queue, *chunk)))
    fresh = []
    for message in messages:
        if message.message_id in seen:
            continue  # seen within the window, or earlier in this batch: dropped, as Service Bus does
        seen.add(message.message_id)
        fresh.append(message)
    db.executemany("INSERT INTO seen_ids (queue, message_id, seen_at) VALUES (?, ?, ?)",
                   [(queue, message.message_id, now) for message in fresh])
    db.executemany(
        "INSERT INTO messages (queue, message_id, session_id, body, content_type,"
        " properties, enqueued_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(queue, message.message_id, message.session_id, bytes(message.body), message.content_type,
          json.dumps(dict(message.application_properties)), _due(message, now)) for message in fresh],
    )


def _due(message: OutboundMessage, now: float) -> float:
    if message.scheduled_enqueue_time is None:
        return now
    return max(now, message.scheduled_enqueue_time.timestamp())


def check_sendable(message: OutboundMessage) -> None:
    """Raise ``ValueError``, ``TypeError`` or ``MessageSizeExceededError`` as azure-servicebus does when
    ``message`` would not reach a Service Bus Standard queue."""
    for key, value in message.application_properties.items():
        if not isinstance(key, str) or not isinstance(value, _PROPERTY_TYPES):
            raise TypeError(f"application property {key!r}: a {type(value).__name__} value is not taken by "
                            "Service Bus (use str, int, float or bool)")
    if _clearly_sendable(message):
        return
    from azure.servicebus import ServiceBusMessage, ServiceBusMessageBatch

    properties: dict[str | bytes, Any] = {key: value for key, value in message.application_properties.items()}
    sb_message = ServiceBusMessage(  # raises ValueError for ids over 128 characters
        bytes(message.body), message_id=message.message_id, session_id=message.session_id,
        content_type=message.content_type, application_properties=properties,
        scheduled_enqueue_time_utc=message.scheduled_enqueue_time)
    # Encodes the message as the sender does (ValueError for an int beyond 32 bits) and measures it.
    ServiceBusMessageBatch(max_size_in_bytes=MAX_MESSAGE_BYTES).add_message(sb_message)


# An upper bound of what AMQP adds to a message beside its strings: the header, properties and annotation sections,
# their descriptors, the data section, a scheduled time (the SDK's encoding measures about 150 bytes).
_FIXED_OVERHEAD = 1024
_PER_STRING_OVERHEAD = 8  # constructor and a 4-byte length, rounded up (also covers a 32-bit int: 5 bytes)
_INT32_MIN, _INT32_MAX = -(2 ** 31), 2 ** 31 - 1


def _clearly_sendable(message: OutboundMessage) -> bool:
    """True when no limit can apply, so encoding the message as the SDK does (about 40 µs) would find nothing: ids
    within 128 characters, only str, bool and 32-bit int properties (wider numbers have encodings the SDK decides),
    and an upper bound of the encoded size within the limit. Otherwise the SDK measures it exactly."""
    strings = [message.message_id, message.session_id or "", message.content_type or ""]
    for key, value in message.application_properties.items():
        if isinstance(value, int) and not isinstance(value, bool) and not _INT32_MIN <= value <= _INT32_MAX:
            return False  # the SDK's encoding decides what a wider int becomes
        if not isinstance(value, str | int):  # bool is an int
            return False
        strings.append(key)
        strings.append(value if isinstance(value, str) else "")  # an int: at most the overhead of an empty string
    if len(message.message_id) > 128 or len(message.session_id or "") > 128:
        return False
    size = len(message.body) + _FIXED_OVERHEAD + sum(len(s.encode("utf-8")) + _PER_STRING_OVERHEAD for s in strings)
    return size <= MAX_MESSAGE_BYTES


class LocalQueuePublisher:
    """``shared.app.messaging.MessageQueue`` over the local queue file (selected by the composition root).

    Errors as ``ServiceBusQueue`` has them: a message Service Bus would refuse is ``RejectedByQueue``
    naming the limit, a busy or unavailable file is a ``TransientError``. The file is opened on first use.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file: QueueFile | None = None
        self._opening = threading.Lock()
        # Sends that arrive while a write is under way wait for the next one: concurrent requests share one
        # transaction and one trip to a worker thread (group commit), each still all or nothing.
        self._waiting: list[tuple[str, Sequence[OutboundMessage], asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    def _queue_file(self) -> QueueFile:
        with self._opening:
            if self._file is None:
                self._file = QueueFile(self.path)
            return self._file

    def _enqueue_each(self, sends: Sequence[tuple[str, Sequence[OutboundMessage]]]) -> list[Exception | None]:
        return self._queue_file().enqueue_each(sends, now=time.time())

    async def send(self, queue: str, messages: Sequence[OutboundMessage]) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((queue, messages, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_waiting())
        try:
            await asyncio.shield(done)  # a cancelled caller leaves the others' write alone
        except sqlite3.Error as exc:
            # Busy or unavailable file: the caller may retry, as with a Service Bus outage.
            raise TransientError(f"local queue {self.path} unavailable: {exc}") from exc
        except Exception as exc:
            # azure-servicebus is imported only here and where a message needs the SDK's exact measure, not on
            # every send of an ordinary message.
            from azure.servicebus.exceptions import MessageSizeExceededError

            if isinstance(exc, MessageSizeExceededError):
                raise RejectedByQueue(f"the local queue refused a message for {queue} as too large: {exc}",
                                      limit=f"message size at most {MAX_MESSAGE_BYTES} bytes") from exc
            if isinstance(exc, ValueError | TypeError):
                raise RejectedByQueue(f"the local queue refuses a message for {queue}: {exc}",
                                      limit=str(exc)) from exc
            raise

    async def _write_waiting(self) -> None:
        while self._waiting:
            group, self._waiting = self._waiting, []
            try:
                outcomes = await asyncio.to_thread(self._enqueue_each, [(q, m) for q, m, _ in group])
            except Exception as exc:
                outcomes = [exc] * len(group)
            for (_, _, done), outcome in zip(group, outcomes, strict=True):
                if done.done():
                    continue
                if outcome is None:
                    done.set_result(None)
                else:
                    done.set_exception(outcome)

    async def probe(self, queue: str) -> None:
        """The file exists and opens (the local host creates it); reads nothing, writes nothing."""
        def open_read_only() -> None:
            sqlite3.connect(f"file:{self.path}?mode=ro", uri=True).close()

        try:
            await asyncio.to_thread(open_read_only)
        except sqlite3.Error as exc:
            raise TransientError(f"local queue {self.path} unavailable: {exc}") from exc

    async def stats(self, queues: Sequence[str]) -> list[QueueStats]:
        """Each queue's depth, read from the file without writing (the local host's counts, as Service Bus
        counts: ``active`` includes locked messages, ``scheduled`` those not yet due)."""
        def read() -> list[QueueStats]:
            now = time.time()
            db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
            try:
                rows = db.execute(_STATS, {"now": now}).fetchall()
            finally:
                db.close()
            found = {row[0]: row for row in rows}
            return [_queue_stats(queue, found.get(queue), now) for queue in queues]

        try:
            return await asyncio.to_thread(read)
        except sqlite3.Error as exc:
            raise TransientError(f"local queue {self.path} unavailable: {exc}") from exc

    async def close(self) -> None:
        if self._writer is not None and not self._writer.done():
            await self._writer
        if self._file is not None:
            self._file.close()
            self._file = None


_STATS = """
SELECT queue,
       COALESCE(SUM(dead = 0 AND enqueued_at <= :now), 0),
       COALESCE(SUM(dead = 1), 0),
       COALESCE(SUM(dead = 0 AND enqueued_at > :now), 0),
       MIN(CASE WHEN dead = 0 AND enqueued_at <= :now THEN enqueued_at END)
FROM messages GROUP BY queue
"""


def _queue_stats(queue: str, row: tuple[Any, ...] | None, now: float) -> QueueStats:
    if row is None:
        return QueueStats(queue, active=0, dead_lettered=0, scheduled=0)
    oldest = None if row[4] is None else round(max(now - float(row[4]), 0.0), 3)
    return QueueStats(queue, active=int(row[1]), dead_lettered=int(row[2]), scheduled=int(row[3]),
                      oldest_age_seconds=oldest)
