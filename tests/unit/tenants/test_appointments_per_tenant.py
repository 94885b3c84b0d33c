"""Appointments act in the event's tenant: the tenant's meetings (its own token), its keys, and its join-link
read-backs on its own session; the default tenant's stay as they were."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.app.messaging import PLANNING_QUEUE, Delivery
from shared.app.people.appointments import sync_appointment_message
from shared.app.ports.rooms import DEFAULT_LOG
from shared.app.tenants.routing import CachedTenants
from shared.bootstrap import Container
from shared.bootstrap.lazy import Lazy
from shared.domain.tenants.keys import tenant_key
from shared.domain.tenants.model import CredentialRef, Tenant, TenantId
from tests.fakes.people import FakeMeetings
from tests.fakes.tenants import InMemoryTenantStore
from tests.support.builders import body
from tests.unit.people.world import PeopleWorld, scheduled

B = TenantId("22222222-2222-2222-2222-222222222222")


@dataclass
class _Clients:
    meetings_of: dict[str, FakeMeetings] = field(default_factory=dict)

    def meetings(self, tenant: Tenant) -> FakeMeetings:
        return self.meetings_of[tenant.id]

    def calendar(self, tenant: Tenant) -> Any:
        raise AssertionError("appointments write meetings, not calendar events")


@dataclass
class TenantWorld(PeopleWorld):
    theirs: FakeMeetings = field(default_factory=FakeMeetings)
    registry: InMemoryTenantStore = field(default_factory=InMemoryTenantStore)

    def container(self) -> Container:
        container = super().container()
        container.tenant_cache = CachedTenants(container.settings, self.registry.list, container.clock)
        container.tenant_calendars = Lazy.given(_Clients({B: self.theirs}))  # type: ignore[arg-type]
        return container

    async def deliver_as(self, event: dict[str, Any], tenant: str | None) -> str:
        properties = {"type": event["type"], "subject": event["subject"], **({"tenant": tenant} if tenant else {})}
        delivery = Delivery(event["id"], 1, event["subject"], properties)
        return await sync_appointment_message(body(event), delivery, self.container().appointments())


async def world_with_b() -> TenantWorld:
    world = TenantWorld()
    world.theirs.delegated = world.delegated
    await world.registry.save(Tenant(B, "Fabrikam", ("https://planning.example/fabrikam",),
                                     CredentialRef("secret", "fabrikam-secret")))
    return world


class TestAppointmentsPerTenant:
    async def test_a_tenants_appointment_is_written_with_its_own_meetings_and_keys(self) -> None:
        world = await world_with_b()
        assert await world.deliver_as(scheduled(), B) == "create"
        assert len(world.theirs.live()) == 1 and world.meetings.live() == []
        [row] = world.mappings.rows.values()
        assert row.key.tenant == B
        # The same appointment of the default tenant: its own meeting and its own row.
        assert await world.deliver_as(scheduled(), None) == "create"
        assert len(world.meetings.live()) == 1 and len(world.mappings.rows) == 2

    async def test_the_join_link_read_back_stays_in_the_tenant(self) -> None:
        world = await world_with_b()
        world.theirs.join_after_reads = 1
        assert await world.deliver_as(scheduled(), B) == "create"
        [readback] = world.take(PLANNING_QUEUE)
        assert readback.application_properties["tenant"] == B and readback.session_id.startswith(f"{B} ")
        delivery = Delivery(readback.message_id, 1, readback.session_id, readback.application_properties)
        assert await sync_appointment_message(readback.body, delivery, world.container().appointments()) \
            == "join link published"
        assert world.written() == []  # not in the default tenant's log: in the tenant's own
        [written] = [e for e in world.log.others[tenant_key(B, DEFAULT_LOG)] if e["type"] == "appointment.written"]
        assert written["source"] == f"urn:m365-calendar-connector:{B}:people"

    async def test_a_stopped_tenants_appointment_is_dead_lettered_without_writing(self) -> None:
        world = await world_with_b()
        await world.registry.set_state(B, "stopped")
        assert await world.deliver_as(scheduled(), B) == "dead-lettered"
        assert world.theirs.live() == [] and world.meetings.live() == []
        [record] = world.deadletters.records.values()
        assert record.reason.startswith(f"tenant {B} is stopped; replay this message")
