"""Timers: keep every watched calendar's subscription alive (rooms, organizers), and publish users who joined
or left, in each active tenant's own directory (read with the tenant's Graph client, kept in its rows)."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from shared.app.operator.gauges import GaugeDeps, refresh_gauges
from shared.app.ports.clock import Clock
from shared.app.ports.organizers import Organizer
from shared.app.ports.rooms import DeltaPage, DirectoryCursor, Room, RoomGraph, RoomStore, UserStore
from shared.app.ports.telemetry import NO_TELEMETRY, Telemetry
from shared.app.rooms.publisher import PublisherDeps, publish
from shared.app.rooms.subscriptions import Calendar, SubscriptionDeps, ensure_subscription, kind_of, queue_work
from shared.app.rooms.tenancy import subscribing_for, unscoped
from shared.app.rooms.tenant_streams import ScopedUsers, publishing_in
from shared.config import Settings
from shared.domain.rooms.directory import decide_user
from shared.domain.rooms.notifications import RoomWork
from shared.domain.rooms.outbound_events import cloud_event
from shared.domain.tenants.model import Tenant, TenantId
from shared.errors import ConnectorError, NotFound

__all__ = ["DIRECTORY_SESSION", "UpkeepDeps", "USERS_PAGES_PER_STEP", "renew_subscriptions", "sync_every_directory",
           "sync_users_directory", "upkeep_in"]

logger = logging.getLogger(__name__)

USERS_PAGES_PER_STEP = 3  # users delta pages (about 100 users each) per invocation, well within a minute
DIRECTORY_SESSION = "users-directory"  # the graph-notifications session that carries a round's steps
# A round in progress that has not moved for this long lost its continuation (dead-lettered): the timer resumes it.
ROUND_STALLED_AFTER = timedelta(minutes=30)


@dataclass(frozen=True)
class UpkeepDeps:
    settings: Settings
    rooms: RoomStore
    users: UserStore
    graph: RoomGraph
    subscribing: SubscriptionDeps
    publisher: PublisherDeps
    clock: Clock
    telemetry: Telemetry = NO_TELEMETRY
    gauges: GaugeDeps | None = None  # told again by the subscription timer (never fails it)
    registered: Callable[[], Awaitable[list[Tenant]]] | None = None  # every registered tenant (None: one tenant)


def upkeep_in(deps: UpkeepDeps, tenant: Tenant) -> UpkeepDeps:
    """``deps`` acting in ``tenant`` (itself for the default tenant): its users directory rows and cursor, its
    Graph client (its own directory), its rooms, its log and streams."""
    if tenant.scope is None:
        return deps
    subscribing = subscribing_for(deps.subscribing, tenant)
    assert deps.subscribing.tenant_clients is not None  # subscribing_for raised otherwise
    return replace(deps, rooms=subscribing.rooms, users=ScopedUsers(deps.users, tenant.id),
                   graph=deps.subscribing.tenant_clients.room_graph(tenant), subscribing=subscribing,
                   publisher=publishing_in(deps.publisher, tenant.id))


async def sync_every_directory(deps: UpkeepDeps) -> dict[str, dict[str, int]]:
    """The timer: one step of the users directory of every active tenant, the default tenant's first, each with its
    own Graph client. One tenant's failure is logged and never stops another's; the first is raised once every
    tenant had its turn (the timer's invocation is marked failed)."""
    tenants: list[Tenant | None] = [None]
    if deps.registered is not None:
        try:
            tenants += [t for t in await deps.registered() if not t.default and not t.stopped]
        except ConnectorError as exc:
            logger.warning("users directory: the tenants could not be listed (%s); the default tenant's only", exc)
    counts: dict[str, dict[str, int]] = {}
    failed: list[Exception] = []
    for tenant in tenants:
        name = tenant.id if tenant is not None else "default"
        try:
            counts[name] = await sync_users_directory(upkeep_in(deps, tenant) if tenant is not None else deps)
        except Exception as exc:  # noqa: BLE001 - logged here, the first raised after the others
            logger.warning("users directory of tenant %s failed: %s", name, exc, extra={"tenant": name})
            failed.append(exc)
    if failed:
        raise failed[0]
    return counts


async def renew_subscriptions(deps: UpkeepDeps) -> dict[str, int]:
    """Renew what is due, recreate what is gone (then resync it), and log every room still failing. First, tell
    the gauges no event sets (dead letters open, the queues' oldest message, the breakers) their values again."""
    if deps.gauges is not None:
        await refresh_gauges(deps.gauges)
    counts = {"rooms": 0, "failing": 0, "organizers": 0}
    organizers = deps.subscribing.organizers
    # Each tenant's calendars with its own Graph client (the default tenant's first, listed even without any).
    rooms: dict[TenantId | None, list[Room]] = {None: []}
    organizers_of: dict[TenantId | None, list[Organizer]] = {}
    for room in await deps.rooms.list():
        tenant, mailbox = unscoped(room.email)
        rooms.setdefault(tenant, []).append(replace(room, email=mailbox))
    for organizer in await organizers.list() if organizers is not None else []:
        tenant, mailbox = unscoped(organizer.email)
        organizers_of.setdefault(tenant, []).append(replace(organizer, email=mailbox))
    for tenant in sorted(rooms.keys() | organizers_of.keys(), key=lambda t: t or ""):
        subscribing = await _subscribing_in(tenant, deps.subscribing)
        if subscribing is None:
            continue
        live = await _live(subscribing, tenant)
        for room in rooms.get(tenant, []):
            counts["rooms"] += 1
            counts["failing"] += await _keep_alive(room, live, subscribing)
        for organizer in organizers_of.get(tenant, []):
            counts["organizers"] += 1
            counts["failing"] += await _keep_alive(organizer, live, subscribing)
    watched = counts["rooms"] + counts["organizers"]
    deps.telemetry.subscriptions(healthy=watched - counts["failing"], failing=counts["failing"])
    logger.info("subscription timer: %d room(s), %d organizer(s), %d failing", counts["rooms"],
                counts["organizers"], counts["failing"],
                extra={"rooms": counts["rooms"], "organizers": counts["organizers"], "failing": counts["failing"]})
    return counts


async def _subscribing_in(tenant_id: str | None, deps: SubscriptionDeps) -> SubscriptionDeps | None:
    """The subscription dependencies of a tenant's calendars (its own Graph client); None, logged, for a tenant
    stopped or no longer registered (its subscriptions lapse within days; a purge removes its rows)."""
    if tenant_id is None:
        return deps
    tenant = await deps.tenants.by_id(tenant_id) if deps.tenants is not None else None
    if tenant is None or tenant.stopped:
        logger.warning("tenant %s is %s: its rooms' and organizers' subscriptions are not renewed", tenant_id,
                       "stopped" if tenant else "not registered")
        return None
    return subscribing_for(deps, tenant)


async def _live(deps: SubscriptionDeps, tenant: str | None) -> dict[str, datetime] | None:
    """One listing per tenant finds subscriptions that vanished early (deleted, or lost without a lifecycle event)
    and tells Graph's expiry of the others, which decides: it may be earlier than the one stored."""
    try:
        return await deps.subscriptions.live()
    except ConnectorError as exc:
        logger.warning("could not list the subscriptions%s (%s); renewing by the stored expiry only",
                       f" of tenant {tenant}" if tenant else "", exc)
        return None


async def _keep_alive(calendar: Calendar, live: dict[str, datetime] | None, deps: SubscriptionDeps) -> bool:
    """Renew, or recreate what Graph no longer holds; True when the calendar is left failing."""
    missing = live is not None and calendar.subscription_id is not None and calendar.subscription_id not in live
    if missing:
        logger.warning("%s %s: subscription %s is gone at Graph; recreating it", kind_of(calendar), calendar.email,
                       calendar.subscription_id)
    elif live is not None and calendar.subscription_id is not None:
        calendar = _with_graphs_expiry(calendar, live[calendar.subscription_id])
    result = await ensure_subscription(calendar, deps, recreate=missing,
                                       reason="subscription missing" if missing else "timer")
    return result.failure is not None  # ensure_subscription logged why, on this run as on every run


def _with_graphs_expiry(room: Calendar, expires_at: datetime) -> Calendar:
    if room.expires_at != expires_at:
        logger.info("%s %s: Graph says subscription %s expires %s (stored: %s); deciding by Graph's", kind_of(room),
                    room.email, room.subscription_id, expires_at.isoformat(),
                    room.expires_at.isoformat() if room.expires_at else "none")
        room = replace(room, expires_at=expires_at)
    return room


async def sync_users_directory(deps: UpkeepDeps, work: RoomWork | None = None) -> dict[str, int]:
    """One step of the users delta: at most USERS_PAGES_PER_STEP pages, each published and its position
    stored; a round with more pages continues in a message to the directory's session. The first round
    records a baseline and publishes nothing. ``work`` is that continuation (None: the timer)."""
    cursor = await deps.users.cursor()
    now = deps.clock()
    if work is not None and (cursor.next_link is None or (work.chain, work.step) != (cursor.round_id, cursor.step)):
        logger.info("users directory step %s dropped: the round has moved on", work.step)
        return {"read": 0, "published": 0}
    if work is None and cursor.next_link:
        if cursor.updated_at and now - cursor.updated_at < ROUND_STALLED_AFTER:
            logger.info("users directory: round %s is at step %d; its own messages carry it on", cursor.round_id,
                        cursor.step)
            return {"read": 0, "published": 0}
        logger.warning("users directory: round %s stalled at step %d; resuming it", cursor.round_id, cursor.step)
    if cursor.next_link is None:
        round_id = hashlib.sha256(f"{cursor.delta_link}\n{now.isoformat()}".encode()).hexdigest()[:16]
        cursor = replace(cursor, round_id=round_id, baseline=cursor.delta_link is None, step=0)
    counts = {"read": 0, "published": 0}
    link = cursor.next_link or cursor.delta_link
    for _ in range(USERS_PAGES_PER_STEP):
        page = await _users_page(deps, link)
        read, published = await _apply_users_page(deps, page, baseline=cursor.baseline)
        counts["read"] += read
        counts["published"] += published
        if page.delta_link:
            await deps.users.set_cursor(DirectoryCursor(delta_link=page.delta_link, updated_at=deps.clock()))
            logger.info("users directory: round done; %d change(s) read, %d published in this step%s", counts["read"],
                        counts["published"], " (baseline)" if cursor.baseline else "")
            return counts
        link = page.next_link
        cursor = replace(cursor, next_link=link, updated_at=deps.clock())
        await deps.users.set_cursor(cursor)  # a crash resumes from the page after this one
    cursor = replace(cursor, step=cursor.step + 1)
    await deps.users.set_cursor(cursor)
    await queue_work(RoomWork("directory", DIRECTORY_SESSION, step=cursor.step, chain=cursor.round_id,
                              tenant=deps.subscribing.tenant), deps.subscribing.queue)
    logger.info("users directory: step %d of round %s read %d change(s), published %d; continuing",
                cursor.step - 1, cursor.round_id, counts["read"], counts["published"])
    return counts


async def _users_page(deps: UpkeepDeps, link: str | None) -> DeltaPage:
    graph = deps.graph
    try:
        return await graph.users_delta_page(link)
    except NotFound:
        if link is None:
            raise
    # Directory delta tokens last about 7 days, skip tokens less: a fresh round compares against the stored rows.
    logger.warning("users delta state expired; reading the directory again")
    return await graph.users_delta_page(None)


async def _apply_users_page(deps: UpkeepDeps, page: DeltaPage, *, baseline: bool) -> tuple[int, int]:
    """Publish a page's transitions, then store the rows: a page read again repeats the same events."""
    source = f"urn:m365-calendar-connector:{deps.subscribing.tenant or deps.settings.tenant_id or 'local'}:directory"
    events = []
    rows: dict[str, dict[str, Any] | None] = {}
    for item in page.events:
        user_id = str(item.get("id"))
        known = rows[user_id] if user_id in rows else await deps.users.get(user_id)
        change = decide_user(item, known, baseline=baseline)
        if change.type is not None:
            version = "removed" if "@removed" in item else str(change.enabled)
            # The id derives from the transition (and the row it started from): a retried page repeats it.
            version_key = f"{version}\n{json.dumps(known, sort_keys=True)}"
            events.append(cloud_event(change.type, f"user/{user_id}", change.data, source=source,
                                      version_key=version_key, now=deps.clock()))
        rows[user_id] = None if change.enabled is None else {**change.data, "enabled": change.enabled}
    await publish(events, deps.publisher)
    for user_id, row in rows.items():
        await deps.users.put(user_id, row)
    return len(page.events), len(events)
