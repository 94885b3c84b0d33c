"""Sync: one queued planning event → the planner → Graph writes → the mapping row.

Every step is safe to repeat (at-least-once delivery). Settlement policy:
transient errors are raised so the message is redelivered; without a working credential a message is
deferred (re-enqueued for later, no delivery spent, never dead-lettered); a throttled message is put back on the
queue with a scheduled time as long as Retry-After asks (the queue waits, not the function; being throttled is
not failing, so it never leads to the dead-letter list); permanent errors, and transient ones that outlast the
delivery budget, are dead-lettered with a readable reason.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import Mapping as MappingType
from dataclasses import dataclass, field, replace
from datetime import timedelta

from shared.app.credentials.health import defer_seconds, note_deferred, note_resumed
from shared.app.messaging import ORIGIN_PROPERTY, PLANNING_QUEUE, OutboundMessage, queue_id
from shared.app.ports.planning import DeadLetterRecord
from shared.bootstrap import Services
from shared.domain.planning.contract import check_event
from shared.domain.planning.model import EntityKey, Mapping
from shared.domain.planning.plan import CreateEvent, DeleteEvent, Plan, UpdateEvent, decide, transaction_id
from shared.domain.planning.render import desired_state
from shared.errors import CredentialUnavailable, InvalidMessage, NotFound, PermanentError, Throttled

__all__ = ["Delivery", "MAX_DELIVERIES", "dead_letter", "defer_without_credential", "reschedule_throttled",
           "sync_planning_message"]

logger = logging.getLogger(__name__)

MAX_DELIVERIES = 10
ATTEMPT_PROPERTY = "connector-attempt"
DEFERRAL_PROPERTY = "connector-deferrals"  # how often the message waited for a working credential


@dataclass(frozen=True)
class Delivery:
    """What the trigger knows about the message besides its body."""

    message_id: str
    delivery_count: int = 1
    session_id: str | None = None
    application_properties: MappingType[str, object] = field(default_factory=dict)

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
    def origin(self) -> str:
        """The id of the first message of this chain of copies (rescheduled or deferred ones carry it)."""
        return str(self.application_properties.get(ORIGIN_PROPERTY) or self.message_id)

    def copy_properties(self, **updates: str | int) -> dict[str, str | int]:
        """Application properties for a re-enqueued copy: carried over, with the origin and ``updates``."""
        return {**_carried(self.application_properties), ORIGIN_PROPERTY: self.origin, **updates}


async def sync_planning_message(body: bytes, delivery: Delivery, services: Services) -> str:
    """Apply one planning event; return the outcome for the log. Raises only to ask for redelivery."""
    try:
        outcome = await _sync(body, delivery, services)
        if delivery.deferrals:
            await note_resumed(services.credentials(), services.clock())
        return outcome
    except CredentialUnavailable as exc:
        return await defer_without_credential(body, delivery, services, exc, PLANNING_QUEUE)
    except PermanentError as exc:
        await dead_letter(body, delivery, services, str(exc))
        return "dead-lettered"
    except Throttled as exc:
        return await reschedule_throttled(body, delivery, services, exc, PLANNING_QUEUE)
    except Exception as exc:
        if delivery.delivery_count >= MAX_DELIVERIES:
            await dead_letter(body, delivery, services,
                               f"gave up after {delivery.delivery_count} deliveries: {_describe(exc)}")
            return "dead-lettered"
        logger.warning("message %s delivery %d failed, will be retried: %s",
                       delivery.message_id, delivery.delivery_count, _describe(exc))
        raise


async def _sync(body: bytes, delivery: Delivery, services: Services) -> str:
    settings = services.settings
    try:
        raw = json.loads(body)
    except ValueError as exc:
        raise _invalid(f"the message body is not JSON: {exc}") from None
    checked = check_event(raw, 0, settings.time_zone)
    if isinstance(checked, list):
        raise _invalid("; ".join(f"{v.path}: {v.message}" for v in checked))
    event = checked
    if not settings.synchronize:
        logger.info("message %s acknowledged without writing: CALENDAR_MSGRAPH_SYNCHRONIZE is false",
                    delivery.message_id)
        return "not synchronized"
    desired = desired_state(event, settings.time_zone, room_mode=settings.rooms.booking_mode)
    if desired is not None and not await services.resources.is_active(desired.mailbox):
        # The resource opted out: its calendar is no longer ours to fill.
        desired = None
    mapping = await services.mappings.get(event.key)
    plan = decide(event.key, desired, event.version, mapping)
    if plan.mapping is None:
        logger.info("message %s for %s is %s; nothing written", delivery.message_id, event.subject, plan.reason)
        return plan.reason
    stored = await _execute(event.key, plan, delivery, services)
    await services.mappings.save(stored)
    logger.info("message %s delivery %d for %s: %s (%d Graph operation(s))",
                delivery.message_id, delivery.delivery_count, event.subject, plan.reason, len(plan.operations))
    return plan.reason


async def _execute(key: EntityKey, plan: Plan, delivery: Delivery, services: Services) -> Mapping:
    assert plan.mapping is not None
    stored = plan.mapping
    if not plan.operations:
        return stored
    calendar = services.calendar()
    for op in plan.operations:
        if isinstance(op, CreateEvent):
            event_id = None
            if delivery.is_retry:
                # Only a retry can meet an event of ours that the mapping does not know yet.
                not_before = services.clock() - timedelta(days=services.settings.days_back)
                event_id = await calendar.find(op.mailbox, key.value, not_before=not_before)
                if event_id is not None:
                    await calendar.update(op.mailbox, event_id, op.content, source_key=key.value)
            ical_uid = None
            if event_id is None:
                if key.subject.startswith("reservation/"):
                    await _record_own_slot(key, op.mailbox, op.content, services)
                created = await calendar.create(op.mailbox, op.content, transaction_id=op.transaction_id,
                                                source_key=key.value)
                event_id, ical_uid = created.id, created.ical_uid
            if key.subject.startswith("reservation/"):
                await _record_own_booking(key, op.mailbox, event_id, ical_uid, services)
            stored = replace(stored, event_id=event_id)
        elif isinstance(op, UpdateEvent):
            try:
                await calendar.update(op.mailbox, op.event_id, op.content, source_key=key.value)
            except NotFound:
                # Deleted in Outlook: the planning system owns the task, so it comes back.
                txn = transaction_id(key, op.mailbox, stored.generation)
                created = await calendar.create(op.mailbox, op.content, transaction_id=txn, source_key=key.value)
                stored = replace(stored, event_id=created.id, generation=stored.generation + 1)
        elif isinstance(op, DeleteEvent):
            with contextlib.suppress(NotFound):  # already gone: the goal is reached
                await calendar.delete(op.mailbox, op.event_id)
    return stored


async def _record_own_slot(key: EntityKey, mailbox: str, content: dict[str, object], services: Services) -> None:
    """Before the create: the room's copy may be notified before the create's answer is in."""
    from shared.domain.rooms.echo import slot_of_content

    slot = slot_of_content(mailbox, content)
    if slot:
        await services.rooms().own_writes.record(slot, key.value)


async def _record_own_booking(key: EntityKey, mailbox: str, event_id: str, ical_uid: str | None,
                              services: Services) -> None:
    """Remember the meeting's iCalUId, so the room's auto-accepted copy (which lacks our extended
    property) is known as the connector's own booking and not published back: no echo loop. Known from
    the create's answer; an adopted event costs one read."""
    ical_uid = ical_uid or await services.calendar().ical_uid(mailbox, event_id)
    if ical_uid:
        await services.rooms().own_writes.record(ical_uid, key.value)


async def reschedule_throttled(body: bytes, delivery: Delivery, services: Services, exc: Throttled,
                               queue: str) -> str:
    """Put a throttled message back on ``queue`` for when Graph allows it again.

    Graph may throttle a mailbox for minutes or hours; the copy waits as long as Retry-After says and
    its delivery count starts afresh, so being throttled never leads to the dead-letter list.
    """
    attempt = delivery.attempt
    # Honour Retry-After; without one, back off exponentially (1 s, 2 s, ... capped at 5 min).
    wait = exc.retry_after if exc.retry_after is not None else min(2 ** min(attempt - 1, 9), 300)
    message = OutboundMessage(
        body=body,
        message_id=queue_id(delivery.origin, str(attempt)),
        session_id=delivery.session_id,
        application_properties=delivery.copy_properties(**{ATTEMPT_PROPERTY: attempt}),
        scheduled_enqueue_time=services.clock() + timedelta(seconds=max(wait, 0.5)),
    )
    await services.queue.send(queue, [message])
    logger.info("message %s throttled by Graph; rescheduled in %.1f s (attempt %d)", delivery.message_id, wait, attempt)
    return "rescheduled"


async def defer_without_credential(body: bytes, delivery: Delivery, services: Services,
                                   exc: CredentialUnavailable, queue: str) -> str:
    """No working credential: put the message back on ``queue`` for later instead of spending its deliveries."""
    deferrals = delivery.deferrals + 1
    wait = defer_seconds(delivery.deferrals)
    message = OutboundMessage(
        body=body,
        message_id=queue_id(delivery.origin, f"{delivery.attempt}d{deferrals}"),
        session_id=delivery.session_id,
        # Counted as an attempt (a retry looks for an event of ours first), not as a reschedule.
        application_properties=delivery.copy_properties(**{ATTEMPT_PROPERTY: delivery.attempt,
                                                           DEFERRAL_PROPERTY: deferrals}),
        scheduled_enqueue_time=services.clock() + timedelta(seconds=wait),
    )
    await services.queue.send(queue, [message])
    await note_deferred(services.credentials(), str(exc), services.clock())
    return "deferred"


async def dead_letter(body: bytes, delivery: Delivery, services: Services, reason: str,
                      queue: str = PLANNING_QUEUE) -> None:
    """Record a message the connector gives up on, with the reason an operator reads and what a replay needs."""
    record = DeadLetterRecord(
        id=uuid.uuid4().hex,
        queue=queue,
        message_id=delivery.message_id,
        session_id=delivery.session_id,
        body=body.decode("utf-8", errors="replace"),
        reason=reason,
        delivery_count=delivery.delivery_count,
        dead_lettered_at=services.clock(),
    )
    await services.deadletters.add(record)
    logger.error("%s message %s dead-lettered as %s: %s", queue, delivery.message_id, record.id, reason)


def _carried(properties: MappingType[str, object]) -> dict[str, str | int]:
    """Application properties to carry onto a rescheduled copy (queues take strings and numbers)."""
    return {key: value if isinstance(value, str | int) else str(value) for key, value in properties.items()}


def _invalid(reason: str) -> PermanentError:
    return InvalidMessage(f"invalid planning event: {reason}")


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
