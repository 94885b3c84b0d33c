"""``GET`` / ``DELETE /api/connections/{email}`` and ``GET /api/manage/connections`` with ``?tenant=``: the
default tenant and tenant B each hold a connection for the same address, and each route sees only the people of
the tenant it names (without one, the default tenant's). Run over the fakes here; the integration module
tests/integration/tenants/test_connection_routes_per_tenant_tables.py runs the same scenarios over Table Storage."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.app.messaging import PLANNING_QUEUE, OutboundMessage
from shared.app.people import status
from shared.app.people.lifecycle import PeopleDeps
from shared.app.people.tenancy import ScopedConnections
from shared.app.ports.people import ConnectionStore
from shared.app.tenants.routing import CachedTenants
from shared.domain.people.connections import CONNECTED, NEEDS_RECONNECT, Connection
from shared.domain.tenants.keys import tenant_key
from shared.domain.tenants.model import STOPPED, CredentialRef, Tenant, TenantId
from tests.fakes.tenants import InMemoryTenantStore
from tests.unit.people.connections_world import ANNA, PeopleWorld

A = TenantId("11111111-1111-1111-1111-111111111111")  # the settings' tenant: the default
B = TenantId("22222222-2222-2222-2222-222222222222")
UNKNOWN = "33333333-3333-3333-3333-333333333333"
BEN = "ben@contoso.com"
SINCE = datetime(2026, 4, 1, 9, tzinfo=UTC)


@dataclass
class TwoTenants:
    """The default tenant ``A`` and a registered tenant ``B`` over one store of every tenant's connections and
    parked work (``waiting`` keeps ``waiting(user)`` as both the fake and the Table adapter do)."""

    connections: ConnectionStore
    waiting: Any
    world: PeopleWorld = field(default_factory=PeopleWorld)
    registry: InMemoryTenantStore = field(default_factory=InMemoryTenantStore)

    def deps(self) -> PeopleDeps:
        container = self.world.container()
        container.settings = replace(container.settings, tenant_id=A)
        container.tenant_cache = CachedTenants(container.settings, self.registry.list, container.clock)
        return replace(container.people(), connections=self.connections, waiting=self.waiting)

    async def seed(self) -> None:
        """Anna connected in A and needing a reconnect in B (each with parked work); Ben connected in B only."""
        await self.registry.save(Tenant(B, "Fabrikam", ("https://planning.example/fabrikam",),
                                        CredentialRef("secret", "fabrikam-secret")))
        row = Connection(user=ANNA, state=CONNECTED, since=SINCE, scopes=("Calendars.ReadWrite",),
                         cache="v1.sealed", account="home", return_url="https://ebms.example.com/")
        await self.connections.save(row)
        theirs = ScopedConnections(self.connections, B)
        await theirs.save(replace(row, state=NEEDS_RECONNECT, reason="AADSTS50173: password changed"))
        await theirs.save(replace(row, user=BEN))
        for key, message_id in ((ANNA, "m-a"), (tenant_key(B, ANNA), "m-b")):
            await self.waiting.park(key, PLANNING_QUEUE, OutboundMessage(body=message_id.encode(),
                                                                         message_id=message_id))

    async def stop(self, tenant: TenantId) -> None:
        await self.registry.set_state(tenant, STOPPED)

    async def parked(self, key: str) -> list[str]:
        return [m.message_id for _, m in await self.waiting.waiting(key)]

    def gauge(self) -> dict[str, Any]:
        """The needs-reconnect gauge's last figure per tenant."""
        return {attrs["tenant"]: value
                for attrs, value in self.world.telemetry.points("connector.connections.needs_reconnect")}


@pytest.fixture
async def two() -> TwoTenants:
    world = PeopleWorld()
    two = TwoTenants(world.connections, world.waiting, world)
    await two.seed()
    return two


async def test_reads_see_only_their_tenants_people(two: TwoTenants) -> None:
    deps = two.deps()
    for tenant in (None, "", A, A.upper()):  # absent, empty or the default tenant's own id: the default tenant
        assert (await status.status(ANNA, deps, tenant)).json()["state"] == CONNECTED
        listed = (await status.list_connections(deps, tenant)).json()["value"]
        assert [(c["user"], c["state"], c["tenant"]) for c in listed] == [(ANNA, CONNECTED, A)]
    theirs = (await status.status(ANNA, deps, B)).json()
    assert theirs["state"] == NEEDS_RECONNECT and theirs["user"] == ANNA and theirs["reason"].startswith("AADSTS")
    assert (await status.status(BEN, deps)).json()["state"] == "not-connected"
    assert (await status.status(BEN, deps, B)).json()["state"] == CONNECTED
    listed = (await status.list_connections(deps, B)).json()["value"]
    assert [(c["user"], c["state"], c["tenant"]) for c in listed] == [
        (ANNA, NEEDS_RECONNECT, B), (BEN, CONNECTED, B)]
    assert two.gauge() == {two.world.telemetry.tenant: 0, B: 1}


async def test_a_delete_forgets_only_its_tenants_person(two: TwoTenants) -> None:
    deps = two.deps()
    assert (await status.forget(ANNA, deps, B)).status == 204
    assert (await status.status(ANNA, deps, B)).json()["state"] == "not-connected"
    assert (await status.status(ANNA, deps)).json()["state"] == CONNECTED  # the default tenant's Anna stays
    assert [c["user"] for c in (await status.list_connections(deps, B)).json()["value"]] == [BEN]
    # Parked work stays with its own tenant's person (it goes back when they connect again), the other's untouched.
    assert await two.parked(tenant_key(B, ANNA)) == ["m-b"] and await two.parked(ANNA) == ["m-a"]
    assert two.gauge()[B] == 0  # told B's count: its one needs-reconnect row is gone
    assert two.world.queue.sent == []

    assert (await status.forget(ANNA, deps)).status == 204
    assert (await status.status(ANNA, deps)).json()["state"] == "not-connected"
    assert (await status.status(BEN, deps, B)).json()["state"] == CONNECTED
    assert await two.parked(tenant_key(B, ANNA)) == ["m-b"] and await two.parked(ANNA) == ["m-a"]
    assert [c.user for c in await two.connections.list()] == [tenant_key(B, BEN)]


async def test_a_stopped_tenants_people_are_read_and_forgotten(two: TwoTenants) -> None:
    await two.stop(B)
    deps = two.deps()
    assert (await status.status(ANNA, deps, B)).json()["state"] == NEEDS_RECONNECT
    assert len((await status.list_connections(deps, B)).json()["value"]) == 2
    assert (await status.forget(BEN, deps, B)).status == 204
    assert (await status.status(BEN, deps, B)).json()["state"] == "not-connected"


@pytest.mark.parametrize(("tenant", "code", "title"), [
    ("not-a-tenant", 400, "Invalid tenant"), (B.replace("-", ""), 400, "Invalid tenant"),
    (UNKNOWN, 404, "Unknown tenant")])
async def test_a_malformed_or_unknown_tenant_is_refused_naming_the_parameter(
        two: TwoTenants, tenant: str, code: int, title: str) -> None:
    deps = two.deps()
    rows = dict(two.world.connections.rows)
    for reply in (await status.status(ANNA, deps, tenant), await status.forget(ANNA, deps, tenant),
                  await status.list_connections(deps, tenant)):
        assert reply.status == code and reply.content_type == "application/problem+json"
        assert reply.json()["parameter"] == "tenant" and reply.json()["title"] == title
    assert two.world.connections.rows == rows


async def test_the_email_is_checked_before_the_tenant(two: TwoTenants) -> None:
    assert (await status.status("nobody", two.deps(), UNKNOWN)).status == 400
    assert (await status.forget("nobody", two.deps(), UNKNOWN)).json()["field"] == "email"
