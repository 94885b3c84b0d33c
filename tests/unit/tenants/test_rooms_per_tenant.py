"""Rooms and organizers belong to a tenant: registered with ``?tenant=``, keyed by it, subscribed, read and renewed
with the tenant's own Graph clients, found again from the clientState alone; the default tenant's stay as they
were."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from shared.app.messaging import GRAPH_QUEUE
from shared.app.people import organizers
from shared.app.ports.rooms import Room
from shared.app.rooms import registration, upkeep
from shared.app.tenants.routing import CachedTenants
from shared.bootstrap import Container
from shared.bootstrap.lazy import Lazy
from shared.domain.rooms import client_state
from shared.domain.tenants.model import STOPPED, CredentialRef, Tenant, TenantId
from tests.fakes.rooms import FakeRoomGraph, FakeSubscriptions
from tests.fakes.tenants import InMemoryTenantStore
from tests.unit.rooms.fakes_rooms import KEY, ROOM, RoomWorld
from tests.unit.rooms.helpers import notification, notify, run_graph_queue

B = TenantId("22222222-2222-2222-2222-222222222222")
C = TenantId("33333333-3333-3333-3333-333333333333")


@dataclass
class _Clients:
    graphs: dict[str, FakeRoomGraph]
    subs: dict[str, FakeSubscriptions]

    def room_graph(self, tenant: Tenant) -> FakeRoomGraph:
        return self.graphs[tenant.id]

    def subscriptions(self, tenant: Tenant) -> FakeSubscriptions:
        return self.subs[tenant.id]

    def calendar(self, tenant: Tenant) -> Any:
        raise AssertionError("rooms read rooms")

    def meetings(self, tenant: Tenant) -> Any:
        raise AssertionError("rooms read rooms")


@dataclass
class TenantRoomWorld(RoomWorld):
    registry: InMemoryTenantStore = field(default_factory=InMemoryTenantStore)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.their_graph = FakeRoomGraph(lambda: self.now)
        self.their_subs = FakeSubscriptions(lambda: self.now)

    def services(self, **kwargs: Any) -> Container:
        container = super().services(**kwargs)
        container.tenant_cache = CachedTenants(container.settings, self.registry.list, container.clock)
        container.tenant_calendars = Lazy.given(_Clients({B: self.their_graph},  # type: ignore[arg-type]
                                                         {B: self.their_subs}))
        return container


@pytest.fixture
async def world() -> TenantRoomWorld:
    world = TenantRoomWorld()
    await world.registry.save(Tenant(B, "Fabrikam", ("https://planning.example/fabrikam",),
                                     CredentialRef("secret", "fabrikam-secret")))
    await world.registry.save(Tenant(C, "Stopped", ("https://planning.example/c",), state=STOPPED))
    return world


async def registered_in_b(world: TenantRoomWorld, services: Container) -> Room:
    await registration.put_room(ROOM, b"", services.registration(), B)
    await run_graph_queue(world, services)
    row = world.rooms.rows[f"{B} {ROOM}"]
    assert row.subscription_id and row.client_state
    return row


class TestRoomsOfATenant:
    async def test_a_room_is_registered_subscribed_and_resynced_in_its_tenant(self, world: TenantRoomWorld) -> None:
        services = world.services()
        reply = await registration.put_room(ROOM, b"", services.registration(), B)
        assert reply.status == 201, reply.body
        assert reply.json()["tenant"] == B and reply.json()["email"] == ROOM
        assert list(world.rooms.rows) == [f"{B} {ROOM}"]
        assert world.their_subs.calls == ["create"] and world.subscriptions.calls == []
        [sub] = world.their_subs.subs.values()
        assert sub["room"] == ROOM
        assert client_state.identify((KEY,), sub["clientState"]) == ("room", ROOM, B)
        [resync] = world.sent_to(GRAPH_QUEUE)
        assert resync.session_id.startswith(f"{B} ") and resync.application_properties["tenant"] == B
        world.their_graph.book(ROOM, "E0")
        assert await run_graph_queue(world, services) == ["resynced"]
        assert world.their_graph.pages_read and not world.graph.pages_read
        assert world.rooms.rows[f"{B} {ROOM}"].delta_link

    async def test_a_notification_finds_its_tenant_from_the_client_state(self, world: TenantRoomWorld) -> None:
        services = world.services()
        row = await registered_in_b(world, services)
        world.their_graph.book(ROOM, "E1")
        await notify(services, notification(row.subscription_id, row.client_state, "created", "E1"))
        [message] = world.sent_to(GRAPH_QUEUE)
        assert json.loads(message.body)["tenant"] == B and message.session_id.startswith(f"{B} ")
        assert await run_graph_queue(world, services) == ["created"]
        assert world.their_graph.gets == 1 and world.graph.gets == 0
        assert (f"{B} {ROOM}", "E1") in world.reservations.rows
        assert world.log.items == []  # the tenant's events are in its own log
        [published] = world.log.of_type("reservation.created", B)
        assert published["source"] == f"urn:m365-calendar-connector:{B}:rooms"

    async def test_the_same_mailbox_in_two_tenants_is_two_rooms(self, world: TenantRoomWorld) -> None:
        services = world.services()
        assert (await registration.put_room(ROOM, b"", services.registration())).status == 201
        assert (await registration.put_room(ROOM, b"", services.registration(), B)).status == 201
        assert sorted(world.rooms.rows) == sorted([ROOM, f"{B} {ROOM}"])
        assert client_state.identify((KEY,), world.rooms.rows[ROOM].client_state) == ("room", ROOM, None)
        listed = (await registration.list_rooms(services.registration())).json()["value"]
        assert {(r["email"], r["tenant"]) for r in listed} == {(ROOM, None), (ROOM, B)}
        assert (await registration.delete_room(ROOM, services.registration(), B)).status == 204
        assert list(world.rooms.rows) == [ROOM]

    @pytest.mark.parametrize(("tenant", "status"), [("not-a-guid", 400),
                                                    ("44444444-4444-4444-4444-444444444444", 400), (C, 409)])
    async def test_a_tenant_that_cannot_be_used_is_refused_by_name(self, world: TenantRoomWorld, tenant: str,
                                                                   status: int) -> None:
        services = world.services()
        reply = await registration.put_room(ROOM, b"", services.registration(), tenant)
        assert reply.status == status and tenant in reply.json()["detail"]
        reply = await organizers.put_organizer("boss@contoso.com", services.organizers(), tenant)
        assert reply.status == status
        assert world.rooms.rows == {} and world.organizers.rows == {}

    async def test_the_timer_renews_each_tenants_subscriptions_with_its_own_client(
            self, world: TenantRoomWorld) -> None:
        services = world.services()
        await registration.put_room(ROOM, b"", services.registration())
        await registration.put_room(ROOM, b"", services.registration(), B)
        await organizers.put_organizer("boss@contoso.com", services.organizers(), B)
        world.advance(days=6)
        counts = await upkeep.renew_subscriptions(services.upkeep())
        assert counts == {"rooms": 2, "organizers": 1, "failing": 0}
        assert world.subscriptions.calls == ["create", "renew"]
        assert world.their_subs.calls == ["create", "create", "renew", "renew"]

    async def test_a_stopped_tenants_work_is_dead_lettered_without_graph(self, world: TenantRoomWorld) -> None:
        services = world.services()
        row = await registered_in_b(world, services)
        stopped = await world.registry.get(B)
        assert stopped is not None
        await world.registry.save(replace(stopped, state=STOPPED))
        services = world.services()
        await notify(services, notification(row.subscription_id, row.client_state, "created", "E1"))
        assert await run_graph_queue(world, services) == ["dead-lettered"]
        assert world.their_graph.gets == 0
        [record] = world.deadletters.records.values()  # kept for a replay once the tenant runs again
        assert record.tenant == B and f"tenant {B} is stopped" in record.reason


class TestOrganizersOfATenant:
    async def test_an_organizer_is_watched_in_its_tenant(self, world: TenantRoomWorld) -> None:
        services = world.services()
        reply = await organizers.put_organizer("Boss@Contoso.com", services.organizers(), B)
        assert reply.status == 201 and reply.json()["tenant"] == B
        assert list(world.organizers.rows) == [f"{B} boss@contoso.com"]
        [sub] = world.their_subs.subs.values()
        assert client_state.identify((KEY,), sub["clientState"]) == ("organizer", "boss@contoso.com", B)
        assert await run_graph_queue(world, services) == ["resynced"]
        assert (await organizers.delete_organizer("boss@contoso.com", services.organizers(), B)).status == 204
        assert world.organizers.rows == {} and world.their_subs.subs == {}
