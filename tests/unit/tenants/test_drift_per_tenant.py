"""Drift runs per tenant, with fakes: a run of one tenant lists only its mappings (also where another tenant maps
into a mailbox of the same address), reads with its own Graph client, reports under it and queues its repairs in
it; the operator's ``?tenant=``; the timer running every active tenant, one's failure never stopping another's;
and the tenant view's credential health read from the tenant's own row."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import pytest

from shared.app.messaging import PLANNING_QUEUE, Delivery, OutboundMessage, queue_id, source_tag
from shared.app.operator.drift import DriftRunDeps, drift_report, request_drift_run, start_drift_runs
from shared.app.planning.drift import DRIFT_PROPERTY, scan_mailbox_message
from shared.app.planning.sync import sync_planning_message
from shared.app.ports.credentials import CredentialState
from shared.app.ports.planning import LAST_RUN
from shared.app.tenants.registry import TenantDeps, tenant_json
from shared.app.tenants.routing import CachedTenants
from shared.bootstrap.container import Container
from shared.bootstrap.lazy import Lazy
from shared.domain.planning.model import EntityKey
from shared.domain.tenants.keys import tenant_queue_id
from shared.domain.tenants.model import CredentialRef, Tenant, TenantId
from shared.errors import TransientError
from tests.fakes.credentials import FakeState
from tests.fakes.planning import FakeCalendar, InMemoryMappingStore
from tests.fakes.tenants import InMemoryTenantStore
from tests.support.builders import SOURCE, FakeWorld, body, cloud_event, task_data

DEFAULT = "11111111-1111-1111-1111-111111111111"
A = TenantId("0a0b0c0d-1111-4222-8333-444455556666")
B = TenantId("22222222-2222-2222-2222-222222222222")
SOURCE_A = "https://planning.example/fabrikam"
SOURCE_B = "https://planning.example/northwind"
ANNA = "anna@contoso.com"  # the same address in the default tenant's and in A's mappings


@dataclass
class _Calendars:
    by_tenant: dict[str, FakeCalendar]

    def calendar(self, tenant: Tenant) -> FakeCalendar:
        return self.by_tenant[tenant.id]


@dataclass
class Stage:
    world: FakeWorld
    store: InMemoryTenantStore
    a_calendar: FakeCalendar

    def services(self) -> Container:
        container = self.world.services(tenant_id=DEFAULT)
        container.tenant_cache = CachedTenants(container.settings, self.store.list, container.clock)
        container.tenant_calendars = Lazy.given(_Calendars({A: self.a_calendar}))  # type: ignore[arg-type]
        return container

    def runs(self) -> DriftRunDeps:
        return replace(self.services().drift_runs(), registered=self.store.list)


@pytest.fixture
async def stage() -> Stage:
    store = InMemoryTenantStore()
    await store.save(Tenant(A, "Fabrikam", (SOURCE_A,), CredentialRef("secret", "fabrikam-secret")))
    return Stage(FakeWorld(), store, FakeCalendar())


def _delivery(message: OutboundMessage) -> Delivery:
    return Delivery(message.message_id, 1, message.session_id, dict(message.application_properties))


def queued(stage: Stage) -> list[OutboundMessage]:
    pending = [m for q, m in stage.world.queue.sent if q == PLANNING_QUEUE]
    stage.world.queue.sent = []
    return pending


async def planned(stage: Stage, tenant: str | None, source: str) -> str:
    """Task 1 planned into Anna's calendar, by the sync worker acting in ``tenant``."""
    event = cloud_event("task.planned", "task/1", task_data(), source=source)
    properties = {"tenant": tenant} if tenant else {}
    await sync_planning_message(body(event), Delivery(event["id"], 1, event["subject"], properties),
                                stage.services().sync())
    mapping = stage.world.mappings.rows[EntityKey(source, "task/1", tenant)]
    assert mapping.event_id is not None
    return mapping.event_id


async def scan_all(stage: Stage, jobs: list[OutboundMessage]) -> list[str]:
    return [await scan_mailbox_message(j.body, _delivery(j), stage.services().drift()) for j in jobs]


class TestOneTenantsRun:
    async def test_a_run_of_a_lists_and_reads_only_as_mappings_with_as_client(self, stage: Stage) -> None:
        await planned(stage, None, SOURCE)
        a_event = await planned(stage, A, SOURCE_A)
        assert stage.world.calendar.in_mailbox(ANNA) and stage.a_calendar.in_mailbox(ANNA)
        del stage.a_calendar.events[a_event]  # A's event deleted in Outlook; the default tenant's is untouched
        stage.world.calendar.calls.clear()

        reply = await request_drift_run(stage.runs(), mailbox=None, source=None, tenant=A.upper())
        assert reply.status == 202
        [job] = queued(stage)
        assert job.application_properties == {DRIFT_PROPERTY: "scan", "tenant": A}
        assert job.session_id == tenant_queue_id(A, "drift", ANNA) and job.message_id.startswith(f"{A} ~")

        assert await scan_all(stage, [job]) == ["drift: 1 found"]
        assert stage.world.calendar.calls == []  # the default tenant's client read nothing
        assert stage.a_calendar.calls[-1] == ("list", ANNA)
        [repair] = queued(stage)
        assert repair.application_properties == {DRIFT_PROPERTY: "deleted", "source": SOURCE_A,
                                                 "subject": "task/1", "tenant": A}
        assert repair.session_id == tenant_queue_id(A, "task/1", source_tag(SOURCE_A))  # as ingest names it

        mine = (await drift_report(stage.runs(), A)).json()
        assert mine["run"]["runId"] == reply.json()["runId"] and mine["run"]["mailboxes"] == 1
        assert mine["found"]["deleted"] == 1 and [m["mailbox"] for m in mine["mailboxes"]] == [ANNA]
        assert (await drift_report(stage.runs())).json()["run"] is None  # nothing under the default tenant

        # The repair, handled by the sync worker in A, recreates A's event with A's client.
        await sync_planning_message(repair.body, _delivery(repair), stage.services().sync())
        [back] = stage.a_calendar.in_mailbox(ANNA)
        assert back.id != a_event and len(stage.world.calendar.in_mailbox(ANNA)) == 1

    async def test_the_default_tenants_run_keeps_its_ids_and_lists_only_its_own_rows(self, stage: Stage) -> None:
        default_event = await planned(stage, None, SOURCE)
        await planned(stage, A, SOURCE_A)
        del stage.world.calendar.events[default_event]
        reply = await request_drift_run(stage.runs(), mailbox=None, source=None, tenant=None)
        [job] = queued(stage)
        assert job.session_id == queue_id("drift", ANNA) and job.message_id == queue_id("drift", reply.json()["runId"],
                                                                                        ANNA)
        assert "tenant" not in job.application_properties
        await scan_all(stage, [job])
        assert stage.a_calendar.calls[-1] != ("list", ANNA)
        [repair] = queued(stage)  # only the default tenant's row, not A's of the same mailbox address
        assert repair.session_id == queue_id("task/1", source_tag(SOURCE)) and "tenant" not in \
            repair.application_properties
        assert (await drift_report(stage.runs())).json()["found"]["deleted"] == 1
        assert (await drift_report(stage.runs(), A)).json()["run"] is None

    async def test_an_adopted_orphan_of_a_gets_a_row_of_a(self, stage: Stage) -> None:
        event_id = await planned(stage, A, SOURCE_A)
        del stage.world.mappings.rows[EntityKey(SOURCE_A, "task/1", A)]  # the row was lost
        await request_drift_run(stage.runs(), mailbox=ANNA, source=None, tenant=A)
        await scan_all(stage, queued(stage))
        row = stage.world.mappings.rows[EntityKey(SOURCE_A, "task/1", A)]
        assert row.event_id == event_id and EntityKey(SOURCE_A, "task/1") not in stage.world.mappings.rows


class TestTheTenantParameter:
    async def test_malformed_unknown_and_stopped_are_refused_naming_it(self, stage: Stage) -> None:
        await stage.store.save(Tenant(B, "Northwind", (SOURCE_B,)))
        await stage.store.set_state(B, "stopped")
        for text, status in (("not-a-tenant", 400), ("33333333-3333-3333-3333-333333333333", 404), (B, 409)):
            reply = await request_drift_run(stage.runs(), mailbox=None, source=None, tenant=text)
            assert reply.status == status and reply.json()["parameter"] == "tenant", text
        assert queued(stage) == [] and stage.world.drift_reports.runs == {}

    async def test_the_default_tenants_id_is_the_default_tenant(self, stage: Stage) -> None:
        await planned(stage, None, SOURCE)
        assert (await request_drift_run(stage.runs(), mailbox=None, source=None, tenant=DEFAULT)).status == 202
        [job] = queued(stage)
        assert "tenant" not in job.application_properties

    async def test_a_job_of_a_tenant_stopped_since_is_dead_lettered(self, stage: Stage) -> None:
        await planned(stage, A, SOURCE_A)
        await request_drift_run(stage.runs(), mailbox=None, source=None, tenant=A)
        jobs = queued(stage)
        await stage.store.set_state(A, "stopped")
        assert await scan_all(stage, jobs) == ["dead-lettered"]
        assert stage.a_calendar.calls[-1] != ("list", ANNA)


class _Failing(InMemoryMappingStore):
    async def mailboxes(self, source: str | None = None, *, tenant: TenantId | None = None) -> list[str]:
        if tenant == A:
            raise TransientError("tables down")
        return await super().mailboxes(source, tenant=tenant)


class TestTheTimer:
    async def test_it_runs_the_default_tenant_then_each_active_one(self, stage: Stage) -> None:
        await stage.store.save(Tenant(B, "Northwind", (SOURCE_B,)))
        await stage.store.save(Tenant(TenantId("33333333-3333-3333-3333-333333333333"), "Stopped", ("s",)))
        await stage.store.set_state(TenantId("33333333-3333-3333-3333-333333333333"), "stopped")
        await planned(stage, None, SOURCE)
        await planned(stage, A, SOURCE_A)
        runs = await start_drift_runs(stage.runs(), trigger="timer")
        assert list(runs) == [None, A, B] and all(runs.values())
        jobs = queued(stage)
        assert [(j.application_properties.get("tenant"), json.loads(j.body)["mailbox"]) for j in jobs] == [
            (None, ANNA), (A, ANNA)]

    async def test_one_tenants_failure_never_stops_another(self, stage: Stage) -> None:
        await stage.store.save(Tenant(B, "Northwind", (SOURCE_B,)))
        mappings = _Failing(rows=stage.world.mappings.rows)
        runs = await start_drift_runs(replace(stage.runs(), mappings=mappings), trigger="timer")
        assert runs[None] is not None and runs[A] is None and runs[B] is not None
        assert set(stage.world.drift_reports.runs) == {LAST_RUN, f"{B} {LAST_RUN}"}

    async def test_without_a_registry_only_the_default_tenant_runs(self, stage: Stage) -> None:
        runs = await start_drift_runs(replace(stage.runs(), registered=None), trigger="timer")
        assert list(runs) == [None]


class TestCredentialHealthOfATenant:
    def deps(self, store: InMemoryTenantStore, rows: dict[TenantId, FakeState]) -> TenantDeps:
        services = FakeWorld().services(tenant_id=DEFAULT)
        default = FakeState(CredentialState(last_checked=datetime(2026, 5, 1, tzinfo=UTC)))
        return TenantDeps(settings=services.settings, store=store, nonces=store, purgeables=(), clock=services.clock,
                          credential_state=default, credential_state_of=lambda t: rows.setdefault(t, FakeState()))

    async def test_the_tenant_view_shows_its_own_rows_state(self, stage: Stage) -> None:
        checked, expires = datetime(2026, 5, 3, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC)
        rows = {A: FakeState(CredentialState(expires_on=expires, last_rotation=checked, last_checked=checked))}
        tenant = await stage.store.get(A)
        assert tenant is not None
        health = (await tenant_json(tenant, self.deps(stage.store, rows)))["credentialHealth"]
        assert health == {"status": "ok", "lastChecked": "2026-05-03T00:00:00+00:00", "problem": None,
                          "expiresOn": "2026-11-03T00:00:00+00:00", "lastRotation": "2026-05-03T00:00:00+00:00"}

    async def test_a_problem_and_a_row_never_written(self, stage: Stage) -> None:
        rows = {A: FakeState(CredentialState(problem="rotation failed: 403", last_checked=datetime.now(UTC)))}
        tenant = await stage.store.get(A)
        assert tenant is not None
        assert (await tenant_json(tenant, self.deps(stage.store, rows)))["credentialHealth"]["status"] == "problem"
        assert (await tenant_json(tenant, self.deps(stage.store, {})))["credentialHealth"]["status"] == "unchecked"
