"""Appointments: one queued ``appointment.*`` event → the planner → a meeting in the organizer's calendar.

The planning sync's building blocks, applied to meetings: version fencing and the mapping row
(``shared.domain.planning.plan.decide``), ``transactionId`` and the connector's extended property on the create,
a look-up by that property before creating again on a retry. What differs: an update PATCHes only the fields
that changed (Graph sends the attendees an update), a removal is Graph's ``cancel`` with the comment (attendees
get a cancellation with the reason), the token is the organizer's delegated connection or the app's
(``CONNECTOR_APPOINTMENT_AUTH``), and once the meeting exists ``appointment.written`` tells the scheduling system
its ids and Teams join link (``shared.app.people.written``).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from shared.app.messaging import PLANNING_QUEUE, Delivery, Settlement
from shared.app.people import written
from shared.app.people.watching import expect_connector_write
from shared.app.ports.clock import Clock
from shared.app.ports.organizers import AppointmentWatchStore, OrganizerStore
from shared.app.ports.people import Acting, DelegatedCredentials, Meeting, MeetingCalendar
from shared.app.ports.planning import MappingStore, TenantCalendars
from shared.app.ports.tenants import TenantLookup
from shared.app.rooms.publisher import PublisherDeps
from shared.app.rooms.tenancy import ScopedCalendars, ScopedWatches
from shared.app.rooms.tenant_streams import publishing_in
from shared.app.tenants.acting import acting_tenant
from shared.config import Settings
from shared.domain.people.appointments import (
    appointment_desired,
    changed_fields,
    is_appointment_subject,
    render_appointment,
    turns_online_on,
)
from shared.domain.planning.contract import check_event
from shared.domain.planning.model import EntityKey, Mapping, PlanningEvent
from shared.domain.planning.plan import CreateEvent, DeleteEvent, Plan, UpdateEvent, decide, transaction_id
from shared.domain.rooms.outbound_events import parse_graph_time
from shared.domain.tenants.model import TenantId
from shared.errors import ConfigurationError, InvalidMessage, NotFound

__all__ = ["AppointmentDeps", "acting_for", "is_appointment", "sync_appointment_message"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AppointmentDeps:
    settings: Settings
    meetings: MeetingCalendar
    delegated: DelegatedCredentials
    mappings: MappingStore
    publisher: PublisherDeps  # appointment.written goes out on the outbound channel of the rooms
    settle: Settlement
    clock: Clock
    # Watched organizers: a move the connector makes is recorded first, so it is not reported as an Outlook move.
    organizers: OrganizerStore | None = None
    watches: AppointmentWatchStore | None = None
    tenants: TenantLookup | None = None  # None: one tenant, the settings'
    tenant_calendars: TenantCalendars | None = None  # the other tenants' meetings (each with its own token)
    delegated_in: Callable[[TenantId], DelegatedCredentials] | None = None  # another tenant's people


def is_appointment(delivery: Delivery) -> bool:
    """A message of the planning queue that this worker takes: an appointment event or its join-link read-back.
    A replayed dead letter carries no application properties, but its session is still the appointment's."""
    props = delivery.application_properties
    return (is_appointment_subject(props.get("subject")) or written.READBACK_PROPERTY in props
            or is_appointment_subject(delivery.session_id))


async def sync_appointment_message(body: bytes, delivery: Delivery, deps: AppointmentDeps) -> str:
    """Apply one appointment event (or read a meeting back for its join link) and settle the message."""
    if written.READBACK_PROPERTY in delivery.application_properties:
        return await deps.settle.settle(PLANNING_QUEUE, body, delivery, lambda: _in_tenant(
            delivery, deps, lambda scope, acting: written.read_back(body, delivery, _written_deps(acting), scope)))
    return await deps.settle.settle(PLANNING_QUEUE, body, delivery, lambda: _in_tenant(
        delivery, deps, lambda scope, acting: _sync(body, delivery, acting, scope)))


async def _in_tenant(delivery: Delivery, deps: AppointmentDeps,
                     handle: Callable[[str | None, AppointmentDeps], Awaitable[str]]) -> str:
    """Run ``handle`` in the message's tenant (``acting_tenant``): the tenant's keys and its meetings, written
    with a token requested for that tenant."""
    tenant = await acting_tenant(delivery, deps.settings, deps.tenants)
    if tenant is None:
        return await handle(None, deps)
    if deps.tenant_calendars is None:
        raise ConfigurationError("tenants", f"no Graph client for tenant {tenant.id}")
    # The tenant's watched organizers: a move written here is expected in its own rows.
    organizers = ScopedCalendars(deps.organizers, tenant.id) if deps.organizers is not None else None
    watches = ScopedWatches(deps.watches, tenant.id) if deps.watches is not None else None
    delegated = deps.delegated_in(tenant.id) if deps.delegated_in is not None else deps.delegated
    return await handle(tenant.id, replace(deps, meetings=deps.tenant_calendars.meetings(tenant),
                                           organizers=organizers, watches=watches, delegated=delegated,
                                           publisher=publishing_in(deps.publisher, tenant.id)))


async def acting_for(organizer: str, deps: AppointmentDeps) -> Acting:
    """Whose token writes the organizer's meeting, by ``CONNECTOR_APPOINTMENT_AUTH``."""
    mode = deps.settings.appointment_auth
    if mode == "delegated" or (mode == "auto" and await deps.delegated.is_connected(organizer)):
        return "delegated"
    return "application"


async def _sync(body: bytes, delivery: Delivery, deps: AppointmentDeps, scope: str | None = None) -> str:
    try:
        raw = json.loads(body)
    except ValueError as exc:
        raise InvalidMessage(f"invalid appointment event: the message body is not JSON: {exc}") from None
    checked = check_event(raw, 0, deps.settings.time_zone)
    if isinstance(checked, list):
        raise InvalidMessage("invalid appointment event: " + "; ".join(f"{v.path}: {v.message}" for v in checked))
    event = checked
    key = replace(event.key, tenant=scope)
    if not deps.settings.synchronize:
        return "not synchronized"
    desired = appointment_desired(event, deps.settings.time_zone)
    mapping = await deps.mappings.get(key)
    plan = decide(key, desired, event.version, mapping)
    if plan.mapping is None:
        logger.info("message %s for %s is %s; nothing written", delivery.message_id, event.subject, plan.reason)
        return plan.reason
    before = _applied_content(mapping, deps)
    stored, meeting = await _execute(event, plan, before, delivery, deps)
    await deps.mappings.save(replace(stored, applied=body.decode("utf-8") if desired is not None else None))
    if meeting is not None and desired is not None:
        await written.announce(key, desired.mailbox, meeting, bool(desired.content.get("isOnlineMeeting")),
                               _written_deps(deps))
    logger.info("message %s delivery %d for %s: %s", delivery.message_id, delivery.delivery_count, event.subject,
                plan.reason, extra={"message_id": delivery.message_id, "delivery_count": delivery.delivery_count,
                                    "planning_id": event.id, "subject": event.subject, "outcome": plan.reason})
    return plan.reason


def _applied_content(mapping: Mapping | None, deps: AppointmentDeps) -> dict[str, Any] | None:
    """The meeting as last written (rendered again from the event applied), so an update sends only changes."""
    if mapping is None or mapping.deleted or not mapping.applied:
        return None
    data = json.loads(mapping.applied).get("data")
    return render_appointment(data, deps.settings.time_zone) if isinstance(data, dict) else None


async def _execute(event: PlanningEvent, plan: Plan, before: dict[str, Any] | None, delivery: Delivery,
                   deps: AppointmentDeps) -> tuple[Mapping, Meeting | None]:
    """Run the plan; return the mapping to store and, when the meeting is new or just went online, what Graph
    said of it (for ``appointment.written``)."""
    assert plan.mapping is not None
    key, stored, announced = plan.mapping.key, plan.mapping, None  # the key scoped to the event's tenant
    meetings = deps.meetings
    for op in plan.operations:
        acting = await acting_for(op.mailbox, deps)
        if isinstance(op, CreateEvent):
            meeting = await _create(key, op, delivery, acting, deps)
            stored, announced = replace(stored, event_id=meeting.id), meeting
        elif isinstance(op, UpdateEvent):
            changes = changed_fields(before, op.content)
            if not changes:
                continue  # only what Graph does not compare changed (a name, the order of attendees)
            if "start" in changes or "end" in changes:
                await _expect_move(op.mailbox, op.event_id, event, op.content, deps)
            try:
                meeting = await meetings.update(op.mailbox, op.event_id, changes, source_key=key.value, acting=acting)
            except NotFound:
                # Deleted in Outlook: the scheduling system owns the appointment, so it comes back.
                txn = transaction_id(key, op.mailbox, stored.generation)
                meeting = await meetings.create(op.mailbox, op.content, transaction_id=txn, source_key=key.value,
                                                acting=acting)
                stored = replace(stored, event_id=meeting.id, generation=stored.generation + 1)
                announced = meeting
            else:
                if turns_online_on(before, op.content):
                    announced = meeting
        elif isinstance(op, DeleteEvent):
            comment = (event.data or {}).get("comment") if event.is_removal else None
            with contextlib.suppress(NotFound):  # already gone: the goal is reached
                await meetings.cancel(op.mailbox, op.event_id, comment, acting=acting)
    return stored, announced


async def _expect_move(organizer: str, event_id: str, event: PlanningEvent, content: dict[str, Any],
                        deps: AppointmentDeps) -> None:
    if deps.organizers is None or deps.watches is None or await deps.organizers.get(organizer) is None:
        return
    start, end = parse_graph_time(content.get("start")), parse_graph_time(content.get("end"))
    if start is not None and end is not None:
        await expect_connector_write(organizer, event_id, event.subject.split("/", 1)[-1], start, end, deps.watches)


async def _create(key: EntityKey, op: CreateEvent, delivery: Delivery, acting: Acting,
                  deps: AppointmentDeps) -> Meeting:
    meetings = deps.meetings
    if delivery.is_retry:
        # Only a retry can meet a meeting of ours that the mapping does not know yet.
        not_before = deps.clock() - timedelta(days=deps.settings.days_back)
        found = await meetings.find(op.mailbox, key.value, not_before=not_before, acting=acting)
        if found is not None:
            return await meetings.update(op.mailbox, found, op.content, source_key=key.value, acting=acting)
    return await meetings.create(op.mailbox, op.content, transaction_id=op.transaction_id, source_key=key.value,
                                 acting=acting)


def _written_deps(deps: AppointmentDeps) -> written.WrittenDeps:
    return written.WrittenDeps(settings=deps.settings, meetings=deps.meetings, mappings=deps.mappings,
                               publisher=deps.publisher, acting=lambda organizer: acting_for(organizer, deps),
                               clock=deps.clock)
