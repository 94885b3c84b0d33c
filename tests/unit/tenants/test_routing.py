"""Routing at ingest and per-tenant keys: which tenant an event belongs to, what is refused, what its message
carries, and that the sync writes with the tenant's own calendar and keys."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from shared.app.messaging import Delivery
from shared.app.planning.ingest import ingest_planning_events
from shared.app.planning.sync import sync_planning_message
from shared.app.tenants.routing import TTL, CachedTenants
from shared.bootstrap.container import Container
from shared.domain.planning.model import EntityKey
from shared.domain.queue_ids import MAX_ID_CHARS, source_tag
from shared.domain.tenants.keys import tenant_key, tenant_of_key, tenant_queue_id
from shared.domain.tenants.model import CredentialRef, Tenant, TenantId
from shared.errors import TransientError
from tests.fakes.planning import FakeCalendar
from tests.fakes.tenants import InMemoryTenantStore
from tests.support.builders import FakeWorld, cloud_event, task_data

DEFAULT = "11111111-1111-1111-1111-111111111111"
B = TenantId("22222222-2222-2222-2222-222222222222")
SOURCE_B = "https://planning.example/fabrikam"
BATCH = "application/cloudevents-batch+json"


class TestKeys:
    def test_the_default_tenants_keys_are_unchanged(self) -> None:
        assert tenant_key(None, "https://planning.example/a") == "https://planning.example/a"
        assert tenant_queue_id(None, "task/1", "abc") == "task/1~abc"

    def test_another_tenants_keys_are_led_by_it_and_never_equal_a_default_key(self) -> None:
        scoped = tenant_key(B, "https://planning.example/a")
        assert scoped == f"{B} https://planning.example/a" and tenant_of_key(scoped) == (B, "https://planning.example/a")
        assert tenant_of_key("https://planning.example/a") == (None, "https://planning.example/a")
        # The same entity of two tenants: two keys (and two mapping partitions).
        assert EntityKey("s", "task/1").partition != EntityKey("s", "task/1", B).partition

    def test_a_scoped_queue_id_fits_service_bus(self) -> None:
        assert len(tenant_queue_id(B, "E" * 128, "f" * 12)) <= MAX_ID_CHARS
        assert tenant_queue_id(B, "task/1", "t") != tenant_queue_id(None, "task/1", "t")


@dataclass
class Registry:
    store: InMemoryTenantStore = field(default_factory=InMemoryTenantStore)
    reads: int = 0

    async def rows(self) -> list[Tenant]:
        self.reads += 1
        return await self.store.list()


@pytest.fixture
def world() -> FakeWorld:
    return FakeWorld()


def services(world: FakeWorld, registry: Registry, calendars: dict[str, FakeCalendar] | None = None) -> Container:
    container = world.services(tenant_id=DEFAULT)
    container.tenant_cache = CachedTenants(container.settings, registry.rows, container.clock)
    if calendars is not None:
        from shared.bootstrap.lazy import Lazy

        container.tenant_calendars = Lazy.given(_Calendars(calendars))  # type: ignore[arg-type]
    return container


@dataclass
class _Calendars:
    by_tenant: dict[str, FakeCalendar]

    def calendar(self, tenant: Tenant) -> FakeCalendar:
        return self.by_tenant[tenant.id]


async def register_b(registry: Registry, **changes: object) -> None:
    await registry.store.save(Tenant(B, "Fabrikam", (SOURCE_B,), CredentialRef("secret", "fabrikam-secret")))
    if changes.get("stopped"):
        await registry.store.set_state(B, "stopped")


async def post(container: Container, events: list[dict[str, object]]):  # type: ignore[no-untyped-def]
    return await ingest_planning_events(json.dumps(events).encode(), BATCH, container.ingest())


class TestRouting:
    async def test_an_event_goes_to_the_tenant_whose_sources_name_it(self, world: FakeWorld) -> None:
        registry = Registry()
        await register_b(registry)
        event = cloud_event("task.planned", "task/1", task_data(), source=SOURCE_B)
        reply = await post(services(world, registry), [event])
        assert reply.status == 202
        message = world.queue.sent[0][1]
        assert message.application_properties["tenant"] == B
        assert message.session_id == f"{B} ~task/1~{source_tag(SOURCE_B)}"
        assert message.message_id.startswith(f"{B} ~")

    async def test_an_unclaimed_source_goes_to_the_default_tenant_with_todays_ids(self, world: FakeWorld) -> None:
        registry = Registry()
        await register_b(registry)
        event = cloud_event("task.planned", "task/1", task_data())
        assert (await post(services(world, registry), [event])).status == 202
        message = world.queue.sent[0][1]
        assert message.application_properties["tenant"] == DEFAULT
        assert message.session_id == f"task/1~{source_tag(event['source'])}"

    async def test_without_a_catch_all_an_unknown_source_is_a_400_naming_it(self, world: FakeWorld) -> None:
        registry = Registry()
        await registry.store.save(Tenant(TenantId(DEFAULT), "Contoso", ("https://planning.example/contoso",)))
        events = [cloud_event("task.planned", "task/1", task_data(), source="https://planning.example/contoso"),
                  cloud_event("task.planned", "task/2", task_data(), source="https://unknown.example")]
        reply = await post(services(world, registry), events)
        assert reply.status == 400 and "https://unknown.example" in reply.json()["detail"]
        assert [(e["index"], e["path"]) for e in reply.json()["errors"]] == [(1, "$.source")]
        assert world.queue.sent == []

    async def test_a_stopped_tenants_events_are_a_409(self, world: FakeWorld) -> None:
        registry = Registry()
        await register_b(registry, stopped=True)
        reply = await post(services(world, registry), [cloud_event("task.unplanned", "task/1", source=SOURCE_B)])
        assert reply.status == 409 and B in reply.json()["detail"] and world.queue.sent == []

    async def test_the_tenant_attribute_must_name_the_sources_tenant(self, world: FakeWorld) -> None:
        registry = Registry()
        await register_b(registry)
        agreeing = {**cloud_event("task.unplanned", "task/1", source=SOURCE_B), "tenant": B.upper()}
        other = {**cloud_event("task.unplanned", "task/2", source=SOURCE_B), "tenant": DEFAULT}
        container = services(world, registry)
        assert (await post(container, [agreeing])).status == 202
        refused = await post(container, [other])
        assert refused.status == 400 and SOURCE_B in refused.json()["detail"] and len(world.queue.sent) == 1

    async def test_single_tenant_setup_needs_no_registry_row(self, world: FakeWorld) -> None:
        reply = await post(services(world, Registry()), [cloud_event("task.planned", "task/1", task_data())])
        assert reply.status == 202 and world.queue.sent[0][1].application_properties["tenant"] == DEFAULT


class TestCache:
    async def test_the_registry_is_read_once_per_ttl_and_a_change_arrives_after_it(self, world: FakeWorld) -> None:
        registry = Registry()
        container = services(world, registry)
        event = cloud_event("task.unplanned", "task/1", source=SOURCE_B)
        for _ in range(50):
            await post(container, [event])
        assert registry.reads == 1
        await register_b(registry)
        assert (await container.tenant_cache.by_source(SOURCE_B)).id == DEFAULT  # type: ignore[union-attr]
        world.advance(TTL.total_seconds())
        assert (await container.tenant_cache.by_source(SOURCE_B)).id == B  # type: ignore[union-attr]
        assert registry.reads == 2

    async def test_a_change_made_through_this_instance_routes_at_once(self, world: FakeWorld) -> None:
        from shared.app.tenants.registry import put_tenant
        from shared.bootstrap.lazy import Lazy

        registry = Registry()
        container = services(world, registry)
        container.tenant_store = Lazy.given(registry.store)
        assert (await container.tenant_cache.by_source(SOURCE_B)).id == DEFAULT  # type: ignore[union-attr]
        body = {"displayName": "Fabrikam", "sources": [SOURCE_B],
                "credential": {"kind": "secret", "secretName": "fabrikam-secret"}}
        assert (await put_tenant(B, json.dumps(body).encode(), container.tenants())).status == 201
        assert (await container.tenant_cache.by_source(SOURCE_B)).id == B  # type: ignore[union-attr]

    async def test_an_unreadable_registry_keeps_the_list_read_before(self, world: FakeWorld) -> None:
        registry = Registry()
        await register_b(registry)
        cache = CachedTenants(services(world, registry).settings, registry.rows, lambda: world.now)
        assert (await cache.by_id(B)) is not None

        async def failing() -> list[Tenant]:
            raise TransientError("tables down")

        cache._rows = failing  # type: ignore[method-assign]
        world.advance(TTL.total_seconds() + 1)
        assert (await cache.by_id(B)) is not None
        cold = CachedTenants(cache._settings, failing, lambda: world.now)
        with pytest.raises(TransientError):
            await cold.by_id(B)
        assert timedelta(seconds=1) < TTL


class TestSyncPerTenant:
    async def test_the_tenants_event_is_written_with_its_calendar_and_keys(self, world: FakeWorld) -> None:
        registry = Registry()
        await register_b(registry)
        theirs = FakeCalendar()
        container = services(world, registry, {B: theirs})
        events = [cloud_event("task.planned", "task/1", task_data(), source=SOURCE_B),
                  cloud_event("task.planned", "task/1", task_data(), source="https://planning.example/default")]
        assert (await post(container, events)).status == 202
        for _, message in world.queue.sent:
            delivery = Delivery(message.message_id, 1, message.session_id, dict(message.application_properties))
            assert await sync_planning_message(message.body, delivery, container.sync()) == "create"
        assert len(theirs.events) == 1 and len(world.calendar.events) == 1  # each tenant's calendar, once
        keys = sorted(world.mappings.rows, key=lambda k: k.tenant or "")
        assert [k.tenant for k in keys] == [None, B]

    async def test_a_stopped_tenants_queued_event_is_dead_lettered_not_written(self, world: FakeWorld) -> None:
        registry = Registry()
        await register_b(registry)
        container = services(world, registry, {B: FakeCalendar()})
        await post(container, [cloud_event("task.planned", "task/1", task_data(), source=SOURCE_B)])
        await registry.store.set_state(B, "stopped")
        world.advance(TTL.total_seconds())
        message = world.queue.sent[0][1]
        delivery = Delivery(message.message_id, 1, message.session_id, dict(message.application_properties))
        assert await sync_planning_message(message.body, delivery, container.sync()) == "dead-lettered"
        assert world.mappings.rows == {}
        [record] = world.deadletters.records.values()
        assert record.tenant == B and f"tenant {B} is stopped" in record.reason


class TestPausePerTenant:
    async def test_a_tenants_failing_credential_defers_and_pauses_only_that_tenant(self, world: FakeWorld) -> None:
        from shared.errors import CredentialUnavailable

        registry = Registry()
        await register_b(registry)
        failing = FakeCalendar()
        failing.faults.append(("create", CredentialUnavailable("Entra refused the secret credential (AADSTS7000215)")))
        container = services(world, registry, {B: failing})
        events = [cloud_event("task.planned", "task/1", task_data(), source=SOURCE_B),
                  cloud_event("task.planned", "task/2", task_data(), source="https://planning.example/default")]
        assert (await post(container, events)).status == 202
        outcomes = []
        for _, message in list(world.queue.sent):
            delivery = Delivery(message.message_id, 1, message.session_id, dict(message.application_properties))
            outcomes.append(await sync_planning_message(message.body, delivery, container.sync()))
        assert outcomes == ["deferred", "create"]  # B waits, the default tenant's event lands
        health = container.settlement().pause
        assert health.paused(B) == world.now and health.paused(None) is None  # type: ignore[attr-defined]
        assert world.credential_state.state.unavailable_since is None  # the shared (default) state: not paused
        deferred = world.queue.sent[-1][1]
        assert deferred.application_properties["tenant"] == B
        assert deferred.session_id == world.queue.sent[0][1].session_id
