"""Keeping a room's subscription alive: renew, recreate, and record why when it cannot be restored."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import replace

from shared.app.ports.rooms import Room
from shared.app.rooms.services import GRAPH_QUEUE
from shared.bootstrap import Services
from shared.domain.rooms import client_state, renewal
from shared.domain.rooms.notifications import RoomWork
from shared.errors import ConcurrencyConflict, ConnectorError, NotFound, UnknownMailbox

__all__ = ["ensure_subscription", "notification_urls", "queue_work", "subscribe"]

logger = logging.getLogger(__name__)


def notification_urls(services: Services) -> tuple[str, str]:
    base = services.settings.rooms.public_base_url
    return f"{base}/api/graph/notifications", f"{base}/api/graph/lifecycle"


async def queue_work(work: RoomWork, services: Services, *, unique: str = "") -> None:
    await services.queue.send(GRAPH_QUEUE, [work.message(unique=unique)])


async def subscribe(room: Room, services: Services) -> Room:
    """A new subscription for ``room`` (fresh clientState); the old one, if any, is deleted."""
    keys = services.settings.rooms.client_state_keys
    if not keys:
        raise ConnectorError("setting CONNECTOR_CLIENT_STATE_KEY is not set: rooms cannot be subscribed")
    state = client_state.mint(keys[0], room.email)
    notify, lifecycle = notification_urls(services)
    gateway = services.rooms().subscriptions()
    info = await gateway.create(room.email, notification_url=notify, lifecycle_url=lifecycle, client_state=state,
                                expires_at=renewal.next_expiry(services.clock()))
    if room.subscription_id:
        with contextlib.suppress(ConnectorError):  # usually gone already; a leftover expires on its own
            await gateway.delete(room.subscription_id)
    logger.info("room %s subscribed (subscription %s until %s)", room.email, info.id, info.expires_at.isoformat())
    return replace(room, subscription_id=info.id, client_state=state, expires_at=info.expires_at,
                   failing_since=None, failure=None)


async def ensure_subscription(room: Room, services: Services, *, recreate: bool = False,
                              reason: str = "timer", unknown_mailbox_raises: bool = False) -> Room:
    """Renew when due, recreate when gone; after a recreate, resync the gap through delta.

    Never raises for Graph errors: the room is stored as failing, with the reason, and logged; except,
    with ``unknown_mailbox_raises``, ``UnknownMailbox``, and then nothing is stored (a caller's typo).
    """
    now = services.clock()
    ports = services.rooms()
    try:
        recreated = False
        if not recreate and room.subscription_id and room.expires_at and not renewal.expired(room.expires_at, now):
            if renewal.due_for_renewal(room.expires_at, now):
                try:
                    info = await ports.subscriptions().renew(room.subscription_id, renewal.next_expiry(now))
                    room = replace(room, expires_at=info.expires_at, failing_since=None, failure=None)
                    logger.info("room %s subscription renewed until %s", room.email, info.expires_at.isoformat())
                except NotFound:
                    room, recreated = await subscribe(room, services), True
            elif room.failure:
                room = replace(room, failing_since=None, failure=None)
        else:
            room, recreated = await subscribe(room, services), True
        saved = await ports.rooms.save(room)
        if recreated:
            # Nothing was notified between the loss and now: fetch the gap through delta.
            await queue_work(RoomWork("resync", room.email), services, unique=saved.subscription_id or "")
        return saved
    except ConcurrencyConflict:
        # Another instance (the timer, or a lifecycle message) changed the room meanwhile: its write wins;
        # a subscription made here and not recorded sends notifications the worker drops, and lapses.
        logger.warning("room %s changed meanwhile; this run leaves it to the other writer", room.email)
        return await ports.rooms.get(room.email) or room
    except ConnectorError as exc:
        if unknown_mailbox_raises and isinstance(exc, UnknownMailbox):
            raise
        failing = replace(room, failing_since=room.failing_since or now, failure=f"{reason}: {exc}")
        logger.error("room %s subscription cannot be restored (failing since %s): %s",
                     room.email, failing.failing_since.isoformat() if failing.failing_since else "", failing.failure)
        with contextlib.suppress(ConnectorError):
            return await ports.rooms.save(failing)
        return failing
