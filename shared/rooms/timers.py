"""Timers: keep every room's subscription alive, and publish users who joined or left."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import datetime

from shared.bootstrap import Services
from shared.errors import ConnectorError, NotFound
from shared.rooms.directory import decide_user
from shared.rooms.ports import Room
from shared.rooms.publisher import publish
from shared.rooms.reservations import cloud_event
from shared.rooms.subscriptions import ensure_subscription

__all__ = ["renew_subscriptions", "sync_users_directory"]

logger = logging.getLogger(__name__)


async def renew_subscriptions(services: Services) -> dict[str, int]:
    """Renew what is due, recreate what is gone (then resync it), and log every room still failing."""
    counts = {"rooms": 0, "failing": 0}
    ports = services.rooms()
    try:
        # One listing finds subscriptions that vanished early (deleted, or lost without a lifecycle event)
        # and tells Graph's expiry of the others, which decides: it may be earlier than the one stored.
        live: dict[str, datetime] | None = await ports.subscriptions().live()
    except ConnectorError as exc:
        logger.warning("could not list the subscriptions (%s); renewing by the stored expiry only", exc)
        live = None
    for room in await ports.rooms.list():
        counts["rooms"] += 1
        missing = live is not None and room.subscription_id is not None and room.subscription_id not in live
        if missing:
            logger.warning("room %s: subscription %s is gone at Graph; recreating it", room.email,
                           room.subscription_id)
        elif live is not None and room.subscription_id is not None:
            room = _with_graphs_expiry(room, live[room.subscription_id])
        result = await ensure_subscription(room, services, recreate=missing,
                                           reason="subscription missing" if missing else "timer")
        if result.failure:
            counts["failing"] += 1  # ensure_subscription logged why, on this run as on every run
    logger.info("subscription timer: %d room(s), %d failing", counts["rooms"], counts["failing"])
    return counts


def _with_graphs_expiry(room: Room, expires_at: datetime) -> Room:
    if room.expires_at != expires_at:
        logger.info("room %s: Graph says subscription %s expires %s (stored: %s); deciding by Graph's", room.email,
                    room.subscription_id, expires_at.isoformat(),
                    room.expires_at.isoformat() if room.expires_at else "none")
        room = replace(room, expires_at=expires_at)
    return room


async def sync_users_directory(services: Services) -> dict[str, int]:
    """One users delta round; the first round records a baseline and publishes nothing."""
    ports = services.rooms()
    link = await ports.users.cursor()
    baseline = link is None
    try:
        round_ = await ports.graph().users_delta(link)
    except NotFound:
        # Directory delta tokens last about 7 days; a fresh round compares against the stored rows.
        logger.warning("users delta link expired; reading the directory again")
        round_ = await ports.graph().users_delta(None)
    events = []
    source = f"urn:m365-calendar-connector:{services.settings.tenant_id or 'local'}:directory"
    for item in round_.events:
        user_id = str(item.get("id"))
        known = await ports.users.get(user_id)
        change = decide_user(item, known, baseline=baseline)
        if change.type is not None:
            version = "removed" if "@removed" in item else str(change.enabled)
            # The id derives from the transition (and the row it started from): a retried round repeats it.
            version_key = f"{version}\n{json.dumps(known, sort_keys=True)}"
            events.append(cloud_event(change.type, f"user/{user_id}", change.data, source=source,
                                      version_key=version_key, now=services.clock()))
        await ports.users.put(user_id, None if change.enabled is None else {**change.data, "enabled": change.enabled})
    await publish(events, services)
    await ports.users.set_cursor(round_.delta_link)
    logger.info("users directory: %d change(s) read, %d published%s", len(round_.events), len(events),
                " (baseline)" if baseline else "")
    return {"read": len(round_.events), "published": len(events)}
