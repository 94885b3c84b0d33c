"""The connection routes with ``?tenant=`` over Table Storage in Azurite: the default tenant and tenant B each
hold a connection for the same address in the one connections table (B's keyed ``tenant_key(B, user)``), and
``GET``/``DELETE /api/connections/{email}`` and the operator's list see only the tenant they name. The same
scenarios run over the fakes in tests/unit/tenants/test_connection_routes_per_tenant.py."""

from __future__ import annotations

import pytest

from shared.adapters.tables.people import TableConnectionStore, TableWaitingWork
from shared.adapters.tables.stores import TableStores
from tests.unit.people.connections_world import PeopleWorld
from tests.unit.tenants.test_connection_routes_per_tenant import (  # the same scenarios, collected here too
    TwoTenants,
    test_a_delete_forgets_only_its_tenants_person,
    test_a_stopped_tenants_people_are_read_and_forgotten,
    test_reads_see_only_their_tenants_people,
)

__all__ = ["test_a_delete_forgets_only_its_tenants_person", "test_a_stopped_tenants_people_are_read_and_forgotten",
           "test_reads_see_only_their_tenants_people"]

pytestmark = pytest.mark.azurite


@pytest.fixture
async def two(table_stores: TableStores) -> TwoTenants:
    world = PeopleWorld()
    two = TwoTenants(TableConnectionStore(table_stores), TableWaitingWork(table_stores, world.queue), world)
    await two.seed()
    return two
