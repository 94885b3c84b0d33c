"""Queue messages and how the connector settles them, one policy for every queue it consumes.

What is here: the queue names and the delivery budget (both cross-checked against
``infra/modules/servicebus.bicep`` by ``tests/infra/test_messaging_crosscheck.py``); ``OutboundMessage`` and
the ``MessageQueue`` port; ``Delivery``, what a trigger knows of a message besides its body; the backoff
schedules; and ``Settlement``, the one settle policy:

* complete: the handler returned (its outcome is logged);
* defer: no working Graph credential, so the message is put back for later, spending no delivery and never
  dead-lettered (``credential_wait``);
* wait: the person whose delegated connection the message needs must reconnect first; the message is kept
  in ``WaitingWork`` under that person and sent again when they have (``NeedsReconnect``);
* reschedule: throttled, so a copy waits on the queue as long as Retry-After asks, and its delivery count
  starts afresh (``throttle_wait``); the webhook publisher reschedules its failed attempts the same way
  (``webhook_backoff``);
* debounce: a live event's first arrival is put off by the coalescing window as a marked copy
  (``COALESCE_PROPERTY``) on the same session, so a burst for one entity costs one Graph write; a copy that a
  newer event superseded is completed as ``coalesced`` (``shared.app.planning.sync``);
* dead-letter with the reason an operator reads: a permanent error, or a transient one that outlasted
  ``MAX_DELIVERIES`` (before that it is raised, and the queue redelivers).

Traces cross the queues: ``TracedQueue`` puts the current W3C trace context into each message's application
properties (copies carry their original's on), and ``Settlement.consuming`` continues it in the span that
processes the message.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from shared.app.ports.clock import Clock
from shared.app.ports.planning import DeadLetterRecord, DeadLetterStore
from shared.app.ports.telemetry import NO_TELEMETRY, Telemetry, TelemetrySpan
from shared.domain.queue_ids import MAX_ID_CHARS, queue_id, source_tag
from shared.errors import CredentialUnavailable, NeedsReconnect, PermanentError, Throttled

__all__ = ["ATTEMPT_PROPERTY", "COALESCE_PROPERTY", "DEFERRAL_PROPERTY", "DeadLetter", "Delivery", "GRAPH_QUEUE",
           "MAX_DELIVERIES", "MAX_ID_CHARS", "MessageQueue",
           "NOTHING_CREATED_PROPERTY", "ORIGIN_PROPERTY", "OUTBOUND_QUEUE", "OutboundMessage", "PLANNING_QUEUE",
           "PauseRecorder", "QUEUES", "REPLAY_PROPERTY", "Settlement", "TENANT_PROPERTY", "TracedQueue",
           "WEBHOOK_MAX_ATTEMPTS", "WaitingWork", "credential_wait", "queue_id", "source_tag", "tenant_of",
           "throttle_wait", "webhook_backoff"]

logger = logging.getLogger(__name__)

# -- queues (infra/modules/servicebus.bicep declares the same names and maxDeliveryCount)

PLANNING_QUEUE = "planning-events"
GRAPH_QUEUE = "graph-notifications"
OUTBOUND_QUEUE = "outbound-events"
QUEUES = (PLANNING_QUEUE, GRAPH_QUEUE, OUTBOUND_QUEUE)
# Deliveries before the connector dead-letters a message itself, with the reason (the queue's own
# maxDeliveryCount, the same number, is the backstop that moves it to Service Bus's dead-letter queue).
MAX_DELIVERIES = 10

# Application properties of re-enqueued copies.
ORIGIN_PROPERTY = "connector-origin"  # the id of the first message of a chain of copies
ATTEMPT_PROPERTY = "connector-attempt"  # attempts before this copy (redeliveries and reschedules)
DEFERRAL_PROPERTY = "connector-deferrals"  # how often the message waited for a working credential
# On a rescheduled copy: every attempt before it ended with an answer proving it created no calendar event (a 429
# refuses a request before acting on it), so the copy need not look for an event of ours before it creates one.
NOTHING_CREATED_PROPERTY = "connector-nothing-created"
# On a debounced copy: how many times this event has been put off (1 for the first copy).
COALESCE_PROPERTY = "connector-coalesce"
# On a dead letter an operator replayed: it goes straight through, never put off.
REPLAY_PROPERTY = "connector-replay"
_OWN_PREFIX = "connector-"  # every property the connector puts on a message it sends again starts so

# -- backoff schedules

_CREDENTIAL_WAITS = (5, 10, 20, 40, 60)  # modest, so a new credential is picked up within a minute
WEBHOOK_MAX_ATTEMPTS = 16  # with ``webhook_backoff``, about 5 hours before the dead-letter list


def throttle_wait(retry_after: float | None, attempt: int, spread: float = 0.0) -> timedelta:
    """At least Graph's Retry-After. A message throttled again and again backs off further (1 s, 2 s, ... capped
    at 5 min; a longer Retry-After wins as it is) and, from its second attempt on, by up to half again
    (``spread`` in [0, 1), fixed per message): a herd of messages for one mailbox otherwise comes back together
    each second and spends the mailbox's whole budget on refused requests. Never less than half a second."""
    backoff = float(min(2 ** min(attempt - 1, 9), 300))
    if attempt > 1:
        backoff *= 1 + min(max(spread, 0.0), 1.0) / 2
    return timedelta(seconds=max(retry_after or 0.0, backoff, 0.5))


def credential_wait(deferrals: int) -> timedelta:
    """How long a message waits for a working credential, by how often it has waited before."""
    return timedelta(seconds=_CREDENTIAL_WAITS[min(max(deferrals, 0), len(_CREDENTIAL_WAITS) - 1)])


def webhook_backoff(attempt: int) -> timedelta:
    """2 s, 4 s, 8 s ... capped at one hour, between attempts to post to the booking system's webhook."""
    return timedelta(seconds=min(2 ** attempt, 3600))


# -- messages


@dataclass(frozen=True)
class OutboundMessage:
    """One message to enqueue.

    ``session_id`` keeps per-entity order; ``message_id`` lets the transport drop duplicates;
    ``scheduled_enqueue_time`` (UTC, aware) defers delivery, which is how long waits
    (throttling) are left to the queue instead of a sleeping function.
    """

    body: bytes
    message_id: str
    session_id: str | None = None
    content_type: str = "application/cloudevents+json"
    application_properties: Mapping[str, str | int] = field(default_factory=dict)
    scheduled_enqueue_time: datetime | None = None


@dataclass(frozen=True)
class DeadLetter:
    """A message that could not be processed, with the reason an operator reads."""

    queue: str
    sequence_number: int
    message_id: str
    session_id: str | None
    body: bytes
    reason: str
    description: str
    dead_lettered_at: datetime
    delivery_count: int


class MessageQueue(Protocol):
    """Where accepted messages go; implemented over Service Bus and over the local transport."""

    async def send(self, queue: str, messages: Sequence[OutboundMessage]) -> None:
        """Enqueue all messages or none (raises ``TransientError`` when the transport fails)."""
        ...

    async def close(self) -> None: ...


class TracedQueue:
    """A ``MessageQueue`` that puts the current trace context into each message it sends, unless the message
    carries one already (a rescheduled or deferred copy keeps its original's)."""

    def __init__(self, queue: MessageQueue, telemetry: Telemetry) -> None:
        self.inner = queue
        self._telemetry = telemetry

    async def send(self, queue: str, messages: Sequence[OutboundMessage]) -> None:
        context = self._telemetry.trace_context()
        if context:
            messages = [m if "traceparent" in m.application_properties
                        else replace(m, application_properties={**m.application_properties, **context})
                        for m in messages]
        await self.inner.send(queue, messages)

    async def close(self) -> None:
        await self.inner.close()


@dataclass(frozen=True)
class Delivery:
    """What the trigger knows about the message besides its body."""

    message_id: str
    delivery_count: int = 1
    session_id: str | None = None
    application_properties: Mapping[str, object] = field(default_factory=dict)
    enqueued_at: datetime | None = None  # when the queue took it (a scheduled message: when it became due)

    @property
    def attempt(self) -> int:
        """1 on first arrival; counts redeliveries and reschedules alike."""
        rescheduled = int(str(self.application_properties.get(ATTEMPT_PROPERTY, 0)) or 0)
        return rescheduled + self.delivery_count

    @property
    def deferrals(self) -> int:
        return int(str(self.application_properties.get(DEFERRAL_PROPERTY, 0)) or 0)

    @property
    def is_retry(self) -> bool:
        return self.attempt > 1

    @property
    def may_have_created(self) -> bool:
        """Whether an earlier attempt may have created a calendar event the mapping does not know: a redelivery
        (the last delivery ended without an answer the connector saw) or a copy whose earlier attempts did not
        all end refused."""
        if self.delivery_count > 1:
            return True
        return self.attempt > 1 and not self.application_properties.get(NOTHING_CREATED_PROPERTY)

    @property
    def is_first_arrival(self) -> bool:
        """A message as ingest sent it (possibly redelivered): no copy, repair, replay or release, whose handling
        the connector put off or must not put off, carries none of the connector's own properties."""
        return not any(key.startswith(_OWN_PREFIX) for key in self.application_properties)

    @property
    def coalesce_round(self) -> int:
        """0 for a message that is no debounced copy; else how often the event has been put off."""
        return int(str(self.application_properties.get(COALESCE_PROPERTY, 0)) or 0)

    @property
    def put_off_at_ingest(self) -> bool:
        """A message as ingest queued it with coalescing on (perhaps redelivered): first round, and no copy of the
        connector's (every copy carries its origin)."""
        return self.coalesce_round == 1 and ORIGIN_PROPERTY not in self.application_properties

    @property
    def origin(self) -> str:
        """The id of the first message of this chain of copies (rescheduled or deferred ones carry it)."""
        return str(self.application_properties.get(ORIGIN_PROPERTY) or self.message_id)

    def copy_properties(self, **updates: str | int) -> dict[str, str | int]:
        """Application properties for a re-enqueued copy: carried over, with the origin and ``updates``."""
        carried = {key: value if isinstance(value, str | int) else str(value)  # queues take strings and numbers
                   for key, value in self.application_properties.items()
                   if key != NOTHING_CREATED_PROPERTY}  # only ``Settlement.reschedule`` vouches for that
        return {**carried, ORIGIN_PROPERTY: self.origin, **updates}


TENANT_PROPERTY = "tenant"  # the tenant of the message (its directory id), set at ingest


def tenant_of(delivery: Delivery) -> str | None:
    """The tenant a message belongs to; None: a message from before there were tenants (the default tenant)."""
    value = delivery.application_properties.get(TENANT_PROPERTY)
    return str(value).lower() if value else None


# -- the settle policy


class PauseRecorder(Protocol):
    """Where the worker's wait for a working credential is told (``shared.app.credentials.health``)."""

    async def deferred(self, reason: str, now: datetime, tenant: str | None = None) -> None:
        """A message of ``tenant`` (None: the default) waits for a working credential: only that tenant pauses."""
        ...

    async def resumed(self, now: datetime, tenant: str | None = None) -> None: ...


class WaitingWork(Protocol):
    """Messages kept for a person until their delegated connection works again (the people capability keeps
    them, and ``release``s them when the person reconnects). Parking the same message twice keeps one copy."""

    async def park(self, user: str, queue: str, message: OutboundMessage) -> None: ...

    async def release(self, user: str) -> int: ...


@dataclass(frozen=True)
class Settlement:
    """The one way the connector settles a message it consumed (see the module docstring)."""

    queue: MessageQueue
    deadletters: DeadLetterStore
    clock: Clock
    pause: PauseRecorder
    telemetry: Telemetry = NO_TELEMETRY
    waiting: WaitingWork | None = None

    @contextmanager
    def consuming(self, queue: str, delivery: Delivery) -> Iterator[TelemetrySpan]:
        """The span of processing one message, in the trace its sender started; records the queue lag."""
        if delivery.enqueued_at is not None:
            self.telemetry.queue_lag(queue, (self.clock() - delivery.enqueued_at).total_seconds())
        with self.telemetry.for_tenant(tenant_of(delivery)), self.telemetry.span(f"process {queue}", {
            "messaging.destination.name": queue, "messaging.message.id": delivery.message_id,
            "messaging.delivery_count": delivery.delivery_count, "connector.attempt": delivery.attempt,
        }, carrier=delivery.application_properties) as span:
            yield span

    async def settle(self, queue: str, body: bytes, delivery: Delivery, handle: Callable[[], Awaitable[str]]) -> str:
        """Run ``handle`` in the message's span and settle the message by what it raised; return the outcome
        for the log. Raises only to ask for redelivery."""
        with self.consuming(queue, delivery) as span:
            outcome = await self._settle(queue, body, delivery, handle)
            span.set("connector.outcome", outcome)
            return outcome

    async def _settle(self, queue: str, body: bytes, delivery: Delivery, handle: Callable[[], Awaitable[str]]) -> str:
        try:
            outcome = await handle()
            if delivery.deferrals:
                await self.pause.resumed(self.clock(), tenant_of(delivery))
            return outcome
        except CredentialUnavailable as exc:
            return await self.defer(queue, body, delivery, str(exc))
        except NeedsReconnect as exc:
            return await self.wait_for(exc.user, queue, body, delivery, exc.reason)
        except PermanentError as exc:
            await self.dead_letter(queue, body, delivery, str(exc))
            return "dead-lettered"
        except Throttled as exc:  # throttling is not failure: wait as Graph asks, spend no delivery
            spread = int(hashlib.sha256(delivery.origin.encode()).hexdigest()[:8], 16) / 2 ** 32
            wait = throttle_wait(exc.retry_after, delivery.attempt, spread)
            await self.reschedule(queue, body, delivery, wait,
                                  nothing_created=exc.refused and not delivery.may_have_created)
            logger.info("%s message %s throttled by Graph; rescheduled in %.1f s (attempt %d)", queue,
                        delivery.message_id, wait.total_seconds(), delivery.attempt)
            return "rescheduled"
        except Exception as exc:
            if delivery.delivery_count >= MAX_DELIVERIES:
                await self.dead_letter(queue, body, delivery,
                                       f"gave up after {delivery.delivery_count} deliveries: {_describe(exc)}")
                return "dead-lettered"
            logger.warning("%s message %s delivery %d failed, will be retried: %s", queue, delivery.message_id,
                           delivery.delivery_count, _describe(exc))
            raise

    async def reschedule(self, queue: str, body: bytes, delivery: Delivery, wait: timedelta, *,
                         nothing_created: bool = False) -> None:
        """Put a copy back on ``queue`` for ``wait`` from now, counted as the next attempt; its delivery
        count starts afresh, so waiting (Graph may throttle a mailbox for hours) never dead-letters it.
        ``nothing_created``: no attempt so far can have created a calendar event (see ``NOTHING_CREATED_PROPERTY``)."""
        attempt = delivery.attempt
        properties = delivery.copy_properties(**{ATTEMPT_PROPERTY: attempt})
        if nothing_created:
            properties[NOTHING_CREATED_PROPERTY] = 1
        await self.queue.send(queue, [OutboundMessage(
            body=body,
            message_id=queue_id(delivery.origin, str(attempt)),
            session_id=delivery.session_id,
            application_properties=properties,
            scheduled_enqueue_time=self.clock() + wait,
        )])

    async def debounce(self, queue: str, body: bytes, delivery: Delivery, due: datetime) -> str:
        """Put the message off until ``due`` as a marked copy on its session, and complete it. The copy's id
        follows from the message and its round, so a redelivered message schedules the same copy again (duplicate
        detection drops the second). The copy counts as the same attempt: debouncing touched no calendar."""
        coalesce_round = delivery.coalesce_round + 1
        await self.queue.send(queue, [OutboundMessage(
            body=body,
            message_id=queue_id(delivery.origin, f"c{coalesce_round}"),
            session_id=delivery.session_id,
            application_properties=delivery.copy_properties(**{ATTEMPT_PROPERTY: delivery.attempt - 1,
                                                               COALESCE_PROPERTY: coalesce_round}),
            scheduled_enqueue_time=due,
        )])
        return "debounced"

    async def defer(self, queue: str, body: bytes, delivery: Delivery, reason: str) -> str:
        """No working credential: put the message back on ``queue`` for later instead of spending its deliveries."""
        await self._look_again_later(queue, body, delivery, "d")
        await self.pause.deferred(reason, self.clock(), tenant_of(delivery))
        return "deferred"

    async def _look_again_later(self, queue: str, body: bytes, delivery: Delivery, kind: str) -> None:
        """A copy of the message, due after ``credential_wait``: counted as an attempt (a retry looks for an event
        of ours first) and as one more deferral, not as a reschedule. ``kind`` keeps the copies' ids apart."""
        deferrals = delivery.deferrals + 1
        await self.queue.send(queue, [OutboundMessage(
            body=body,
            message_id=queue_id(delivery.origin, f"{delivery.attempt}{kind}{deferrals}"),
            session_id=delivery.session_id,
            application_properties=delivery.copy_properties(**{ATTEMPT_PROPERTY: delivery.attempt,
                                                               DEFERRAL_PROPERTY: deferrals}),
            scheduled_enqueue_time=self.clock() + credential_wait(delivery.deferrals),
        )])

    async def wait_for(self, user: str, queue: str, body: bytes, delivery: Delivery, reason: str) -> str:
        """Keep the message until ``user`` reconnects; without a place to keep it, look again later as a
        deferred message does (but without pausing the whole connector: only this person's work waits)."""
        if self.waiting is not None:
            await self.waiting.park(user, queue, OutboundMessage(
                body=body,
                message_id=queue_id(delivery.origin, f"{delivery.attempt}w"),
                session_id=delivery.session_id,
                application_properties=delivery.copy_properties(**{ATTEMPT_PROPERTY: delivery.attempt}),
            ))
        else:
            await self._look_again_later(queue, body, delivery, "w")
        logger.info("%s message %s waits for %s to reconnect: %s", queue, delivery.message_id, user, reason)
        return "waiting"

    async def dead_letter(self, queue: str, body: bytes, delivery: Delivery, reason: str) -> None:
        """Record a message the connector gives up on, with the reason an operator reads and what a replay needs."""
        record = DeadLetterRecord(
            id=uuid.uuid4().hex,
            queue=queue,
            message_id=delivery.message_id,
            session_id=delivery.session_id,
            body=body.decode("utf-8", errors="replace"),
            reason=reason,
            delivery_count=delivery.delivery_count,
            dead_lettered_at=self.clock(),
            tenant=tenant_of(delivery),
        )
        await self.deadletters.add(record)
        self.telemetry.dead_letter_recorded(queue)
        logger.error("%s message %s dead-lettered as %s: %s", queue, delivery.message_id, record.id, reason,
                     extra={"queue": queue, "message_id": delivery.message_id, "dead_letter_id": record.id,
                            "delivery_count": delivery.delivery_count})


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
