"""Sync: queued planning events → the planner → Graph writes → the mapping row.

A batch from the entity's session is coalesced (``shared.domain.planning.coalesce``): per entity only the newest
message is applied, and the messages it supersedes complete with the batch, counted as ``coalesced``. The host
settles a batch as a whole (autoCompleteMessages: the function returning completes every message, raising abandons
every one), so a superseded message is complete only once its newest is settled: written, or rescheduled, deferred,
parked or dead-lettered as a copy that carries the newest state. When a newest message asks for redelivery, the
other steps still run and then the batch raises: every message of it comes back, and nothing is lost.

How the host delivers batches (Service Bus extension 5.x, ``ServiceBusListener.RunBatchReceiveLoopAsync`` in
Azure/azure-sdk-for-net sdk/servicebus/Microsoft.Azure.WebJobs.Extensions.ServiceBus): with ``cardinality="many"``
and sessions it accepts one session, receives up to ``maxMessageBatchSize`` messages of it (so a batch is always from
one session), waits up to ``sessionIdleTimeout`` for more, then closes the session; with autoCompleteMessages it
completes every message of a batch whose function returned and abandons every one when it raised. That loop runs
at a concurrency of one per function and instance: ``maxConcurrentSessions`` applies to single dispatch only
(Azure/azure-functions-dotnet-worker#3087, Azure/azure-sdk-for-net#47981 and #53184). The Python worker settles
nothing itself unless bound through azurefunctions-extensions-bindings-servicebus with autocomplete off.

Every step is safe to repeat (at-least-once delivery). The message is settled by the one settle policy
(``shared.app.messaging.Settlement``): transient errors are raised so the message is redelivered; without a
working credential it is deferred; a throttled one waits on the queue as long as Retry-After asks; permanent
errors, and transient ones that outlast the delivery budget, are dead-lettered with a readable reason.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from shared.app.messaging import PLANNING_QUEUE, Delivery, Settlement
from shared.app.planning.breaker import BreakerDeps, admit_delete
from shared.app.planning.drift import DRIFT_PROPERTY
from shared.app.ports.clock import Clock
from shared.app.ports.planning import CalendarGateway, CreatedEvent, MappingStore, ResourceStore
from shared.app.ports.rooms import OwnWrites
from shared.app.ports.telemetry import NO_TELEMETRY, Outcome, Telemetry
from shared.config import Settings
from shared.domain.planning.coalesce import coalesce
from shared.domain.planning.contract import check_event
from shared.domain.planning.drift import parse_source_key
from shared.domain.planning.model import EntityKey, Mapping, Version
from shared.domain.planning.plan import CreateEvent, DeleteEvent, Plan, UpdateEvent, decide, transaction_id
from shared.domain.planning.render import desired_state
from shared.domain.rooms.echo import slot_of_content
from shared.errors import InvalidMessage, NotFound, PermanentError, Throttled

__all__ = ["SyncDeps", "sync_planning_batch", "sync_planning_message"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyncDeps:
    settings: Settings
    calendar: CalendarGateway
    mappings: MappingStore
    resources: ResourceStore
    own_writes: OwnWrites  # the room bookings the connector made, so their copies are not published back
    settle: Settlement
    clock: Clock
    telemetry: Telemetry = NO_TELEMETRY
    breaker: BreakerDeps | None = None  # the mass-deletion breaker; None: deletes are never held


# The planner's reasons and the settle policy's outcomes, as connector.events.processed counts them.
_OUTCOMES: dict[str, Outcome] = {
    "create": "written", "update": "written", "move": "written", "remove": "written",
    "unchanged": "unchanged", "already absent": "unchanged", "not synchronized": "unchanged", "stale": "stale",
    "dead-lettered": "dead_lettered", "deferred": "deferred", "rescheduled": "rescheduled", "held": "deferred",
}


async def sync_planning_message(body: bytes, delivery: Delivery, deps: SyncDeps) -> str:
    """Apply one planning event and settle its message; return the outcome for the log.
    Raises only to ask for redelivery."""
    outcome = await deps.settle.settle(PLANNING_QUEUE, body, delivery, lambda: _sync(body, delivery, deps))
    if counted := _OUTCOMES.get(outcome):
        deps.telemetry.event_processed(counted)
    return outcome


async def sync_planning_batch(batch: Sequence[tuple[bytes, Delivery]], deps: SyncDeps) -> list[str]:
    """Apply a batch of planning messages (the host gives one session's, in order), coalesced per entity; return
    the outcome of each step for the log. Raises, after every step ran, when any step asked for redelivery."""
    outcomes: list[str] = []
    superseded = 0
    failure: BaseException | None = None
    for step in coalesce([_entity_of(body, delivery, deps.settings) for body, delivery in batch]):
        body, delivery = batch[step.apply]
        try:
            outcomes.append(await sync_planning_message(body, delivery, deps))
        except Exception as exc:  # the host abandons the whole batch; the other entities still get their turn
            failure = failure or exc
            continue
        superseded += len(step.superseded)
        for index in step.superseded:
            logger.info("message %s coalesced: superseded by message %s", batch[index][1].message_id,
                        delivery.message_id, extra={"message_id": batch[index][1].message_id,
                                                    "delivery_count": batch[index][1].delivery_count})
    if failure is not None:
        raise failure
    for _ in range(superseded):  # counted once the batch completes; an abandoned batch comes back and counts then
        deps.telemetry.event_processed("coalesced")
    return outcomes


def _entity_of(body: bytes, delivery: Delivery, settings: Settings) -> tuple[EntityKey, Version] | None:
    """The entity and version a live planning event sets; None for what is applied on its own (drift's messages,
    a body that is not a valid event, which the settle policy then dead-letters with its reason)."""
    if DRIFT_PROPERTY in delivery.application_properties:
        return None
    try:
        checked = check_event(json.loads(body), 0, settings.time_zone)
    except ValueError:
        return None
    return None if isinstance(checked, list) else (checked.key, checked.version)


async def _sync(body: bytes, delivery: Delivery, deps: SyncDeps) -> str:
    settings = deps.settings
    try:
        raw = json.loads(body)
    except ValueError as exc:
        raise _invalid(f"the message body is not JSON: {exc}") from None
    drift = delivery.application_properties.get(DRIFT_PROPERTY)
    if drift == "remove":
        return await _remove_orphan(raw, delivery, deps)
    checked = check_event(raw, 0, settings.time_zone)
    if isinstance(checked, list):
        raise _invalid("; ".join(f"{v.path}: {v.message}" for v in checked))
    event = checked
    if not settings.synchronize:
        logger.info("message %s acknowledged without writing: CALENDAR_MSGRAPH_SYNCHRONIZE is false",
                    delivery.message_id)
        return "not synchronized"
    desired = desired_state(event, settings.time_zone, room_mode=settings.rooms.booking_mode)
    if desired is not None and not await deps.resources.is_active(desired.mailbox):
        # The resource opted out: its calendar is no longer ours to fill.
        desired = None
    mapping = await deps.mappings.get(event.key)
    plan = decide(event.key, desired, event.version, mapping, repair=drift in ("deleted", "changed"))
    if plan.mapping is None:
        logger.info("message %s for %s is %s; nothing written", delivery.message_id, event.subject, plan.reason)
        return plan.reason
    if deps.breaker is not None and _removes(plan):
        mailbox = plan.operations[0].mailbox
        if not await admit_delete(event.key, mailbox, body, delivery, deps.breaker):
            return "held"
    stored = await _execute(event.key, plan, delivery, deps)
    # Keep the applied event with the row, so drift repair can restore it after a hand edit.
    with deps.telemetry.span("write mapping", {"connector.reason": plan.reason}):
        await deps.mappings.save(replace(stored, applied=body.decode("utf-8") if desired is not None else None))
    logger.info("message %s delivery %d for %s: %s (%d Graph operation(s))",
                delivery.message_id, delivery.delivery_count, event.subject, plan.reason, len(plan.operations),
                extra={"message_id": delivery.message_id, "delivery_count": delivery.delivery_count,
                       "planning_id": event.id, "subject": event.subject, "outcome": plan.reason})
    return plan.reason


def _removes(plan: Plan) -> bool:
    """A plan that takes the entity out of every calendar (a move's delete of the old copy is no loss)."""
    return bool(plan.operations) and all(isinstance(op, DeleteEvent) for op in plan.operations)


async def _execute(key: EntityKey, plan: Plan, delivery: Delivery, deps: SyncDeps) -> Mapping:
    assert plan.mapping is not None
    sent = _Creates()
    try:
        return await _run(key, plan, plan.mapping, delivery, deps, sent)
    except Throttled as exc:
        # Only this attempt knows whether a create reached Graph before the throttling. A copy told that nothing
        # was created skips the lookup before its create: in a throttling storm the lookup doubles the requests.
        exc.refused = exc.refused and not sent.maybe
        raise


@dataclass
class _Creates:
    maybe: bool = False  # a create of this attempt may have made an event


async def _run(key: EntityKey, plan: Plan, stored: Mapping, delivery: Delivery, deps: SyncDeps,
               sent: _Creates) -> Mapping:
    calendar = deps.calendar
    for op in plan.operations:
        if isinstance(op, CreateEvent):
            event_id = None
            if delivery.may_have_created:
                # Only an attempt after one that may have created can meet an event of ours the mapping lacks.
                not_before = deps.clock() - timedelta(days=deps.settings.days_back)
                event_id = await calendar.find(op.mailbox, key.value, not_before=not_before)
                if event_id is not None:
                    await calendar.update(op.mailbox, event_id, op.content, source_key=key.value)
            ical_uid = None
            if event_id is None:
                if key.subject.startswith("reservation/"):
                    await _record_own_slot(key, op.mailbox, op.content, deps)
                created = await _create(calendar, op.mailbox, op.content, op.transaction_id, key, sent)
                event_id, ical_uid = created.id, created.ical_uid
            if key.subject.startswith("reservation/"):
                await _record_own_booking(key, op.mailbox, event_id, ical_uid, deps)
            stored = replace(stored, event_id=event_id)
        elif isinstance(op, UpdateEvent):
            try:
                await calendar.update(op.mailbox, op.event_id, op.content, source_key=key.value)
            except NotFound:
                # Deleted in Outlook: the planning system owns the task, so it comes back.
                txn = transaction_id(key, op.mailbox, stored.generation)
                created = await _create(calendar, op.mailbox, op.content, txn, key, sent)
                stored = replace(stored, event_id=created.id, generation=stored.generation + 1)
        elif isinstance(op, DeleteEvent):
            with contextlib.suppress(NotFound):  # already gone: the goal is reached
                await calendar.delete(op.mailbox, op.event_id)
    return stored


async def _create(calendar: CalendarGateway, mailbox: str, content: dict[str, Any], txn: str, key: EntityKey,
                  sent: _Creates) -> CreatedEvent:
    sent.maybe = True
    try:
        return await calendar.create(mailbox, content, transaction_id=txn, source_key=key.value)
    except Throttled as exc:
        sent.maybe = not exc.refused  # a refused create made nothing
        raise


async def _remove_orphan(raw: object, delivery: Delivery, deps: SyncDeps) -> str:
    """Drift repair found an event of ours that no mapping points to: delete it, unless the entity's row has
    come to point to it since (this runs in the entity's session, after any live event queued before)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("mailbox"), str) or not isinstance(raw.get("eventId"), str):
        raise _invalid("a drift removal names the mailbox and the event id")
    mailbox, event_id = raw["mailbox"], raw["eventId"]
    key = parse_source_key(str(raw.get("sourceKey") or ""))
    mapping = await deps.mappings.get(key) if key is not None else None
    if mapping is not None and mapping.mailbox == mailbox and mapping.event_id == event_id:
        return "adopted meanwhile"
    with contextlib.suppress(NotFound):
        await deps.calendar.delete(mailbox, event_id)
    logger.info("message %s: orphan event removed from %s (drift repair)", delivery.message_id, mailbox)
    return "orphan removed"


async def _record_own_slot(key: EntityKey, mailbox: str, content: dict[str, object], deps: SyncDeps) -> None:
    """Before the create: the room's copy may be notified before the create's answer is in."""
    slot = slot_of_content(mailbox, content)
    if slot:
        await deps.own_writes.record(slot, key.value)


async def _record_own_booking(key: EntityKey, mailbox: str, event_id: str, ical_uid: str | None,
                              deps: SyncDeps) -> None:
    """Remember the meeting's iCalUId, so the room's auto-accepted copy (which lacks our extended
    property) is known as the connector's own booking and not published back: no echo loop. Known from
    the create's answer; an adopted event costs one read."""
    ical_uid = ical_uid or await deps.calendar.ical_uid(mailbox, event_id)
    if ical_uid:
        await deps.own_writes.record(ical_uid, key.value)


def _invalid(reason: str) -> PermanentError:
    return InvalidMessage(f"invalid planning event: {reason}")

