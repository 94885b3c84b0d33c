"""Breakers, drift reports and own writes of two tenants over one store: the in-memory fakes and the Table Storage
adapters, one suite. The same source, mailbox and iCalUId in tenants A and B (or the default) never collide, the
default tenant's keys are as they always were, and a purge of A removes A's rows only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from shared.app.planning.tenancy import ScopedBreakers, ScopedDriftReports
from shared.app.ports.breakers import BreakerState, BreakerStore, HeldMessage
from shared.app.ports.planning import DriftReportStore, DriftRun, MailboxDrift
from shared.app.ports.rooms import OwnWrites
from shared.app.rooms.tenancy import ScopedOwnWrites
from shared.domain.tenants.model import TenantId
from tests.contract.conftest import FAKE_AND_TABLES, table_stores_of
from tests.fakes.breakers import InMemoryBreakerStore
from tests.fakes.planning import InMemoryDriftReportStore
from tests.fakes.rooms import InMemoryOwnWrites

A = TenantId("11111111-1111-1111-1111-111111111111")
B = TenantId("22222222-2222-2222-2222-222222222222")
SOURCE = "https://planning.example.com/omd"
ANNA = "anna@contoso.com"
NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)
BUCKET = 29_616_480


@dataclass
class Stores:
    breakers: BreakerStore
    drift: DriftReportStore
    own_writes: OwnWrites


@pytest.fixture(params=FAKE_AND_TABLES)
def stores(request: pytest.FixtureRequest) -> Stores:
    if request.param == "fake":
        return Stores(InMemoryBreakerStore(), InMemoryDriftReportStore(), InMemoryOwnWrites())
    tables = table_stores_of(request)
    from shared.adapters.tables.breakers import TableBreakerStore
    from shared.adapters.tables.drift import TableDriftReportStore
    from shared.adapters.tables.rooms import RoomTables

    return Stores(TableBreakerStore(tables), TableDriftReportStore(tables), RoomTables(tables).own_writes)


def held(n: int, source: str = SOURCE) -> HeldMessage:
    return HeldMessage(source=source, id=f"{n:032x}", message_id=f"evt-{n}", session_id=f"task/{n}",
                       subject=f"task/{n}", mailbox=ANNA, body="{}", held_at=NOW + timedelta(seconds=n),
                       application_properties={"tenant": A})


async def _trip_and_hold(store: BreakerStore) -> None:
    await store.count_delete(SOURCE, ANNA, delete_id="d0", epoch=0, bucket=BUCKET, window=10)
    await store.trip(BreakerState(SOURCE, tripped=True, since=NOW, reason="too many", deletes=1))
    await store.hold(held(1))


class TestBreakers:
    async def test_a_breaker_open_for_one_tenant_leaves_the_others_closed(self, stores: Stores) -> None:
        a, b, default = (ScopedBreakers(stores.breakers, t) for t in (A, B, None))
        await _trip_and_hold(a)
        state = await a.get(SOURCE)
        assert state is not None and state.tripped and state.source == SOURCE
        assert [s.source for s in await a.list()] == [SOURCE]
        assert [m.source for m in await a.held(SOURCE)] == [SOURCE] and await a.count_held(SOURCE) == 1
        for other in (b, default):
            assert await other.get(SOURCE) is None and await other.list() == []
            assert await other.count_held(SOURCE) == 0 and await other.held(SOURCE) == []
            counts = await other.count_delete(SOURCE, ANNA, delete_id="d0", epoch=0, bucket=BUCKET, window=10)
            assert (counts.source, counts.mailbox) == (1, 1)  # A's delete is not B's
        closed = await a.reset(SOURCE, decision="released", at=NOW)
        assert closed.source == SOURCE and not closed.tripped

    async def test_the_default_tenants_keys_are_unchanged(self, stores: Stores) -> None:
        await _trip_and_hold(ScopedBreakers(stores.breakers, None))
        assert [s.source for s in await stores.breakers.list()] == [SOURCE]
        assert await stores.breakers.count_held(SOURCE) == 1

    async def test_a_purge_removes_the_tenants_rows_only(self, stores: Stores) -> None:
        for tenant in (A, B, None):
            await _trip_and_hold(ScopedBreakers(stores.breakers, tenant))
        assert await ScopedBreakers(stores.breakers, A).purge(A) == 4  # its state, two delete-log rows, one held
        assert await stores.breakers.purge(A) == 0  # again: nothing left
        a = ScopedBreakers(stores.breakers, A)
        assert await a.list() == [] and await a.count_held(SOURCE) == 0
        fresh = await a.count_delete(SOURCE, ANNA, delete_id="d9", epoch=0, bucket=BUCKET, window=10)
        assert fresh.source == 1
        for kept in (B, None):
            view = ScopedBreakers(stores.breakers, kept)
            assert [s.tripped for s in await view.list()] == [True] and await view.count_held(SOURCE) == 1


def _run(run_id: str) -> DriftRun:
    return DriftRun(run_id, NOW, "operator", "report", 1)


def _report(run_id: str, found: int) -> MailboxDrift:
    return MailboxDrift(run_id, ANNA, NOW, {"deleted": found}, {"reported": found})


class TestDriftReports:
    async def test_drift_of_one_tenant_is_not_shown_under_another(self, stores: Stores) -> None:
        a, b, default = (ScopedDriftReports(stores.drift, t) for t in (A, B, None))
        await a.start(_run("run-a"))
        await a.record(_report("run-a", 3))
        await default.start(_run("run-d"))
        await default.record(_report("run-d", 1))
        assert (await a.last_run() or _run("")).run_id == "run-a"
        assert [(r.mailbox, r.found) for r in await a.reports("run-a")] == [(ANNA, {"deleted": 3})]
        assert await b.last_run() is None and await b.reports("run-a") == []
        assert (await default.last_run() or _run("")).run_id == "run-d"
        assert await default.reports("run-a") == []
        assert [r.found for r in await default.reports("run-d")] == [{"deleted": 1}]
        # The default tenant's rows are where they always were.
        assert (await stores.drift.last_run() or _run("")).run_id == "run-d"
        assert [r.mailbox for r in await stores.drift.reports("run-d")] == [ANNA]

    async def test_a_purge_removes_the_tenants_rows_only(self, stores: Stores) -> None:
        for tenant, run_id in ((A, "run-a"), (B, "run-b"), (None, "run-d")):
            view = ScopedDriftReports(stores.drift, tenant)
            await view.start(_run(run_id))
            await view.record(_report(run_id, 2))
        assert await stores.drift.purge(A) == 2 and await stores.drift.purge(A) == 0
        assert await ScopedDriftReports(stores.drift, A).last_run() is None
        for tenant, run_id in ((B, "run-b"), (None, "run-d")):
            view = ScopedDriftReports(stores.drift, tenant)
            assert (await view.last_run() or _run("")).run_id == run_id and len(await view.reports(run_id)) == 1


class TestOwnWrites:
    async def test_an_own_write_of_one_tenant_is_not_anothers(self, stores: Stores) -> None:
        a, b = ScopedOwnWrites(stores.own_writes, A), ScopedOwnWrites(stores.own_writes, B)
        await a.record("uid-1", f"{SOURCE} reservation/1")
        assert await a.contains("uid-1")
        assert not await b.contains("uid-1") and not await stores.own_writes.contains("uid-1")

    async def test_the_default_tenants_keys_are_unchanged_and_a_purge_removes_the_tenants_only(
            self, stores: Stores) -> None:
        await stores.own_writes.record("uid-1", "k")
        for tenant in (A, B):
            await ScopedOwnWrites(stores.own_writes, tenant).record("uid-1", "k")
        assert await stores.own_writes.purge(A) == 1 and await stores.own_writes.purge(A) == 0
        assert not await ScopedOwnWrites(stores.own_writes, A).contains("uid-1")
        assert await ScopedOwnWrites(stores.own_writes, B).contains("uid-1")
        assert await stores.own_writes.contains("uid-1")
