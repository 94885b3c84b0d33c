"""The planning side's own stores of a tenant: its mass-deletion breakers, its drift reports and its mappings.

As with rooms and people (``shared/app/rooms/tenancy.py``, ``shared/app/people/tenancy.py``), the use cases stay
as they are: they are handed views of the one store of every tenant's rows *for* a tenant, which scope every key
they are given with ``tenant_key(tenant, key)`` and strip the scope from what they return. The default tenant's
view (tenant None) leaves its keys as they always were, so existing rows keep working, and lists only its own
rows. A purge of a tenant removes the rows its id leads. The mapping rows already carry their tenant
(``EntityKey.tenant``): that view sets it on the keys it is given and clears it on the rows it returns.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from shared.app.ports.breakers import BreakerState, BreakerStore, HeldMessage
from shared.app.ports.planning import LAST_RUN, DriftReportStore, DriftRun, MailboxDrift, MappingStore
from shared.app.rooms.tenancy import _Purges
from shared.domain.planning.breaker import DeleteCounts
from shared.domain.planning.model import EntityKey, Mapping
from shared.domain.tenants.keys import tenant_key, tenant_of_key
from shared.domain.tenants.model import TenantId

__all__ = ["ScopedBreakers", "ScopedDriftReports", "ScopedMappings"]


class ScopedBreakers(_Purges):
    """``BreakerStore`` of one tenant's sources (None: the default tenant's, keys unchanged)."""

    _inner: BreakerStore

    def __init__(self, inner: BreakerStore, tenant: TenantId | None) -> None:
        self._inner, self._tenant = inner, tenant

    def _in(self, source: str) -> str:
        return tenant_key(self._tenant, source)

    def _mine(self, source: str) -> bool:
        return tenant_of_key(source)[0] == self._tenant

    @staticmethod
    def _out_state(state: BreakerState) -> BreakerState:
        return replace(state, source=tenant_of_key(state.source)[1])

    async def get(self, source: str) -> BreakerState | None:
        state = await self._inner.get(self._in(source))
        return None if state is None else self._out_state(state)

    async def count_delete(self, source: str, mailbox: str, *, delete_id: str, epoch: int, bucket: int,
                           window: int) -> DeleteCounts:
        return await self._inner.count_delete(self._in(source), mailbox, delete_id=delete_id, epoch=epoch,
                                              bucket=bucket, window=window)

    async def trip(self, state: BreakerState) -> BreakerState:
        return self._out_state(await self._inner.trip(replace(state, source=self._in(state.source))))

    async def reset(self, source: str, *, decision: str, at: datetime) -> BreakerState:
        return self._out_state(await self._inner.reset(self._in(source), decision=decision, at=at))

    async def hold(self, message: HeldMessage) -> None:
        await self._inner.hold(replace(message, source=self._in(message.source)))

    async def held(self, source: str) -> list[HeldMessage]:
        return [replace(m, source=source) for m in await self._inner.held(self._in(source))]

    async def count_held(self, source: str) -> int:
        return await self._inner.count_held(self._in(source))

    async def unhold(self, source: str, message_id: str) -> None:
        await self._inner.unhold(self._in(source), message_id)

    async def list(self) -> list[BreakerState]:
        return [self._out_state(s) for s in await self._inner.list() if self._mine(s.source)]


class ScopedDriftReports(_Purges):
    """``DriftReportStore`` of one tenant's drift runs (None: the default tenant's, keys unchanged)."""

    _inner: DriftReportStore

    def __init__(self, inner: DriftReportStore, tenant: TenantId | None) -> None:
        self._inner, self._tenant = inner, tenant

    async def start(self, run: DriftRun, key: str = LAST_RUN) -> None:
        await self._inner.start(run, tenant_key(self._tenant, key))

    async def last_run(self, key: str = LAST_RUN) -> DriftRun | None:
        return await self._inner.last_run(tenant_key(self._tenant, key))

    async def record(self, report: MailboxDrift) -> None:
        await self._inner.record(replace(report, mailbox=tenant_key(self._tenant, report.mailbox)))

    async def reports(self, run_id: str) -> list[MailboxDrift]:
        found = [(tenant_of_key(r.mailbox), r) for r in await self._inner.reports(run_id)]
        return [replace(r, mailbox=mailbox) for (tenant, mailbox), r in found if tenant == self._tenant]


class ScopedMappings(_Purges):
    """``MappingStore`` of one tenant's entities (None: the default tenant's, keys unchanged): a drift run of the
    tenant lists and repairs only its own rows, also where another tenant maps into a mailbox of the same address."""

    _inner: MappingStore

    def __init__(self, inner: MappingStore, tenant: TenantId | None) -> None:
        self._inner, self._tenant = inner, tenant

    def _in(self, key: EntityKey) -> EntityKey:
        return replace(key, tenant=self._tenant)

    @staticmethod
    def _out(mapping: Mapping) -> Mapping:
        return replace(mapping, key=replace(mapping.key, tenant=None))

    async def get(self, key: EntityKey) -> Mapping | None:
        mapping = await self._inner.get(self._in(key))
        return None if mapping is None else self._out(mapping)

    async def save(self, mapping: Mapping) -> Mapping:
        return self._out(await self._inner.save(replace(mapping, key=self._in(mapping.key))))

    async def last_mailbox(self) -> str | None:
        return await self._inner.last_mailbox()  # the doctor's sample: any tenant's, as it always was

    async def count_live(self, source: str) -> int:
        return await self._inner.count_live(tenant_key(self._tenant, source))

    async def in_mailbox(self, mailbox: str) -> list[Mapping]:
        return [self._out(m) for m in await self._inner.in_mailbox(mailbox) if (m.key.tenant or None) == self._tenant]

    async def mailboxes(self, source: str | None = None, *, tenant: TenantId | None = None) -> list[str]:
        return await self._inner.mailboxes(source, tenant=self._tenant)
