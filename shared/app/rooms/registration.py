"""Operator API for rooms: register (subscribe), list with state, unregister, available rooms, backfill."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from shared.app.ports.clock import Clock
from shared.app.ports.rooms import BackfillJob, Room, RoomGraph, RoomStore
from shared.app.responses import Reply, json_reply, problem
from shared.app.rooms.subscriptions import (
    Calendar,
    SubscriptionDeps,
    ensure_subscription,
    queue_work,
    subscription_health,
)
from shared.app.rooms.tenancy import for_operator, unscoped
from shared.config import Settings
from shared.domain.rooms.client_state import ClientStateError
from shared.domain.rooms.notifications import RoomWork
from shared.domain.tenants.model import Tenant
from shared.errors import ConnectorError, UnknownMailbox

__all__ = ["RegistrationDeps", "available_rooms", "delete_room", "list_rooms", "put_room", "room_json",
           "start_backfill", "watched_mailbox"]

logger = logging.getLogger(__name__)
_EMAIL = re.compile(r"^[^@\s/~]+@[^@\s/~]+\.[^@\s/~]+$")


@dataclass(frozen=True)
class RegistrationDeps:
    settings: Settings
    rooms: RoomStore
    graph: RoomGraph
    subscribing: SubscriptionDeps
    clock: Clock
    dropped: Counter[str]  # notifications dropped by this instance, listed with the rooms


def room_json(room: Room, tenant: str | None = None) -> dict[str, Any]:
    """The room as the operator API shows it; ``tenant`` None: the room's email says (a stored key)."""
    job = room.backfill
    health = subscription_health(room)
    scope, email = unscoped(room.email)
    return {
        "email": email,
        "tenant": tenant or scope,
        "displayName": room.display_name,
        **health,
        "activatedAt": room.activated_at.isoformat(),
        "showSubject": room.show_subject,
        "backfill": None if job is None else {
            "id": job.id, "from": job.start, "status": job.status, "seen": job.seen, "published": job.published,
            "finishedAt": job.finished_at.isoformat() if job.finished_at else None, "error": job.error},
    }


def watched_mailbox(email: str) -> str | None:
    """The mailbox a route's path names (lower case), or None when it is no email address."""
    mailbox = email.strip().lower()
    return mailbox if _EMAIL.match(mailbox) else None


async def in_tenant(tenant: str | None, deps: RegistrationDeps) -> RegistrationDeps | Reply:
    """The dependencies acting in the tenant an operator's ``?tenant=`` names (400/409 naming a tenant that
    cannot be used); unchanged for the default tenant."""
    def scope(subscribing: SubscriptionDeps, tenant: Tenant) -> RegistrationDeps:
        assert subscribing.tenant_clients is not None  # subscribing_for raised otherwise
        return replace(deps, rooms=subscribing.rooms, graph=subscribing.tenant_clients.room_graph(tenant),
                       subscribing=subscribing)

    return await for_operator(tenant, deps, deps.subscribing, scope)


async def put_room(email: str, body: bytes, deps: RegistrationDeps, tenant: str | None = None) -> Reply:
    scoped = await in_tenant(tenant, deps)
    if isinstance(scoped, Reply):
        return scoped
    deps = scoped
    mailbox = watched_mailbox(email)
    if mailbox is None:
        return problem(400, "Invalid room", "the path must end with the room's email address")
    try:
        document = json.loads(body) if body.strip() else {}
    except ValueError as exc:
        return problem(400, "Malformed JSON", f"the body is not JSON: {exc}")
    if not isinstance(document, dict) or not isinstance(document.get("showSubject", True), bool):
        return problem(400, "Invalid room setting", 'send {"showSubject": true|false} or nothing')
    if not deps.settings.rooms.client_state_keys:
        return problem(409, "Rooms not configured", "set CONNECTOR_CLIENT_STATE_KEY (a Key Vault reference)")
    existing = await deps.rooms.get(mailbox)
    room = existing or Room(email=mailbox, activated_at=deps.clock())
    room = replace(room, show_subject=document.get("showSubject", room.show_subject))
    return await start_watching(room, existing is None, deps.subscribing, reason="registration", what="room",
                                render=lambda saved: room_json(saved, deps.subscribing.tenant),
                                announce=f"room {mailbox} registered; only bookings made from now on are published")


async def start_watching(calendar: Calendar, is_new: bool, deps: SubscriptionDeps, *, reason: str, what: str,
                         render: Callable[[Calendar], dict[str, Any]], announce: str) -> Reply:
    """Subscribe to a watched calendar (a room or an organizer) and answer the operator's PUT: 201 for a new one,
    200 again, 502 when Graph refused (the calendar is kept with its failure), 400/404 for the caller's mistakes."""
    try:
        # A new calendar's unknown mailbox is the caller's mistake: nothing is stored, the answer names it.
        saved = await ensure_subscription(calendar, deps, recreate=is_new or not calendar.subscription_id,
                                          reason=reason, unknown_mailbox_raises=is_new)
    except ClientStateError as exc:
        return problem(400, f"Invalid {what}", str(exc))
    except UnknownMailbox as exc:
        return problem(404, "Unknown mailbox", str(exc))
    if saved.failure:
        return json_reply(502, render(saved))
    if is_new:
        logger.info("%s", announce)
    return json_reply(201 if is_new else 200, render(saved))


async def list_rooms(deps: RegistrationDeps) -> Reply:
    rooms = await deps.rooms.list()
    return json_reply(200, {"value": [room_json(r) for r in rooms], "droppedNotifications": dict(deps.dropped)})


async def delete_room(email: str, deps: RegistrationDeps, tenant: str | None = None) -> Reply:
    scoped = await in_tenant(tenant, deps)
    if isinstance(scoped, Reply):
        return scoped
    deps = scoped
    mailbox = watched_mailbox(email)
    room = await deps.rooms.get(mailbox) if mailbox else None
    if room is None:
        return problem(404, "Not found", f"room {email} is not registered")
    if room.subscription_id:
        with contextlib.suppress(ConnectorError):  # gone already, or it lapses within days on its own
            await deps.subscribing.subscriptions.delete(room.subscription_id)
    await deps.rooms.delete(room.email)
    logger.info("room %s unregistered", room.email)
    return Reply(204)


async def available_rooms(deps: RegistrationDeps) -> Reply:
    try:
        rooms = await deps.graph.list_rooms()
    except ConnectorError as exc:
        return problem(502, "Graph error", str(exc))
    keys = ("id", "emailAddress", "displayName", "capacity", "building", "floorNumber", "bookingType",
            "isWheelchairAccessible")
    return json_reply(200, {"value": [{k: r.get(k) for k in keys if k in r} for r in rooms]})


async def start_backfill(email: str, start: str | None, deps: RegistrationDeps, tenant: str | None = None) -> Reply:
    scoped = await in_tenant(tenant, deps)
    if isinstance(scoped, Reply):
        return scoped
    deps = scoped
    mailbox = watched_mailbox(email)
    room = await deps.rooms.get(mailbox) if mailbox else None
    if room is None:
        return problem(404, "Not found", f"room {email} is not registered")
    try:
        first = date.fromisoformat(start or "")
    except ValueError:
        return problem(400, "Invalid from", "from must be a date, YYYY-MM-DD")
    earliest = deps.clock().date() - timedelta(days=deps.settings.days_back)
    if first < earliest:
        return problem(400, "Invalid from", f"from must not be before {earliest} (CALENDAR_MSGRAPH_DAYS_BACK)")

    job = BackfillJob(id=uuid.uuid4().hex[:12], start=first.isoformat(), status="queued")
    await deps.rooms.save(replace(room, backfill=job))
    await queue_work(RoomWork("backfill", room.email, backfill_from=job.start, job_id=job.id,
                                     tenant=deps.subscribing.tenant), deps.subscribing.queue)
    return json_reply(202, {"room": room.email, "backfill": {"id": job.id, "from": job.start, "status": job.status}})
