"""Watched calendars (rooms, organizers) of a tenant other than the default.

A room or organizer belongs to a tenant: its rows are keyed with ``tenant_key(tenant.scope, mailbox)`` (the
default tenant's keys unchanged), its subscription is made and renewed with the tenant's own Graph client, and its
clientState carries the tenant, so the worker knows it from the message alone. The use cases stay as they are:
they are handed their dependencies *for* the tenant (``scoped``): stores that scope every key they are given and
strip the scope from what they return, and the tenant's Graph clients.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from shared.app.ports.organizers import AppointmentWatchStore, Organizer
from shared.app.ports.rooms import OwnWrites, ReservationStore, Room
from shared.app.ports.tenants import PurgeableStore
from shared.app.responses import Reply
from shared.app.tenants.asked import tenant_asked
from shared.domain.people.watching import AppointmentWatch
from shared.domain.rooms.outbound_events import ReservationState
from shared.domain.tenants.keys import tenant_key, tenant_of_key
from shared.domain.tenants.model import Tenant, TenantId

if TYPE_CHECKING:
    from shared.app.rooms.subscriptions import SubscriptionDeps

__all__ = ["ScopedCalendars", "ScopedOwnWrites", "ScopedReservations", "ScopedWatches", "for_operator", "in_tenant",
           "subscribing_for", "unscoped"]

C = TypeVar("C", Room, Organizer)  # a watched calendar
D = TypeVar("D")  # a use case's dependencies


def unscoped(email: str) -> tuple[TenantId | None, str]:
    """A stored calendar's tenant (None: the default) and its mailbox."""
    return tenant_of_key(email)


def in_tenant(tenant: TenantId | None, email: str) -> str:
    return tenant_key(tenant, email)


class _Purges:
    """A tenant's view purges what its store of every tenant holds for the tenant named."""

    _inner: PurgeableStore

    @property
    def purge_name(self) -> str:
        return self._inner.purge_name

    async def purge(self, tenant_id: TenantId) -> int:
        return await self._inner.purge(tenant_id)


class _CalendarStore(PurgeableStore, Protocol[C]):
    async def get(self, email: str) -> C | None: ...

    async def save(self, calendar: C) -> C: ...

    async def delete(self, email: str) -> None: ...

    async def list(self) -> list[C]: ...


class ScopedCalendars(_Purges, Generic[C]):
    """``RoomStore`` or ``OrganizerStore`` of one tenant over the store of every tenant's calendars."""

    def __init__(self, inner: _CalendarStore[C], tenant: TenantId) -> None:
        self._inner: _CalendarStore[C] = inner
        self._tenant = tenant

    def _out(self, calendar: C) -> C:
        return replace(calendar, email=unscoped(calendar.email)[1])

    async def get(self, email: str) -> C | None:
        calendar = await self._inner.get(in_tenant(self._tenant, email.lower()))
        return None if calendar is None else self._out(calendar)

    async def save(self, calendar: C) -> C:
        return self._out(await self._inner.save(replace(calendar, email=in_tenant(self._tenant, calendar.email))))

    async def delete(self, email: str) -> None:
        await self._inner.delete(in_tenant(self._tenant, email.lower()))

    async def list(self) -> list[C]:
        return [self._out(c) for c in await self._inner.list() if unscoped(c.email)[0] == self._tenant]


class ScopedReservations(_Purges):
    """``ReservationStore`` of one tenant's rooms."""

    _inner: ReservationStore

    def __init__(self, inner: ReservationStore, tenant: TenantId) -> None:
        self._inner, self._tenant = inner, tenant

    async def get(self, room: str, event_id: str) -> ReservationState | None:
        state = await self._inner.get(in_tenant(self._tenant, room), event_id)
        return None if state is None else replace(state, room=room)

    async def save(self, state: ReservationState) -> None:
        await self._inner.save(replace(state, room=in_tenant(self._tenant, state.room)))


class ScopedOwnWrites(_Purges):
    """``OwnWrites`` of one tenant: the iCalUIds and slot keys of the bookings the connector made in its rooms,
    so only a notification of the tenant's own room is known as the connector's write."""

    _inner: OwnWrites

    def __init__(self, inner: OwnWrites, tenant: TenantId) -> None:
        self._inner, self._tenant = inner, tenant

    async def record(self, ical_uid: str, source_key: str) -> None:
        await self._inner.record(tenant_key(self._tenant, ical_uid), source_key)

    async def contains(self, ical_uid: str) -> bool:
        return await self._inner.contains(tenant_key(self._tenant, ical_uid))


class ScopedWatches(_Purges):
    """``AppointmentWatchStore`` of one tenant's organizers."""

    _inner: AppointmentWatchStore

    def __init__(self, inner: AppointmentWatchStore, tenant: TenantId) -> None:
        self._inner, self._tenant = inner, tenant

    async def get(self, organizer: str, event_id: str) -> AppointmentWatch | None:
        state = await self._inner.get(in_tenant(self._tenant, organizer.lower()), event_id)
        return None if state is None else replace(state, organizer=organizer.lower())

    async def save(self, state: AppointmentWatch) -> None:
        await self._inner.save(replace(state, organizer=in_tenant(self._tenant, state.organizer.lower())))

    async def list(self, organizer: str) -> list[AppointmentWatch]:
        found = await self._inner.list(in_tenant(self._tenant, organizer.lower()))
        return [replace(state, organizer=organizer.lower()) for state in found]

    async def forget(self, organizer: str) -> None:
        await self._inner.forget(in_tenant(self._tenant, organizer.lower()))


def subscribing_for(deps: SubscriptionDeps, tenant: Tenant) -> SubscriptionDeps:
    """The subscription dependencies acting in ``tenant`` (itself for the default tenant)."""
    if tenant.scope is None:
        return deps
    if deps.tenant_clients is None:
        raise LookupError("this container has no Graph clients for other tenants")
    organizers = deps.organizers
    return replace(deps, rooms=ScopedCalendars(deps.rooms, tenant.id),
                   subscriptions=deps.tenant_clients.subscriptions(tenant),
                   organizers=ScopedCalendars(organizers, tenant.id) if organizers is not None else None,
                   tenant=tenant.id)


async def for_operator(text: str | None, deps: D, subscribing: SubscriptionDeps,
                       scope: Callable[[SubscriptionDeps, Tenant], D]) -> D | Reply:
    """``deps`` acting in the tenant an operator's ``?tenant=`` names (``scope`` makes them from the tenant's
    subscription dependencies); unchanged for the default tenant, also when none is named; or the answer: 400
    for a malformed or unknown id, 409 for a stopped tenant, each naming it."""
    found = await tenant_asked(text, subscribing.settings.tenant_id, subscribing.tenants, malformed="Unknown tenant",
                               unknown=400, refuse_stopped=True)
    if not isinstance(found, Tenant):
        return found or deps
    return scope(subscribing_for(subscribing, found), found)
