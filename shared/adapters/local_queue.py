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
CREATE TABLE IF NOT EXISTS seen_ids (
    queue TEXT NOT NULL,
    message_id TEXT NOT NULL,
    seen_at REAL NOT NULL,
    PRIMARY KEY (queue, message_id)
);
"""


class QueueFile:
    """One connection to the queue file, created with its schema if need be; safe across threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One connection guarded by a lock: statements are short, and sqlite3 connections must
        # not be used by two threads at once. isolation_level=None: we issue BEGIN ourselves.
        self._db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.execute("PRAGMA synchronous=NORMAL")
        with self._write():
            # executescript would COMMIT our transaction, hence one statement at a time.
            for statement in filter(str.strip, _SCHEMA.split(";")):
                self._db.execute(statement)

    def close(self) -> None:
        with self._lock:
            self._db.close()

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
            db.execute("DELETE FROM seen_ids WHERE queue = ? AND seen_at < ?", (queue, now - duplicate_window_seconds))
            for message in messages:
                seen = db.execute("SELECT 1 FROM seen_ids WHERE queue = ? AND message_id = ?",
                                  (queue, message.message_id)).fetchone()
                if seen:
                    continue
                db.execute("INSERT INTO seen_ids (queue, message_id, seen_at) VALUES (?, ?, ?)",
                           (queue, message.message_id, now))
                due = now
                if message.scheduled_enqueue_time is not None:
                    due = max(now, message.scheduled_enqueue_time.timestamp())
                db.execute(
                    "INSERT INTO messages (queue, message_id, session_id, body, content_type,"
                    " properties, enqueued_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (queue, message.message_id, message.session_id, bytes(message.body), message.content_type,
                     json.dumps(dict(message.application_properties)), due),
                )


def check_sendable(message: OutboundMessage) -> None:
    """Raise ``ValueError``, ``TypeError`` or ``MessageSizeExceededError`` as azure-servicebus does when
    ``message`` would not reach a Service Bus Standard queue."""
    from azure.servicebus import ServiceBusMessage, ServiceBusMessageBatch

    for key, value in message.application_properties.items():
        if not isinstance(key, str) or not isinstance(value, _PROPERTY_TYPES):
            raise TypeError(f"application property {key!r}: a {type(value).__name__} value is not taken by "
                            "Service Bus (use str, int, float or bool)")
    properties: dict[str | bytes, Any] = {key: value for key, value in message.application_properties.items()}
    sb_message = ServiceBusMessage(  # raises ValueError for ids over 128 characters
        bytes(message.body), message_id=message.message_id, session_id=message.session_id,
        content_type=message.content_type, application_properties=properties,
        scheduled_enqueue_time_utc=message.scheduled_enqueue_time)
    # Encodes the message as the sender does (ValueError for an int beyond 32 bits) and measures it.
    ServiceBusMessageBatch(max_size_in_bytes=MAX_MESSAGE_BYTES).add_message(sb_message)


class LocalQueuePublisher:
    """``shared.app.messaging.MessageQueue`` over the local queue file (selected by the composition root).

    Errors as ``ServiceBusQueue`` has them: a message Service Bus would refuse is ``RejectedByQueue``
    naming the limit, a busy or unavailable file is a ``TransientError``. The file is opened on first use.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file: QueueFile | None = None
        self._opening = threading.Lock()

    def _queue_file(self) -> QueueFile:
        with self._opening:
            if self._file is None:
                self._file = QueueFile(self.path)
            return self._file

    def _enqueue(self, queue: str, messages: Sequence[OutboundMessage]) -> None:
        self._queue_file().enqueue(queue, messages, now=time.time())

    async def send(self, queue: str, messages: Sequence[OutboundMessage]) -> None:
        from azure.servicebus.exceptions import MessageSizeExceededError

        try:
            await asyncio.to_thread(self._enqueue, queue, messages)
        except sqlite3.Error as exc:
            # Busy or unavailable file: the caller may retry, as with a Service Bus outage.
            raise TransientError(f"local queue {self.path} unavailable: {exc}") from exc
        except MessageSizeExceededError as exc:
            raise RejectedByQueue(f"the local queue refused a message for {queue} as too large: {exc}",
                                  limit=f"message size at most {MAX_MESSAGE_BYTES} bytes") from exc
        except (ValueError, TypeError) as exc:
            raise RejectedByQueue(f"the local queue refuses a message for {queue}: {exc}", limit=str(exc)) from exc

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
