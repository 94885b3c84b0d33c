"""What a tenant other than the default publishes: its event log, its outbound streams and its users directory.

As with rooms (``shared/app/rooms/tenancy.py``) and people, each is a view over the one store of every tenant's that
scopes every key it is given with ``tenant_key(tenant, key)`` (the default tenant's keys unchanged): the log's name,
a stream's name, a user's id and the directory cursor's name. The use cases (``publisher``, ``upkeep``) are handed
their dependencies *for* the tenant and stay as they are; a purge of the tenant empties what its id leads.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from shared.app.ports.rooms import (
    DEFAULT_DIRECTORY,
    DEFAULT_LOG,
    DirectoryCursor,
    EventLog,
    Outbox,
    OutboxItem,
    UserStore,
)
from shared.app.responses import Reply
from shared.app.rooms.tenancy import _Purges
from shared.app.tenants.asked import tenant_asked
from shared.domain.tenants.keys import tenant_key
from shared.domain.tenants.model import Tenant, TenantId

if TYPE_CHECKING:
    from shared.app.rooms.publisher import PublisherDeps

__all__ = ["ScopedEventLog", "ScopedOutbox", "ScopedUsers", "feed_of", "publishing_in"]


class ScopedEventLog(_Purges):
    """``EventLog`` of one tenant: its own log in the store of every tenant's logs."""

    _inner: EventLog

    def __init__(self, inner: EventLog, tenant: TenantId) -> None:
        self._inner, self._tenant = inner, tenant

    async def append(self, events: list[dict[str, Any]], log: str = DEFAULT_LOG) -> None:
        await self._inner.append(events, tenant_key(self._tenant, log))

    async def read(self, since: str | None, limit: int,
                   log: str = DEFAULT_LOG) -> tuple[list[dict[str, Any]], str | None]:
        return await self._inner.read(since, limit, tenant_key(self._tenant, log))


class ScopedOutbox(_Purges):
    """``Outbox`` of one tenant's streams (its ``users`` stream is not another tenant's)."""

    _inner: Outbox

    def __init__(self, inner: Outbox, tenant: TenantId) -> None:
        self._inner, self._tenant = inner, tenant

    async def add(self, stream: str, events: list[dict[str, Any]]) -> str:
        return await self._inner.add(tenant_key(self._tenant, stream), events)

    async def head(self, stream: str) -> OutboxItem | None:
        item = await self._inner.head(tenant_key(self._tenant, stream))
        return None if item is None else replace(item, stream=stream)

    async def save(self, item: OutboxItem) -> None:
        await self._inner.save(replace(item, stream=tenant_key(self._tenant, item.stream)))

    async def remove(self, item: OutboxItem) -> None:
        await self._inner.remove(replace(item, stream=tenant_key(self._tenant, item.stream)))


class ScopedUsers(_Purges):
    """``UserStore`` of one tenant's directory: its users and its delta cursor."""

    _inner: UserStore

    def __init__(self, inner: UserStore, tenant: TenantId) -> None:
        self._inner, self._tenant = inner, tenant

    async def get(self, user_id: str) -> dict[str, Any] | None:
        return await self._inner.get(tenant_key(self._tenant, user_id))

    async def put(self, user_id: str, row: dict[str, Any] | None) -> None:
        await self._inner.put(tenant_key(self._tenant, user_id), row)

    async def cursor(self, directory: str = DEFAULT_DIRECTORY) -> DirectoryCursor:
        return await self._inner.cursor(tenant_key(self._tenant, directory))

    async def set_cursor(self, cursor: DirectoryCursor, directory: str = DEFAULT_DIRECTORY) -> None:
        await self._inner.set_cursor(cursor, tenant_key(self._tenant, directory))


def publishing_in(deps: PublisherDeps, tenant: TenantId | None) -> PublisherDeps:
    """``deps`` publishing to ``tenant``'s log and streams (unchanged for the default tenant, None)."""
    if tenant is None or tenant == deps.tenant:
        return deps
    if deps.tenant is not None:
        raise ValueError(f"publishing of tenant {deps.tenant} is not another tenant's")
    return replace(deps, log=ScopedEventLog(deps.log, tenant), outbox=ScopedOutbox(deps.outbox, tenant), tenant=tenant)


async def feed_of(text: str | None, deps: PublisherDeps) -> PublisherDeps | Reply:
    """``deps`` reading the log of the tenant a reader's ``?tenant=`` names (the default tenant's when none is
    named); 400 for a malformed id, 404 for a tenant that is not registered. A stopped tenant's log stays readable
    until it is purged."""
    found = await tenant_asked(text, deps.settings.tenant_id, deps.tenants)
    return publishing_in(deps, found.id) if isinstance(found, Tenant) else found or deps
