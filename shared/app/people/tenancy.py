"""People of a tenant other than the default: their delegated connections and their parked work.

A connection belongs to the tenant of the scheduling system's request: its row is keyed
``tenant_key(tenant.scope, user)`` (the default tenant's keys unchanged), and so is the person's parked work. As
with rooms (``shared/app/rooms/tenancy.py``), the use cases stay as they are: they are handed views of the stores
*for* the tenant, which scope every key they are given and strip the scope from what they return; a purge of the
tenant removes the rows of every tenant's store that its id leads.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol

from shared.app.messaging import OutboundMessage, WaitingWork
from shared.app.people.lifecycle import PeopleDeps
from shared.app.ports.people import ConnectionStore
from shared.app.ports.tenants import PurgeableStore
from shared.app.responses import Reply, problem
from shared.app.rooms.tenancy import _Purges
from shared.app.rooms.tenant_streams import publishing_in
from shared.app.tenants.asked import tenant_asked
from shared.domain.people.connections import Connection
from shared.domain.tenants.keys import tenant_key, tenant_of_key
from shared.domain.tenants.model import Tenant, TenantId
from shared.errors import ConfigurationError

__all__ = ["ParkedWork", "ScopedConnections", "ScopedWaiting", "people_asked", "people_in", "people_of"]


class ParkedWork(WaitingWork, PurgeableStore, Protocol):
    """``WaitingWork`` of every tenant's people, which a purge empties of one tenant's."""


def _user(tenant: TenantId, user: str) -> str:
    return tenant_key(tenant, user.strip().lower())


class ScopedConnections(_Purges):
    """``ConnectionStore`` of one tenant's people over the store of every tenant's connections."""

    _inner: ConnectionStore

    def __init__(self, inner: ConnectionStore, tenant: TenantId) -> None:
        self._inner, self._tenant = inner, tenant

    @staticmethod
    def _out(connection: Connection) -> Connection:
        return replace(connection, user=tenant_of_key(connection.user)[1])

    async def get(self, user: str) -> Connection | None:
        found = await self._inner.get(_user(self._tenant, user))
        return None if found is None else self._out(found)

    async def save(self, connection: Connection) -> Connection:
        return self._out(await self._inner.save(replace(connection, user=_user(self._tenant, connection.user))))

    async def delete(self, user: str) -> None:
        await self._inner.delete(_user(self._tenant, user))

    async def list(self) -> list[Connection]:
        return [self._out(c) for c in await self._inner.list() if tenant_of_key(c.user)[0] == self._tenant]


class ScopedWaiting:
    """``WaitingWork`` of one tenant's people: parked and released under the tenant's key of the person (the
    settlement parks a ``NeedsReconnect`` under ``PeopleDeps.parked_as``, the same key)."""

    def __init__(self, inner: WaitingWork, tenant: TenantId) -> None:
        self._inner, self._tenant = inner, tenant

    async def park(self, user: str, queue: str, message: OutboundMessage) -> None:
        await self._inner.park(_user(self._tenant, user), queue, message)

    async def release(self, user: str) -> int:
        return await self._inner.release(_user(self._tenant, user))


def people_in(deps: PeopleDeps, tenant: TenantId | None) -> PeopleDeps:
    """``deps`` acting for the people of ``tenant`` (unchanged for the default tenant, None): its rows, its
    parked work, its log and streams and Entra's authority of its directory."""
    if tenant is None or tenant == deps.tenant:
        return deps
    if deps.authorities is None:
        raise ConfigurationError("tenants", f"no Entra authority for the people of tenant {tenant}")
    return replace(deps, connections=ScopedConnections(deps.connections, tenant),
                   waiting=ScopedWaiting(deps.waiting, tenant), authority=deps.authorities(tenant), tenant=tenant,
                   publisher=publishing_in(deps.publisher, tenant))


async def people_of(text: object, deps: PeopleDeps) -> PeopleDeps | Reply:
    """``deps`` for the tenant a request names (``tenant``: a registered tenant's id; absent, empty or the
    default tenant's: the default tenant); or the answer: 400 for a malformed or unknown id, 409 for a stopped
    tenant."""
    if not isinstance(text, str | None):
        return problem(400, "Unknown tenant", "tenant must be a tenant's directory id", field="tenant")
    return await _people_named(text, deps, malformed="Unknown tenant", unknown=400, stopped_refused=True,
                               field="tenant")


async def people_asked(text: str | None, deps: PeopleDeps) -> PeopleDeps | Reply:
    """``deps`` for the tenant a route's ``?tenant=`` names (``GET``/``DELETE /api/connections/{email}``, the
    operator's list; absent, empty or the default tenant's: the default tenant); or the answer: 400 for a
    malformed id, 404 for one not registered, each naming the parameter. A stopped tenant's people are read and
    forgotten still: neither asks Entra or Graph for anything, its rows stay until its purge, and forgetting
    tokens is what a person or an offboarding vendor may ask for at any time."""
    return await _people_named(text, deps, malformed="Invalid tenant", unknown=404, stopped_refused=False,
                               parameter="tenant")


async def _people_named(text: str | None, deps: PeopleDeps, *, malformed: str, unknown: int, stopped_refused: bool,
                        **names: str) -> PeopleDeps | Reply:
    found = await tenant_asked(text, deps.settings.tenant_id, deps.tenants, malformed=malformed, unknown=unknown,
                               refuse_stopped=stopped_refused, **names)
    return people_in(deps, found.id) if isinstance(found, Tenant) else found or deps
