"""Breakers, drift reports and own writes per tenant, as the use cases and the operator routes meet them: a
tenant's delete trips only its own breaker and is held in its tenant; the operator's ``?tenant=`` shows and decides
that tenant's (400 malformed, 404 unknown, the default tenant when absent); a tenant's room work knows only its own
writes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from shared.app.messaging import Delivery
from shared.app.operator.breakers import decide_breaker, list_breakers
from shared.app.operator.drift import drift_report
from shared.app.planning.breaker import admit_delete
from shared.app.planning.tenancy import ScopedBreakers, ScopedDriftReports
from shared.app.ports.breakers import BreakerState
from shared.app.ports.planning import DriftRun, MailboxDrift
from shared.app.rooms.tenancy import ScopedOwnWrites
from shared.app.tenants.routing import CachedTenants
from shared.bootstrap.container import Container
from shared.domain.planning.model import EntityKey
from shared.domain.tenants.model import CredentialRef, Tenant, TenantId
from tests.fakes.planning import InMemoryDriftReportStore
from tests.fakes.tenants import InMemoryTenantStore
from tests.support.builders import FakeWorld

DEFAULT = "11111111-1111-1111-1111-111111111111"
A = TenantId("22222222-2222-2222-2222-222222222222")
UNKNOWN = "33333333-3333-3333-3333-333333333333"
SOURCE = "https://planning.example/omd"
NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)


@pytest.fixture
async def container() -> Container:
    world, store = FakeWorld(), InMemoryTenantStore()
    await store.save(Tenant(A, "Fabrikam", (SOURCE,), CredentialRef("secret", "fabrikam-secret")))
    services = world.services(tenant_id=DEFAULT)
    services.tenant_cache = CachedTenants(services.settings, store.list, services.clock)
    return services


async def _trip(container: Container, tenant: TenantId | None) -> None:
    await ScopedBreakers(container.breakers(), tenant).trip(BreakerState(SOURCE, tripped=True, since=NOW,
                                                                         reason="too many", deletes=9))


class TestBreakers:
    async def test_a_tenants_delete_is_held_in_its_tenant_and_trips_only_its_breaker(
            self, container: Container) -> None:
        await _trip(container, A)
        deps = container.breaker()
        scoped = replace(deps, store=ScopedBreakers(deps.store, A))
        delivery = Delivery("m1", 1, "task/1~x", {"tenant": A})
        assert not await admit_delete(EntityKey(SOURCE, "task/1", A), "anna@fabrikam.com", b"{}", delivery, scoped)
        held = await ScopedBreakers(deps.store, A).held(SOURCE)
        assert [m.application_properties for m in held] == [{"tenant": A}]  # a release queues it in tenant A
        default = await ScopedBreakers(deps.store, None).get(SOURCE)
        assert default is None  # the default tenant's breaker of the same source stays closed

    async def test_the_operator_sees_and_decides_the_named_tenants_breakers(self, container: Container) -> None:
        await _trip(container, A)
        deps = container.breaker_operator()
        mine = (await list_breakers(deps, A)).json()["value"]
        assert [(b["source"], b["state"]) for b in mine] == [(SOURCE, "tripped")]
        assert (await list_breakers(deps)).json()["value"] == []  # the default tenant's: none
        assert (await list_breakers(deps, DEFAULT)).json()["value"] == []
        assert (await decide_breaker("x", "release", deps)).status == 404  # no such breaker of the default tenant
        released = await decide_breaker(SOURCE, "discard", deps, A)
        assert released.status == 200 and released.json()["state"] == "closed"

    async def test_a_malformed_tenant_is_400_and_an_unknown_one_404(self, container: Container) -> None:
        deps = container.breaker_operator()
        assert (await list_breakers(deps, "not-a-guid")).status == 400
        assert (await list_breakers(deps, UNKNOWN)).status == 404
        assert (await decide_breaker(SOURCE, "release", deps, UNKNOWN)).status == 404


class TestDrift:
    async def test_a_tenants_drift_is_shown_under_it_only(self, container: Container) -> None:
        reports = InMemoryDriftReportStore()
        deps = container.drift_runs()
        deps = replace(deps, reports=reports)
        mine = ScopedDriftReports(reports, A)
        await mine.start(DriftRun("run-a", NOW, "operator", "report", 1))
        await mine.record(MailboxDrift("run-a", "anna@fabrikam.com", NOW, {"deleted": 2}, {"reported": 2}))
        shown = (await drift_report(deps, A)).json()
        assert shown["run"]["runId"] == "run-a" and shown["found"] == {"deleted": 2}
        assert [m["mailbox"] for m in shown["mailboxes"]] == ["anna@fabrikam.com"]
        assert (await drift_report(deps)).json()["run"] is None  # not under the default tenant
        assert (await drift_report(deps, "nope")).status == 400
        assert (await drift_report(deps, UNKNOWN)).status == 404


class TestOwnWrites:
    async def test_an_own_write_of_one_tenant_does_not_suppress_anothers_notification(self) -> None:
        from tests.fakes.rooms import InMemoryOwnWrites

        store = InMemoryOwnWrites()
        await ScopedOwnWrites(store, A).record("ical-1", f"{SOURCE} reservation/1")
        assert await ScopedOwnWrites(store, A).contains("ical-1")
        assert not await store.contains("ical-1")  # the default tenant's room: its notification is published
