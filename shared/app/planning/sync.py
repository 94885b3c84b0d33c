"""Sync: one queued planning event → the planner → Graph writes → the mapping row.

Coalescing by debouncing (``shared.domain.planning.coalesce``). A live event is not applied at once: the process
remembers "entity → newest version seen, when" and the event waits ``CONNECTOR_COALESCE_WINDOW_MS`` as a marked
message on its session. Ingest queues it so (``COALESCE_PROPERTY`` 1, due a window after acceptance) and tells the
memory; an event as an older ingest sent it (no marks, perhaps redelivered) is put off here instead, as a copy
(``Settlement.debounce``; a redelivered original schedules the same copy id, and duplicate detection drops it). A
first-round message whose arrival this process never saw (ingest ran in another instance) is remembered now and,
if its entity is new here, put off one window more, so a burst spread over instances is still seen whole. When
the message is due: a newer version seen since → completed as ``coalesced`` (no table read, no Graph request);
the entity still bursting → put off again, to the window after its last arrival, at most
``CONNECTOR_COALESCE_MAX_MS`` after the burst began; else applied as below. A later copy that lands in another
process, or after a restart, finds no memory and is applied: correctness comes from the planner's version fencing,
the memory only saves requests. What the worker must not put off goes straight through: drift repair, replayed
dead letters, released holds, and the copies the settle policy makes (rescheduled, deferred, waiting). What it
costs: the window's latency on every write (500 ms by default), and one more queue message per further put-off.

Why not batches. The trigger can take messages in batches (``cardinality="many"``), but the host (Service Bus
extension 5.x, ``ServiceBusListener.RunBatchReceiveLoopAsync`` in Azure/azure-sdk-for-net
sdk/servicebus/Microsoft.Azure.WebJobs.Extensions.ServiceBus) runs that loop at a concurrency of one per function and
instance on a session-enabled queue: it accepts one session, receives up to ``maxMessageBatchSize`` of its messages,
waits up to ``sessionIdleTimeout`` for more, then closes it; ``maxConcurrentSessions`` applies to single dispatch
only (Azure/azure-functions-dotnet-worker#3087, Azure/azure-sdk-for-net#47981 and #53184). Our session is the
entity (design card), so batches would process one entity at a time per instance. And a batch is settled as a
whole (autoCompleteMessages: returning completes every message, raising abandons every one). Single dispatch with
many sessions at once, plus the debounce, keeps both the width and the saving.

Every step is safe to repeat (at-least-once delivery). The message is settled by the one settle policy
(``shared.app.messaging.Settlement``): transient errors are raised so the message is redelivered; without a
working credential it is deferred; a throttled one waits on the queue as long as Retry-After asks; permanent
errors, and transient ones that outlast the delivery budget, are dead-lettered with a readable reason.
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from shared.app.messaging import PLANNING_QUEUE, Delivery, Settlement, tenant_of
from shared.app.planning.breaker import BreakerDeps, admit_delete
from shared.app.planning.drift import DRIFT_PROPERTY
from shared.app.planning.tenancy import ScopedBreakers
from shared.app.ports.clock import Clock
from shared.app.ports.planning import CalendarGateway, CreatedEvent, MappingStore, ResourceStore, TenantCalendars
from shared.app.ports.rooms import OwnWrites
from shared.app.ports.telemetry import NO_TELEMETRY, Outcome, Telemetry
from shared.app.ports.tenants import TenantLookup
from shared.app.rooms.tenancy import ScopedOwnWrites
from shared.app.tenants.acting import acting_tenant
from shared.config import Settings
from shared.domain.planning.coalesce import APPLY, Recent, Wait
from shared.domain.planning.contract import check_event
from shared.domain.planning.drift import parse_source_key
from shared.domain.planning.model import EntityKey, Mapping, PlanningEvent
from shared.domain.planning.plan import CreateEvent, DeleteEvent, Plan, UpdateEvent, decide, transaction_id
from shared.domain.planning.render import desired_state
from shared.domain.rooms.echo import slot_of_content
from shared.errors import ConfigurationError, InvalidMessage, NotFound, PermanentError, Throttled

__all__ = ["SyncDeps", "sync_planning_message"]

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
    recent: Recent | None = None  # the process's memory of entities for coalescing; None: every copy is applied
    tenants: TenantLookup | None = None  # None: one tenant, the settings'
    tenant_calendars: TenantCalendars | None = None  # the other tenants' calendars (each with its own token)


# The planner's reasons and the settle policy's outcomes, as connector.events.processed counts them.
_OUTCOMES: dict[str, Outcome] = {
    "create": "written", "update": "written", "move": "written", "remove": "written",
    "unchanged": "unchanged", "already absent": "unchanged", "not synchronized": "unchanged", "stale": "stale",
    "dead-lettered": "dead_lettered", "deferred": "deferred", "rescheduled": "rescheduled", "held": "deferred",
    "coalesced": "coalesced",  # "debounced" is not counted: the event is counted once, when its copy settles
}


async def sync_planning_message(body: bytes, delivery: Delivery, deps: SyncDeps) -> str:
    """Apply one planning event and settle its message; return the outcome for the log.
    Raises only to ask for redelivery."""
    outcome = await deps.settle.settle(PLANNING_QUEUE, body, delivery, lambda: _sync(body, delivery, deps))
    if counted := _OUTCOMES.get(outcome):
        with deps.telemetry.for_tenant(tenant_of(delivery)):
            deps.telemetry.event_processed(counted)
    return outcome


async def _sync(body: bytes, delivery: Delivery, deps: SyncDeps) -> str:
    settings = deps.settings
    try:
        raw = json.loads(body)
    except ValueError as exc:
        raise _invalid(f"the message body is not JSON: {exc}") from None
    drift = delivery.application_properties.get(DRIFT_PROPERTY)
    if drift == "remove":
        return await _remove_orphan(raw, delivery, *await _for_tenant(delivery, deps))
    checked = check_event(raw, 0, settings.time_zone)
    if isinstance(checked, list):
        raise _invalid("; ".join(f"{v.path}: {v.message}" for v in checked))
    event = checked
    scope, deps = await _for_tenant(delivery, deps)
    if not settings.synchronize:
        logger.info("message %s acknowledged without writing: CALENDAR_MSGRAPH_SYNCHRONIZE is false",
                    delivery.message_id)
        return "not synchronized"
    if coalesced := await _coalesce(event, body, delivery, deps):
        return coalesced
    desired = desired_state(event, settings.time_zone, room_mode=settings.rooms.booking_mode)
    if desired is not None and not await deps.resources.is_active(desired.mailbox):
        # The resource opted out: its calendar is no longer ours to fill.
        desired = None
    key = replace(event.key, tenant=scope)
    mapping = await deps.mappings.get(key)
    plan = decide(key, desired, event.version, mapping, repair=drift in ("deleted", "changed"))
    if plan.mapping is None:
        logger.info("message %s for %s is %s; nothing written", delivery.message_id, event.subject, plan.reason)
        return plan.reason
    if deps.breaker is not None and _removes(plan):
        mailbox = plan.operations[0].mailbox
        if not await admit_delete(key, mailbox, body, delivery, deps.breaker):
            return "held"
    stored = await _execute(key, plan, delivery, deps)
    # Keep the applied event with the row, so drift repair can restore it after a hand edit.
    with deps.telemetry.span("write mapping", {"connector.reason": plan.reason}):
        await deps.mappings.save(replace(stored, applied=body.decode("utf-8") if desired is not None else None))
    logger.info("message %s delivery %d for %s: %s (%d Graph operation(s))",
                delivery.message_id, delivery.delivery_count, event.subject, plan.reason, len(plan.operations),
                extra={"message_id": delivery.message_id, "delivery_count": delivery.delivery_count,
                       "planning_id": event.id, "subject": event.subject, "outcome": plan.reason})
    return plan.reason


async def _coalesce(event: PlanningEvent, body: bytes, delivery: Delivery, deps: SyncDeps) -> str | None:
    """Put a live event off, or settle its due copy without applying it; None to apply it now."""
    window = timedelta(milliseconds=deps.settings.coalesce_window_ms)
    if not window:
        return None
    now = deps.clock()
    if delivery.is_first_arrival:
        outcome = await deps.settle.debounce(PLANNING_QUEUE, body, delivery, now + window)
        if deps.recent is not None:  # only once the copy is on the queue may it supersede older ones
            deps.recent.arrived(event.key, event.version, now)
        return outcome
    if not delivery.coalesce_round or deps.recent is None:
        return None
    if delivery.put_off_at_ingest:
        seen = deps.recent.get(event.key)
        if seen is None or event.version.is_newer_than(seen.newest):
            # Put off by ingest in another process (or before this one started): its arrival is news here. The
            # first of its entity waits a window here too, so that newer ones arriving meanwhile are seen.
            came_due = delivery.enqueued_at or now
            deps.recent.arrived(event.key, event.version, came_due)
            # Only a message that came due just now: one waiting longer in a backlog outlasted any burst of its
            # entity (and the memory forgets an entity after the cap, which is why this one may be unknown).
            fresh = now - came_due < window
            if seen is None and fresh:
                return await deps.settle.debounce(PLANNING_QUEUE, body, delivery, now + window)
    decision = deps.recent.decide(event.key, event.version, now)
    if isinstance(decision, Wait):  # still bursting
        return await deps.settle.debounce(PLANNING_QUEUE, body, delivery, decision.until)
    if decision == APPLY:
        deps.recent.written(event.key)
        return None
    logger.info("message %s for %s coalesced: a newer event of it is due later", delivery.message_id,
                event.subject, extra={"message_id": delivery.message_id, "subject": event.subject,
                                      "outcome": "coalesced"})
    return "coalesced"


async def _for_tenant(delivery: Delivery, deps: SyncDeps) -> tuple[str | None, SyncDeps]:
    """The scope of the message's keys and the deps acting in its tenant (``acting_tenant``: the tenant's own
    calendar gateway, so every Graph request carries a token requested for that tenant; its own writes and its
    breakers)."""
    tenant = await acting_tenant(delivery, deps.settings, deps.tenants)
    if tenant is None:
        return None, deps
    if deps.tenant_calendars is None:
        raise ConfigurationError("tenants", f"no Graph client for tenant {tenant.id}")
    breaker = deps.breaker
    return tenant.id, replace(deps, calendar=deps.tenant_calendars.calendar(tenant),
                              own_writes=ScopedOwnWrites(deps.own_writes, tenant.id),
                              breaker=breaker and replace(breaker, store=ScopedBreakers(breaker.store, tenant.id)))


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


async def _remove_orphan(raw: object, delivery: Delivery, scope: str | None, deps: SyncDeps) -> str:
    """Drift repair found an event of ours that no mapping points to: delete it, unless the entity's row has
    come to point to it since (this runs in the entity's session, after any live event queued before)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("mailbox"), str) or not isinstance(raw.get("eventId"), str):
        raise _invalid("a drift removal names the mailbox and the event id")
    mailbox, event_id = raw["mailbox"], raw["eventId"]
    key = parse_source_key(str(raw.get("sourceKey") or ""))
    mapping = await deps.mappings.get(replace(key, tenant=scope)) if key is not None else None
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

