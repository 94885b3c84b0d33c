"""Which tenant an inbound event belongs to, answered from process memory.

``CachedTenants`` is the ``TenantLookup`` of the request path: it reads the registry (a handful of rows) at most
once per ``TTL`` per process and answers from memory in between, so an ingest costs no table read. A change to
the registry (a new tenant, a source moved, a tenant stopped) reaches every instance within ``TTL``; until then
an instance routes by what it read last. When the registry cannot be read, the last list read is kept (and read
again on the next request after ``RETRY``); with none yet, the error reaches the caller (ingest answers 503).

``route`` is the rule: the tenant whose ``sources`` name the event's CloudEvent ``source`` (else the default
tenant while it takes every unclaimed source). An extension attribute ``tenant`` does not pick another tenant:
it must name the tenant the source routes to, so a planning system can state which organisation it writes for
and a source registered to another tenant is refused instead of written into that tenant's mailboxes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.app.ports.clock import Clock
from shared.app.ports.tenants import TenantLookup
from shared.app.tenants.directory import default_tenant, merge_default
from shared.config import Settings
from shared.domain.tenants.model import Tenant, TenantId
from shared.errors import ConnectorError

__all__ = ["CachedTenants", "RETRY", "Refused", "TTL", "route"]

logger = logging.getLogger(__name__)

TTL = timedelta(seconds=30)
RETRY = timedelta(seconds=5)


@dataclass(frozen=True)
class Refused:
    """Why an event was not routed: the HTTP status and the sentence naming the source."""

    status: int
    detail: str


class CachedTenants:
    """``TenantLookup`` over the registry's rows (``rows``) and the settings, kept in memory for ``ttl``."""

    def __init__(self, settings: Settings, rows: Callable[[], Awaitable[list[Tenant]]], clock: Clock,
                 ttl: timedelta = TTL) -> None:
        self._settings = settings
        self._rows = rows
        self._clock = clock
        self._ttl = ttl
        self._by_id: dict[str, Tenant] = {}
        self._by_source: dict[str, Tenant] = {}
        self._catch_all: Tenant | None = None
        self._next_read: datetime | None = None
        self._lock: asyncio.Lock | None = None

    def invalidate(self) -> None:
        """Read the registry again on the next lookup (this instance changed it)."""
        self._next_read = None

    async def by_source(self, source: str) -> Tenant | None:
        await self._fresh()
        return self._by_source.get(source) or self._catch_all

    async def by_id(self, tenant_id: str) -> Tenant | None:
        await self._fresh()
        return self._by_id.get(tenant_id.strip().lower())

    async def all(self) -> list[Tenant]:
        await self._fresh()
        return list(self._by_id.values())

    async def _fresh(self) -> None:
        if self._next_read is not None and self._clock() < self._next_read:
            return
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            now = self._clock()
            if self._next_read is not None and now < self._next_read:
                return  # another request read it meanwhile
            try:
                rows = await self._rows()
            except ConnectorError as exc:
                if self._next_read is None and not self._by_id:
                    raise
                logger.warning("tenant registry not readable (%s); routing by the list read before", exc)
                self._next_read = now + RETRY
                return
            self._index(rows)
            self._next_read = now + self._ttl

    def _index(self, rows: list[Tenant]) -> None:
        default = default_tenant(self._settings)
        tenants = [t for t in rows if default is None or t.id != default.id]
        if default is not None:
            tenants.insert(0, merge_default(default, next((t for t in rows if t.id == default.id), None)))
        self._by_id = {t.id: t for t in tenants}
        self._by_source = {source: t for t in tenants for source in t.sources}
        self._catch_all = next((t for t in tenants if t.catch_all), None)


async def route(source: str, named: object, tenants: TenantLookup) -> Tenant | Refused:
    """The tenant an event of ``source`` belongs to (``named``: its ``tenant`` extension attribute, if any)."""
    owner = await tenants.by_source(source)
    if named is not None and (not isinstance(named, str)
                              or (owner is not None and owner.id != named.strip().lower())):
        where = f"to tenant {owner.id}" if owner is not None else "to no tenant"
        return Refused(400, f"the event's tenant attribute {named!r} does not name the tenant its source "
                            f"{source!r} belongs {where}")
    if owner is None:
        return Refused(400, f"no tenant takes events of source {source!r}: register it in a tenant's sources "
                            f"(PUT /api/manage/tenants/{{tenantId}})")
    if owner.stopped:
        return Refused(409, f"tenant {owner.id}, which source {source!r} belongs to, is stopped: its events are "
                            f"not accepted until it is added again (PUT /api/manage/tenants/{TenantId(owner.id)})")
    return owner
