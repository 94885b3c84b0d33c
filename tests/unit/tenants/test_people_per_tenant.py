"""A person connects for a tenant: ``POST /api/connections`` names it, the signed state carries it to the
callback, the connection and the person's parked work are keyed with the tenant, and a purge takes them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from shared.app.messaging import PLANNING_QUEUE, Delivery, OutboundMessage
from shared.app.people import connect
from shared.app.tenants.purge import purge_tenant
from shared.app.tenants.routing import CachedTenants
from shared.bootstrap import Container
from shared.domain.tenants.keys import tenant_key
from shared.domain.tenants.model import STOPPED, CredentialRef, Tenant, TenantId
from shared.errors import NeedsReconnect
from tests.fakes.tenants import InMemoryTenantStore
from tests.unit.people.connections_world import ANNA, RETURN, PeopleWorld, location, query

B = TenantId("22222222-2222-2222-2222-222222222222")


@dataclass
class TenantPeople(PeopleWorld):
    registry: InMemoryTenantStore = field(default_factory=InMemoryTenantStore)

    def container(self, **kwargs: Any) -> Container:
        container = super().container(**kwargs)
        container.tenant_cache = CachedTenants(container.settings, self.registry.list, container.clock)
        return container

    async def start(self, tenant: object = None) -> Any:
        request = {"user": ANNA, "returnUrl": RETURN, **({"tenant": tenant} if tenant is not None else {})}
        return await connect.start(json.dumps(request).encode(), self.deps())

    async def connect(self, tenant: str | None) -> dict[str, str]:
        reply = await self.start(tenant)
        assert reply.status == 200, reply.body
        state = query(reply.json()["authorizeUrl"])["state"]
        return location(await connect.finish({"code": "code-1", "state": state}, self.deps()))


@pytest.fixture
async def world() -> TenantPeople:
    world = TenantPeople()
    await world.registry.save(Tenant(B, "Fabrikam", ("https://planning.example/fabrikam",),
                                     CredentialRef("secret", "fabrikam-secret")))
    return world


class TestConnectForATenant:
    async def test_the_connection_is_kept_among_the_tenants_and_its_event_names_it(self, world: TenantPeople) -> None:
        assert await world.connect(B) == {"connection": "connected"}
        assert list(world.connections.rows) == [tenant_key(B, ANNA)]
        assert world.events("connection.connected") == []  # not in the default tenant's log: in its own
        [event] = world.events("connection.connected", B)
        assert B in event["source"] and event["subject"] == f"connection/{ANNA}"
        # The same person of the default tenant: a row of its own, as before there were tenants.
        assert await world.connect(None) == {"connection": "connected"}
        assert sorted(world.connections.rows) == sorted([ANNA, tenant_key(B, ANNA)])

    @pytest.mark.parametrize(("tenant", "status"), [
        ("not-a-tenant", 400), ("33333333-3333-3333-3333-333333333333", 400), (7, 400), (B, 409)])
    async def test_an_unknown_malformed_or_stopped_tenant_is_refused(self, world: TenantPeople, tenant: object,
                                                                     status: int) -> None:
        if tenant == B:
            [b] = [t for t in await world.registry.list() if t.id == B]
            await world.registry.save(replace(b, state=STOPPED))
        reply = await world.start(tenant)
        assert reply.status == status and reply.json()["field"] == "tenant"
        assert world.attempts.rows == {}


class TestParkedWorkOfATenant:
    async def test_work_waits_under_the_tenants_person_and_goes_back_when_they_connect(
            self, world: TenantPeople) -> None:
        container = world.container()
        credential = container.delegated_in(B).for_user(ANNA)

        async def write() -> str:
            await credential.get_token("https://graph.microsoft.com/.default")
            return "written"

        assert await container.settlement().settle(PLANNING_QUEUE, b"body-1", Delivery("m1"), write) == "waiting"
        assert list(world.waiting.parked) == [tenant_key(B, ANNA)]
        await world.connect(None)  # the default tenant's Anna: not the one this work waits for
        assert [m.body for q, m in world.queue.sent if q == PLANNING_QUEUE] == []
        await world.connect(B)
        assert [m.body for q, m in world.queue.sent if q == PLANNING_QUEUE] == [b"body-1"]
        assert await container.delegated_in(B).is_connected(ANNA)

    async def test_not_connected_names_the_tenants_person(self, world: TenantPeople) -> None:
        with pytest.raises(NeedsReconnect) as raised:
            await world.container().delegated_in(B).for_user(ANNA).get_token()
        assert raised.value.user == tenant_key(B, ANNA)


class TestPurge:
    async def test_a_purge_takes_the_tenants_connections_and_parked_work_only(self, world: TenantPeople) -> None:
        await world.connect(B)
        await world.connect(None)
        await world.waiting.park(tenant_key(B, "ben@fabrikam.com"), PLANNING_QUEUE,
                                 OutboundMessage(body=b"x", message_id="m9"))
        record = await purge_tenant(B, [world.connections, world.waiting], world.registry, lambda: world.now)
        assert record.stores == ("connections", "waiting")
        assert list(world.connections.rows) == [ANNA] and world.waiting.parked == {}



class TestNeedsReconnectGauge:
    async def test_each_tenant_reports_its_own_people_who_must_reconnect(self, world: TenantPeople) -> None:
        from shared.app.people.lifecycle import tell_gauge
        from shared.app.people.tenancy import people_in
        from shared.domain.people.connections import NEEDS_RECONNECT

        assert await world.connect(None) == {"connection": "connected"}
        assert await world.connect(B) == {"connection": "connected"}
        theirs = world.connections.rows[tenant_key(B, ANNA)]
        world.connections.rows[tenant_key(B, ANNA)] = replace(theirs, state=NEEDS_RECONNECT)
        assert await tell_gauge(world.deps()) == 0  # the default tenant's own people only
        assert await tell_gauge(people_in(world.deps(), B)) == 1
        points = {attrs["tenant"]: value
                  for attrs, value in world.telemetry.points("connector.connections.needs_reconnect")}
        assert points == {world.telemetry.tenant: 0, B: 1}
