"""The users directory, the event log and the outbound streams belong to a tenant: each active tenant's directory
is read with its own Graph client into its own rows, its events go to its own log and streams, a reader sees a
tenant's log with ``?tenant=``, and a purge removes one tenant's only; the default tenant's keys are as before."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.app.messaging import GRAPH_QUEUE, OUTBOUND_QUEUE
from shared.app.ports.rooms import DEFAULT_LOG, DeltaPage
from shared.app.rooms import publisher, upkeep
from shared.app.rooms.upkeep import DIRECTORY_SESSION
from shared.app.tenants.purge import purge_tenant
from shared.domain.tenants.keys import tenant_key, tenant_queue_id
from shared.errors import TransientError
from tests.unit.rooms.helpers import notification, notify, run_graph_queue, run_outbound_queue
from tests.unit.tenants.test_rooms_per_tenant import ROOM, B, TenantRoomWorld, registered_in_b
from tests.unit.tenants.test_rooms_per_tenant import world as world  # noqa: F401 - the fixture

UNKNOWN = "44444444-4444-4444-4444-444444444444"


def subjects(events: list[dict[str, Any]]) -> list[str]:
    return sorted(e["subject"] for e in events)


async def two_directories(world: TenantRoomWorld) -> None:
    """A baseline of each tenant's directory, then one user joining each."""
    world.graph.set_user("u-home", mail="anna@contoso.com", accountEnabled=True)
    world.their_graph.set_user("u-fab", mail="bo@fabrikam.com", accountEnabled=True)
    services = world.services()
    assert await upkeep.sync_every_directory(services.upkeep()) == {
        "default": {"read": 1, "published": 0}, B: {"read": 1, "published": 0}}
    world.graph.set_user("u-home-2", mail="carl@contoso.com", accountEnabled=True)
    world.their_graph.set_user("u-fab-2", mail="dee@fabrikam.com", accountEnabled=True)
    await upkeep.sync_every_directory(services.upkeep())


class TestDirectoryOfATenant:
    async def test_each_tenants_directory_holds_only_its_own(self, world: TenantRoomWorld) -> None:
        await two_directories(world)
        # The default tenant's rows, cursor and log keep their keys; the tenant's are led by its id.
        assert sorted(world.users.rows) == sorted(["u-home", "u-home-2", f"{B} u-fab", f"{B} u-fab-2"])
        assert world.users.position.delta_link and list(world.users.positions) == [f"{B} delta"]
        assert subjects(world.log.items) == ["user/u-home-2"]
        [joined] = world.log.others[tenant_key(B, DEFAULT_LOG)]
        assert joined["subject"] == "user/u-fab-2" and joined["source"] == f"urn:m365-calendar-connector:{B}:directory"
        # A stopped tenant's directory is not read (its Graph client would be asked: the fake has none).

    async def test_one_tenants_failure_does_not_stop_anothers(self, world: TenantRoomWorld) -> None:
        async def refused(link: str | None) -> DeltaPage:
            raise TransientError("Graph answered 503")

        world.their_graph.users_delta_page = refused  # type: ignore[method-assign]
        world.graph.set_user("u-home", mail="anna@contoso.com", accountEnabled=True)
        with pytest.raises(TransientError):
            await upkeep.sync_every_directory(world.services().upkeep())
        assert world.users.rows.keys() == {"u-home"} and world.users.position.delta_link

    async def test_a_long_round_continues_in_the_tenants_session(self, world: TenantRoomWorld) -> None:
        for n in range(upkeep.USERS_PAGES_PER_STEP * 2 + 1):
            world.their_graph.set_user(f"u{n}", mail=f"u{n}@fabrikam.com", accountEnabled=True)
        world.their_graph.page_size = 1
        services = world.services()
        await upkeep.sync_every_directory(services.upkeep())
        [step] = world.sent_to(GRAPH_QUEUE)
        assert json.loads(step.body)["tenant"] == B and step.session_id == tenant_queue_id(B, DIRECTORY_SESSION)
        await run_graph_queue(world, services)
        assert len([k for k in world.users.rows if k.startswith(f"{B} ")]) == upkeep.USERS_PAGES_PER_STEP * 2 + 1
        assert world.users.rows.keys() <= {k for k in world.users.rows if k.startswith(f"{B} ")}


class TestStreamsOfATenant:
    async def test_a_tenants_events_are_not_shown_to_another(self, world: TenantRoomWorld) -> None:
        services = world.services()
        row = await registered_in_b(world, services)
        world.their_graph.book(ROOM, "E1")
        await notify(services, notification(row.subscription_id, row.client_state, "created", "E1"))
        await run_graph_queue(world, services)
        deps = services.publisher()
        theirs = json.loads((await publisher.pull_of(B, None, deps)).body)
        assert [e["type"] for e in theirs["items"]] == ["reservation.created"]
        assert json.loads((await publisher.pull_of(None, None, deps)).body)["items"] == []
        assert json.loads((await publisher.pull_of("", None, deps)).body)["items"] == []
        assert (await publisher.pull_of("fabrikam", None, deps)).status == 400
        assert (await publisher.pull_of(UNKNOWN, None, deps)).status == 404

    async def test_a_tenants_stream_is_delivered_from_its_own_outbox(self, world: TenantRoomWorld) -> None:
        services = world.services()
        row = await registered_in_b(world, services)
        world.their_graph.book(ROOM, "E1")
        await notify(services, notification(row.subscription_id, row.client_state, "created", "E1"))
        await run_graph_queue(world, services)
        assert list(world.outbox.rows) == [f"{B} {ROOM}"]
        [wake] = world.sent_to(OUTBOUND_QUEUE)
        assert json.loads(wake.body) == {"stream": ROOM, "tenant": B} and wake.session_id.startswith(f"{B} ")
        assert await run_outbound_queue(world, services) == ["delivered"]
        assert [e["type"] for e in world.webhook.sent] == ["reservation.created"]
        assert world.outbox.rows == {f"{B} {ROOM}": []}

    async def test_a_purge_removes_the_tenants_directory_log_and_streams_only(self, world: TenantRoomWorld) -> None:
        await two_directories(world)
        await world.outbox.add(tenant_key(B, "users"), [{"id": "x", "type": "user.created", "subject": "user/x"}])
        await world.outbox.add("users", [{"id": "y", "type": "user.created", "subject": "user/y"}])
        record = await purge_tenant(B, (world.users, world.log, world.outbox), world.registry, lambda: world.now)
        assert record.stores == ("users", "eventlog", "outbox")
        assert sorted(world.users.rows) == ["u-home", "u-home-2"] and world.users.positions == {}
        assert world.log.others == {} and subjects(world.log.items) == ["user/u-home-2"]
        assert list(world.outbox.rows) == ["users"]
