"""Keeping a room's subscription alive: renew, recreate, and record why when it cannot be restored."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, replace

from shared.app.messaging import GRAPH_QUEUE, MessageQueue, OutboundMessage, queue_id
from shared.app.ports.clock import Clock
from shared.app.ports.rooms import Room, RoomStore, SubscriptionGateway
from shared.config import Settings
from shared.domain.rooms import client_state, renewal
from shared.domain.rooms.notifications import RoomWork
from shared.errors import ConcurrencyConflict, ConnectorError, NotFound, UnknownMailbox

__all__ = ["SubscriptionDeps", "ensure_subscription", "notification_urls", "queue_work", "subscribe", "work_message"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SubscriptionDeps:
    settings: Settings
    rooms: RoomStore
    subscriptions: SubscriptionGateway
    queue: MessageQueue
    clock: Clock


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
                           else work.message_id, session_id=work.session_id, content_type="application/json")


async def queue_work(work: RoomWork, queue: MessageQueue, *, unique: str = "") -> None:
    await queue.send(GRAPH_QUEUE, [work_message(work, unique=unique)])


async def subscribe(room: Room, deps: SubscriptionDeps) -> Room:
    """A new subscription for ``room`` (fresh clientState); the old one, if any, is deleted."""
    keys = deps.settings.rooms.client_state_keys
    if not keys:
        raise ConnectorError("setting CONNECTOR_CLIENT_STATE_KEY is not set: rooms cannot be subscribed")
    state = client_state.mint(keys[0], room.email)
    notify, lifecycle = notification_urls(deps.settings)
    gateway = deps.subscriptions
    info = await gateway.create(room.email, notification_url=notify, lifecycle_url=lifecycle, client_state=state,
                                expires_at=renewal.next_expiry(deps.clock()))
    if room.subscription_id:
        with contextlib.suppress(ConnectorError):  # usually gone already; a leftover expires on its own
            await gateway.delete(room.subscription_id)
    logger.info("room %s subscribed (subscription %s until %s)", room.email, info.id, info.expires_at.isoformat())
    return replace(room, subscription_id=info.id, client_state=state, expires_at=info.expires_at,
                   failing_since=None, failure=None)


async def ensure_subscription(room: Room, deps: SubscriptionDeps, *, recreate: bool = False,
                              reason: str = "timer", unknown_mailbox_raises: bool = False) -> Room:
    """Renew when due, recreate when gone; after a recreate, resync the gap through delta.

    Never raises for Graph errors: the room is stored as failing, with the reason, and logged; except,
    with ``unknown_mailbox_raises``, ``UnknownMailbox``, and then nothing is stored (a caller's typo).
    """
    now = deps.clock()
    try:
        recreated = False
        if not recreate and room.subscription_id and room.expires_at and not renewal.expired(room.expires_at, now):
            if renewal.due_for_renewal(room.expires_at, now):
                try:
                    info = await deps.subscriptions.renew(room.subscription_id, renewal.next_expiry(now))
                    room = replace(room, expires_at=info.expires_at, failing_since=None, failure=None)
                    logger.info("room %s subscription renewed until %s", room.email, info.expires_at.isoformat())
                except NotFound:
                    room, recreated = await subscribe(room, deps), True
            elif room.failure:
                room = replace(room, failing_since=None, failure=None)
        else:
            room, recreated = await subscribe(room, deps), True
        saved = await deps.rooms.save(room)
        if recreated:
            # Nothing was notified between the loss and now: fetch the gap through delta.
            await queue_work(RoomWork("resync", room.email), deps.queue, unique=saved.subscription_id or "")
        return saved
    except ConcurrencyConflict:
        # Another instance (the timer, or a lifecycle message) changed the room meanwhile: its write wins;
        # a subscription made here and not recorded sends notifications the worker drops, and lapses.
        logger.warning("room %s changed meanwhile; this run leaves it to the other writer", room.email)
        return await deps.rooms.get(room.email) or room
    except ConnectorError as exc:
        if unknown_mailbox_raises and isinstance(exc, UnknownMailbox):
            raise
        failing = replace(room, failing_since=room.failing_since or now, failure=f"{reason}: {exc}")
        logger.error("room %s subscription cannot be restored (failing since %s): %s",
                     room.email, failing.failing_since.isoformat() if failing.failing_since else "", failing.failure)
        with contextlib.suppress(ConnectorError):
            return await deps.rooms.save(failing)
        return failing
