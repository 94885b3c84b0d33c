"""Keeping a watched calendar's subscription alive: renew, recreate, and record why when it cannot be restored.

A watched calendar is a room's (``Room``) or a watched organizer's (``Organizer``): the same subscription on
``/users/{mailbox}/events``, the same clientState scheme (its version tells the two apart), the same timer.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, TypeVar

from shared.app.messaging import GRAPH_QUEUE, TENANT_PROPERTY, MessageQueue, OutboundMessage, queue_id
from shared.app.ports.clock import Clock
from shared.app.ports.organizers import Organizer, OrganizerStore
from shared.app.ports.rooms import Room, RoomStore, SubscriptionGateway, TenantRoomClients
from shared.app.ports.tenants import TenantLookup
from shared.config import Settings
from shared.domain.rooms import client_state, renewal
from shared.domain.rooms.notifications import RoomWork
from shared.errors import ConcurrencyConflict, ConnectorError, NotFound, UnknownMailbox

__all__ = ["Calendar", "SubscriptionDeps", "ensure_subscription", "from_old_subscription", "kind_of",
           "notification_urls", "on_lifecycle", "queue_work", "subscribe", "subscription_health", "work_message"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SubscriptionDeps:
    settings: Settings
    rooms: RoomStore
    subscriptions: SubscriptionGateway
    queue: MessageQueue
    clock: Clock
    organizers: OrganizerStore | None = None  # None: this deployment's container watches no organizers
    # The tenant these dependencies act in (None: the default tenant), how to find another, and its Graph clients.
    tenant: str | None = None
    tenants: TenantLookup | None = None
    tenant_clients: TenantRoomClients | None = None


Calendar = TypeVar("Calendar", Room, Organizer)  # a watched calendar


def kind_of(calendar: Room | Organizer) -> str:
    """``client_state.ROOM`` or ``client_state.ORGANIZER``: names the calendar in logs and in its clientState."""
    return client_state.ORGANIZER if isinstance(calendar, Organizer) else client_state.ROOM


# mypy checks a constrained TypeVar's body once per constraint, the organizer branch in the room's pass too: the
# ignores stand for what isinstance already guarantees.
async def _save(calendar: Calendar, deps: SubscriptionDeps) -> Calendar:
    if isinstance(calendar, Organizer):
        if deps.organizers is None:
            raise ConnectorError("no organizer store: organizers cannot be watched")
        return await deps.organizers.save(calendar)  # type: ignore[return-value]
    return await deps.rooms.save(calendar)


async def _current(calendar: Calendar, deps: SubscriptionDeps) -> Calendar | None:
    if isinstance(calendar, Organizer):
        return await deps.organizers.get(calendar.email) if deps.organizers else None  # type: ignore[return-value]
    return await deps.rooms.get(calendar.email)


def from_old_subscription(work: RoomWork, calendar: Room | Organizer, dropped: Counter[str]) -> bool:
    """True (counted and logged) for work of a subscription the calendar no longer uses (replaced or deleted):
    its clientState is valid, but it speaks for nothing the connector watches now."""
    if not work.subscription_id or work.subscription_id == calendar.subscription_id:
        return False
    dropped["stale subscription"] += 1
    logger.warning("notification of subscription %s for %s dropped: not its current subscription",
                   work.subscription_id, calendar.email)
    return True


def subscription_health(calendar: Room | Organizer) -> dict[str, Any]:
    """How a watched calendar's subscription stands, as the operator API lists it."""
    if calendar.failure:
        since = calendar.failing_since.isoformat() if calendar.failing_since else "?"
        status = f"failing since {since} because {calendar.failure}"
    elif calendar.subscription_id and calendar.expires_at:
        status = f"subscribed until {calendar.expires_at.isoformat()}"
    else:
        status = "not subscribed"
    return {
        "status": status,
        "subscribed": bool(calendar.subscription_id) and not calendar.failure,
        "subscriptionExpiresAt": calendar.expires_at.isoformat() if calendar.expires_at else None,
        "failingSince": calendar.failing_since.isoformat() if calendar.failing_since else None,
        "failure": calendar.failure,
    }


def _resync_work(calendar: Room | Organizer, tenant: str | None) -> RoomWork:
    kind = kind_of(calendar)
    return RoomWork("resync", calendar.email, calendar=None if kind == client_state.ROOM else kind, tenant=tenant)


def notification_urls(settings: Settings) -> tuple[str, str]:
    """Where Graph sends change and lifecycle notifications: the app's two webhooks, or with Event Grid
    delivery the partner topic's ``EventGrid:`` URL for both (Graph makes no validation request to it)."""
    if settings.rooms.notification_delivery == "eventGrid" and settings.rooms.eventgrid_notification_url:
        return settings.rooms.eventgrid_notification_url, settings.rooms.eventgrid_notification_url
    base = settings.rooms.public_base_url
    return f"{base}/api/graph/notifications", f"{base}/api/graph/lifecycle"


def work_message(work: RoomWork, *, unique: str = "") -> OutboundMessage:
    """The ``graph-notifications`` message carrying ``work`` (``unique`` sets it apart from a repeat)."""
    return OutboundMessage(body=work.to_json(), message_id=queue_id(work.message_id, unique) if unique
                           else work.message_id, session_id=work.session_id, content_type="application/json",
                           application_properties={TENANT_PROPERTY: work.tenant} if work.tenant else {})


async def queue_work(work: RoomWork, queue: MessageQueue, *, unique: str = "") -> None:
    await queue.send(GRAPH_QUEUE, [work_message(work, unique=unique)])


async def subscribe(room: Calendar, deps: SubscriptionDeps) -> Calendar:
    """A new subscription for ``room`` (fresh clientState); the old one, if any, is deleted."""
    keys = deps.settings.rooms.client_state_keys
    kind = kind_of(room)
    if not keys:
        raise ConnectorError(f"setting CONNECTOR_CLIENT_STATE_KEY is not set: {kind}s cannot be subscribed")
    state = client_state.mint(keys[0], room.email, kind=kind, tenant=deps.tenant)
    notify, lifecycle = notification_urls(deps.settings)
    gateway = deps.subscriptions
    info = await gateway.create(room.email, notification_url=notify, lifecycle_url=lifecycle, client_state=state,
                                expires_at=renewal.next_expiry(deps.clock()))
    if room.subscription_id:
        with contextlib.suppress(ConnectorError):  # usually gone already; a leftover expires on its own
            await gateway.delete(room.subscription_id)
    logger.info("%s %s subscribed (subscription %s until %s)", kind, room.email, info.id, info.expires_at.isoformat())
    return replace(room, subscription_id=info.id, client_state=state, expires_at=info.expires_at,
                   failing_since=None, failure=None)


async def ensure_subscription(room: Calendar, deps: SubscriptionDeps, *, recreate: bool = False,
                              reason: str = "timer", unknown_mailbox_raises: bool = False) -> Calendar:
    """Renew when due, recreate when gone; after a recreate, resync the gap (a room through delta).

    Never raises for Graph errors: the calendar is stored as failing, with the reason, and logged; except,
    with ``unknown_mailbox_raises``, ``UnknownMailbox``, and then nothing is stored (a caller's typo).
    """
    now = deps.clock()
    kind = kind_of(room)
    try:
        recreated = False
        if not recreate and room.subscription_id and room.expires_at and not renewal.expired(room.expires_at, now):
            if renewal.due_for_renewal(room.expires_at, now):
                try:
                    info = await deps.subscriptions.renew(room.subscription_id, renewal.next_expiry(now))
                    room = replace(room, expires_at=info.expires_at, failing_since=None, failure=None)
                    logger.info("%s %s subscription renewed until %s", kind, room.email, info.expires_at.isoformat())
                except NotFound:
                    room, recreated = await subscribe(room, deps), True
            elif room.failure:
                room = replace(room, failing_since=None, failure=None)
        else:
            room, recreated = await subscribe(room, deps), True
        saved = await _save(room, deps)
        if recreated:
            # Nothing was notified between the loss and now: fetch the gap.
            await queue_work(_resync_work(room, deps.tenant), deps.queue, unique=saved.subscription_id or "")
        return saved
    except ConcurrencyConflict:
        # Another instance (the timer, or a lifecycle message) changed the room meanwhile: its write wins;
        # a subscription made here and not recorded sends notifications the worker drops, and lapses.
        logger.warning("%s %s changed meanwhile; this run leaves it to the other writer", kind, room.email)
        return await _current(room, deps) or room
    except ConnectorError as exc:
        if unknown_mailbox_raises and isinstance(exc, UnknownMailbox):
            raise
        failing = replace(room, failing_since=room.failing_since or now, failure=f"{reason}: {exc}")
        logger.error("%s %s subscription cannot be restored (failing since %s): %s", kind,
                     room.email, failing.failing_since.isoformat() if failing.failing_since else "", failing.failure)
        with contextlib.suppress(ConnectorError):
            return await _save(failing, deps)
        return failing


async def on_lifecycle(calendar: Calendar, event: str | None, deps: SubscriptionDeps) -> str | None:
    """Graph's lifecycle notification for ``calendar``'s subscription; None for ``missed`` (the caller resyncs)."""
    if event == "missed":
        return None
    if event == "subscriptionRemoved":
        await ensure_subscription(calendar, deps, recreate=True, reason="subscription removed")
        return "recreated"
    # reauthorizationRequired: one PATCH of the expiry both renews and reauthorizes (facts 3.2), so the
    # renewal is made due now rather than issuing a separate reauthorize within the same 10 minutes.
    now = deps.clock()
    if calendar.expires_at and calendar.expires_at > now:
        calendar = replace(calendar, expires_at=min(calendar.expires_at, now + timedelta(minutes=1)))
    await ensure_subscription(calendar, deps, reason="reauthorization required")
    return "reauthorized"
