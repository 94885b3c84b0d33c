"""The local function host's queue store: the Service Bus semantics the connector relies on, over the SQLite
file that ``shared.adapters.local_queue.LocalQueuePublisher`` writes into.

There is no Service Bus emulator on these machines (it needs Docker), so local runs and tests use
this store. It keeps what matters for correctness: durable messages, per-session FIFO with one
message of a session in flight at a time, peek-lock with expiry, delivery counts, the
dead-letter queue with reasons, duplicate detection by message id, and scheduled enqueue (the last
two in ``QueueFile.enqueue``, which the publisher shares).

Several processes may open the same file (the app publishes, the local function host consumes),
so every write runs in a ``BEGIN IMMEDIATE`` transaction under WAL with a busy timeout.

Sending is no more lenient than Service Bus: a message or session id over 128 characters raises
``ValueError``, a message over 256 KB with its properties raises ``MessageSizeExceededError``
(azure-servicebus computes both, so the figures are the SDK's own), and an application property
value other than str, int (32-bit), float or bool raises ``TypeError``.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.adapters.local_queue import DUPLICATE_WINDOW_SECONDS, QueueFile
from shared.app.messaging import DeadLetter, OutboundMessage

__all__ = ["MAX_DELIVERY_COUNT_EXCEEDED", "LocalQueueStore", "LockLostError", "ReceivedMessage"]

MAX_DELIVERY_COUNT_EXCEEDED = "MaxDeliveryCountExceeded"

# A message is deliverable when it is live, due, unlocked, and (for a session) the oldest due message of a
# session that has nothing in flight: that is Service Bus's session FIFO. The receive walks the due messages in
# sequence order and stops at the first deliverable one, so its cost is the queue's head, not its length.
_DUE = ("SELECT seq, session_id, locked_until FROM messages"
        " WHERE queue = ? AND dead = 0 AND enqueued_at <= ? ORDER BY seq")
_SESSION_HEAD = ("SELECT seq, locked_until FROM messages"
                 " WHERE queue = ? AND dead = 0 AND session_id = ? AND enqueued_at <= ? ORDER BY seq LIMIT 1")
# Sessions with a message in flight (the partial index over locked messages keeps this to the few in flight).
_LOCKED_SESSIONS = ("SELECT DISTINCT session_id FROM messages"
                    " WHERE queue = ? AND locked_until > ? AND dead = 0 AND session_id IS NOT NULL")


class LockLostError(Exception):
    """The lock token is unknown or its lock expired (Service Bus's MessageLockLost)."""


@dataclass(frozen=True)
class ReceivedMessage:
    """A peek-locked message: settle it with its ``lock_token`` before ``locked_until``."""

    queue: str
    sequence_number: int
    message_id: str
    session_id: str | None
    body: bytes
    content_type: str | None
    application_properties: dict[str, Any]
    delivery_count: int
    enqueued_time: datetime
    lock_token: str
    locked_until: datetime = field(default_factory=lambda: datetime.now(UTC))


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _unlocked(locked_until: float | None, now: float) -> bool:
    return locked_until is None or locked_until <= now


def _deliverable(db: sqlite3.Connection, queue: str, now: float, exclude_sessions: Collection[str],
                 session_id: str | None) -> int | None:
    """The sequence number of the next deliverable message (of ``session_id`` only, when given), or None."""
    if session_id is not None:
        head = db.execute(_SESSION_HEAD, (queue, session_id, now)).fetchone()
        if head is None or not _unlocked(head[1], now):
            return None
        # A message scheduled earlier in the session than the one in flight can come due meanwhile.
        busy = {row[0] for row in db.execute(_LOCKED_SESSIONS, (queue, now))}
        return None if session_id in busy else int(head[0])
    busy = {row[0] for row in db.execute(_LOCKED_SESSIONS, (queue, now))}
    busy.update(exclude_sessions)
    seen: set[str] = set()
    for seq, session, locked_until in db.execute(_DUE, (queue, now)):
        if session is None:
            if _unlocked(locked_until, now):
                return int(seq)
        elif session not in seen:
            seen.add(session)  # the session's oldest due message: deliverable unless the session is busy
            if session not in busy:
                return int(seq)
    return None


class LocalQueueStore(QueueFile):
    """Durable queues in one SQLite file; safe across threads and processes."""

    def __init__(
        self,
        path: str | Path,
        *,
        max_delivery_count: int = 10,
        lock_seconds: float = 60,
        duplicate_window_seconds: float = DUPLICATE_WINDOW_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(path)
        self.max_delivery_count = max_delivery_count
        self.lock_seconds = lock_seconds
        self.duplicate_window_seconds = duplicate_window_seconds
        self._clock = clock

    def send(self, queue: str, messages: Sequence[OutboundMessage]) -> None:
        """Enqueue the batch atomically (``QueueFile.enqueue``) at the store's clock and duplicate window."""
        self.enqueue(queue, messages, now=self._clock(), duplicate_window_seconds=self.duplicate_window_seconds)

    # -- receiving and settling ----------------------------------------------------------------

    def receive(self, queue: str, *, exclude_sessions: Collection[str] = (),
                session_id: str | None = None) -> ReceivedMessage | None:
        """Peek-lock the next deliverable message (of ``session_id`` only, when given: a session receiver), or
        return None when there is none."""
        now = self._clock()
        with self._lock:
            # Idle polling is the common case: answer it with a read, without the write lock.
            if _deliverable(self._db, queue, now, exclude_sessions, session_id) is None:
                return None
        with self._write() as db:
            self._expire_poison_locks(db, queue, now)
            seq = _deliverable(db, queue, now, exclude_sessions, session_id)
            if seq is None:
                return None
            token = uuid.uuid4().hex
            locked_until = now + self.lock_seconds
            db.execute(
                "UPDATE messages SET lock_token = ?, locked_until = ?,"
                " delivery_count = delivery_count + 1 WHERE seq = ?",
                (token, locked_until, seq),
            )
            full = db.execute(
                "SELECT seq, message_id, session_id, body, content_type, properties,"
                " delivery_count, enqueued_at FROM messages WHERE seq = ?",
                (seq,),
            ).fetchone()
        return ReceivedMessage(
            queue=queue,
            sequence_number=full[0],
            message_id=full[1],
            session_id=full[2],
            body=bytes(full[3]),
            content_type=full[4],
            application_properties=json.loads(full[5]),
            delivery_count=full[6],
            enqueued_time=_utc(full[7]),
            lock_token=token,
            locked_until=_utc(locked_until),
        )

    def _expire_poison_locks(self, db: sqlite3.Connection, queue: str, now: float) -> None:
        # A message whose lock expired after its last allowed delivery is dead-lettered, as
        # Service Bus does; otherwise a message that crashes its consumer would loop forever.
        db.execute(
            "UPDATE messages SET dead = 1, dl_reason = ?, dl_description = ?, dl_at = ?,"
            " lock_token = NULL, locked_until = NULL WHERE queue = ? AND dead = 0"
            " AND locked_until <= ? AND delivery_count >= ?",
            (
                MAX_DELIVERY_COUNT_EXCEEDED,
                "The message lock expired after the maximum number of deliveries.",
                now,
                queue,
                now,
                self.max_delivery_count,
            ),
        )

    def _locked_seq(self, db: sqlite3.Connection, lock_token: str) -> tuple[int, int]:
        row = db.execute(
            "SELECT seq, delivery_count FROM messages WHERE lock_token = ? AND dead = 0 AND locked_until > ?",
            (lock_token, self._clock()),
        ).fetchone()
        if row is None:
            raise LockLostError("The lock on the message was lost or has expired.")
        return int(row[0]), int(row[1])

    def complete(self, lock_token: str) -> None:
        with self._write() as db:
            seq, _ = self._locked_seq(db, lock_token)
            db.execute("DELETE FROM messages WHERE seq = ?", (seq,))

    def complete_and_receive(self, lock_token: str, queue: str, session_id: str) -> ReceivedMessage | None:
        """Complete the message, then peek-lock the next of ``session_id`` if one is due: what a session receiver
        does next, in one trip to the file."""
        self.complete(lock_token)
        return self.receive(queue, session_id=session_id)

    def abandon(self, lock_token: str, description: str = "") -> None:
        """Release the lock; at the maximum delivery count the message is dead-lettered."""
        with self._write() as db:
            seq, count = self._locked_seq(db, lock_token)
            if count >= self.max_delivery_count:
                self._dead_letter(db, seq, MAX_DELIVERY_COUNT_EXCEEDED, description)
            else:
                db.execute(
                    "UPDATE messages SET lock_token = NULL, locked_until = NULL WHERE seq = ?",
                    (seq,),
                )

    def dead_letter(self, lock_token: str, reason: str, description: str) -> None:
        with self._write() as db:
            seq, _ = self._locked_seq(db, lock_token)
            self._dead_letter(db, seq, reason, description)

    def _dead_letter(self, db: sqlite3.Connection, seq: int, reason: str, description: str) -> None:
        db.execute(
            "UPDATE messages SET dead = 1, dl_reason = ?, dl_description = ?, dl_at = ?,"
            " lock_token = NULL, locked_until = NULL WHERE seq = ?",
            (reason, description, self._clock(), seq),
        )

    def renew_lock(self, lock_token: str) -> datetime:
        """Extend the lock by ``lock_seconds`` from now; returns the new expiry."""
        with self._write() as db:
            seq, _ = self._locked_seq(db, lock_token)
            until = self._clock() + self.lock_seconds
            db.execute("UPDATE messages SET locked_until = ? WHERE seq = ?", (until, seq))
        return _utc(until)

    # -- operating -----------------------------------------------------------------------------

    def dead_letters(self, queue: str) -> list[DeadLetter]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, message_id, session_id, body, dl_reason, dl_description, dl_at,"
                " delivery_count FROM messages WHERE queue = ? AND dead = 1 ORDER BY seq",
                (queue,),
            ).fetchall()
        return [
            DeadLetter(
                queue=queue,
                sequence_number=r[0],
                message_id=r[1],
                session_id=r[2],
                body=bytes(r[3]),
                reason=r[4] or "",
                description=r[5] or "",
                dead_lettered_at=_utc(r[6]),
                delivery_count=r[7],
            )
            for r in rows
        ]

    def replay_dead_letter(self, queue: str, sequence_number: int) -> bool:
        """Put a dead letter back on the active queue with a delivery count of 0.

        It keeps its sequence number, so within its session it comes before newer messages:
        the replay is about the same change the operator saw fail.
        """
        with self._write() as db:
            changed = db.execute(
                "UPDATE messages SET dead = 0, delivery_count = 0, dl_reason = NULL,"
                " dl_description = NULL, dl_at = NULL WHERE queue = ? AND seq = ? AND dead = 1",
                (queue, sequence_number),
            ).rowcount
        return changed == 1

    def counts(self, queue: str) -> dict[str, int]:
        now = self._clock()
        with self._lock:
            row = self._db.execute(
                "SELECT"
                " COALESCE(SUM(dead = 0 AND enqueued_at <= :now"
                "   AND (locked_until IS NULL OR locked_until <= :now)), 0),"
                " COALESCE(SUM(dead = 0 AND enqueued_at > :now), 0),"
                " COALESCE(SUM(dead = 0 AND locked_until > :now), 0),"
                " COALESCE(SUM(dead = 1), 0)"
                " FROM messages WHERE queue = :queue",
                {"queue": queue, "now": now},
            ).fetchone()
        return {"active": row[0], "scheduled": row[1], "locked": row[2], "dead_lettered": row[3]}
