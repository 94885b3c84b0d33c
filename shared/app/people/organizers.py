"""Operator API for watched organizers: start watching one (subscribe to its calendar), list them with the health
of their subscriptions, stop watching (delete the subscription and forget what was known)."""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

from shared.app.ports.clock import Clock
from shared.app.ports.organizers import AppointmentWatchStore, Organizer, OrganizerStore
from shared.app.responses import Reply, json_reply, problem
from shared.app.rooms.registration import start_watching, watched_mailbox
from shared.app.rooms.subscriptions import SubscriptionDeps, subscription_health
from shared.app.rooms.tenancy import ScopedWatches, for_operator, unscoped
from shared.config import Settings
from shared.domain.tenants.model import Tenant
from shared.errors import ConnectorError

__all__ = ["OrganizerDeps", "delete_organizer", "list_organizers", "organizer_json", "put_organizer"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OrganizerDeps:
    settings: Settings
    organizers: OrganizerStore
    watches: AppointmentWatchStore
    subscribing: SubscriptionDeps
    clock: Clock
    dropped: Counter[str]  # notifications dropped by this instance, listed with the organizers


def organizer_json(organizer: Organizer, tenant: str | None = None) -> dict[str, Any]:
    scope, email = unscoped(organizer.email)
    return {"email": email, "tenant": tenant or scope, **subscription_health(organizer),
            "watchedSince": organizer.activated_at.isoformat()}


async def in_tenant(tenant: str | None, deps: OrganizerDeps) -> OrganizerDeps | Reply:
    """The dependencies acting in the tenant ``?tenant=`` names (400/409 naming one that cannot be used)."""
    def scope(subscribing: SubscriptionDeps, tenant: Tenant) -> OrganizerDeps:
        assert subscribing.organizers is not None
        return replace(deps, organizers=subscribing.organizers, watches=ScopedWatches(deps.watches, tenant.id),
                       subscribing=subscribing)

    return await for_operator(tenant, deps, deps.subscribing, scope)


async def put_organizer(email: str, deps: OrganizerDeps, tenant: str | None = None) -> Reply:
    scoped = await in_tenant(tenant, deps)
    if isinstance(scoped, Reply):
        return scoped
    deps = scoped
    mailbox = watched_mailbox(email)
    if mailbox is None:
        return problem(400, "Invalid organizer", "the path must end with the organizer's email address")
    if not deps.settings.rooms.client_state_keys:
        return problem(409, "Notifications not configured", "set CONNECTOR_CLIENT_STATE_KEY (a Key Vault reference)")
    existing = await deps.organizers.get(mailbox)
    organizer = existing or Organizer(email=mailbox, activated_at=deps.clock())
    return await start_watching(organizer, existing is None, deps.subscribing, reason="watching", what="organizer",
                                render=lambda saved: organizer_json(saved, deps.subscribing.tenant),
                                announce=f"organizer {mailbox} watched; answers to the "
                                "connector's meetings are published from now on")


async def list_organizers(deps: OrganizerDeps) -> Reply:
    organizers = await deps.organizers.list()
    return json_reply(200, {"value": [organizer_json(o) for o in organizers],
                            "droppedNotifications": dict(deps.dropped)})


async def delete_organizer(email: str, deps: OrganizerDeps, tenant: str | None = None) -> Reply:
    scoped = await in_tenant(tenant, deps)
    if isinstance(scoped, Reply):
        return scoped
    deps = scoped
    mailbox = watched_mailbox(email)
    organizer = await deps.organizers.get(mailbox) if mailbox else None
    if organizer is None:
        return problem(404, "Not found", f"organizer {email} is not watched")
    if organizer.subscription_id:
        with contextlib.suppress(ConnectorError):  # gone already, or it lapses within days on its own
            await deps.subscribing.subscriptions.delete(organizer.subscription_id)
    await deps.organizers.delete(organizer.email)
    await deps.watches.forget(organizer.email)
    logger.info("organizer %s no longer watched", organizer.email)
    return Reply(204)
