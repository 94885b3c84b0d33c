"""The doctor's mailbox checks against the HTTPS Graph simulator, with a real token from its Entra."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from local.graphsim.server import RunningSimulator
from shared.app.operator import doctor
from shared.app.ports.rooms import Room
from shared.bootstrap import Container
from shared.config import QueueConnection, Settings
from shared.domain.planning.model import EntityKey, Mapping, Version
from tests.fakes.credentials import FakeState
from tests.support.builders import FakeWorld
from tests.unit.rooms.fakes_rooms import RoomWorld

ANNA = "anna@contoso.com"
ROOM = "room.alpha@contoso.com"
OTHER_ROOM = "room.beta@contoso.com"


@pytest.fixture
async def services(simulator: RunningSimulator) -> AsyncIterator[Container]:
    state = simulator.state
    state.reset()
    state.clear_faults()
    state.add_user(ANNA, "Anna")
    state.add_room(ROOM, "Alpha")
    state.add_room(OTHER_ROOM, "Beta")
    tenant = next(iter(state.tenants()))
    state.add_app("client-1", "secret-1", tenant, roles=["Calendars.ReadWrite", "Place.Read.All"])
    settings = Settings(synchronize=True, tenant_id=tenant, client_id="client-1", client_secret="secret-1",
                        graph_endpoint=simulator.graph_endpoint, auth_endpoint=simulator.auth_endpoint,
                        ca_file=str(simulator.ca_path), queue=QueueConnection(local_path=None))
    world, rooms = FakeWorld(), RoomWorld()
    now = datetime.now(UTC)
    for email in (ROOM, OTHER_ROOM):
        await rooms.rooms.save(Room(email, now, subscription_id=f"sub-{email}", expires_at=now + timedelta(days=5)))
    built = Container(settings, queue=world.queue, mappings=world.mappings, resources=world.resources,
                      deadletters=world.deadletters, calendar=world.calendar, credential_state=FakeState(),
                      room_stores=rooms.services().room_stores())
    yield built
    await built.close()


async def written(services: Container, mailbox: str) -> None:
    key = EntityKey("https://planning.example.com/omd", f"task/{uuid.uuid4().hex[:8]}")
    await services.mappings().save(Mapping(key, Version(datetime.now(UTC), 1), mailbox, "AAMk1", "h", 1))


def mailbox_checks(checks: list[doctor.Check]) -> dict[str, doctor.Check]:
    return {c.detail.split(":")[0]: c for c in checks if c.name == "mailbox"}


async def test_without_a_mailbox_it_checks_the_last_written_one_and_each_room(services: Container) -> None:
    await written(services, ANNA)
    checks = await doctor.run_checks(services.doctor())
    found = mailbox_checks(checks)
    assert set(found) == {ANNA, ROOM, OTHER_ROOM}
    assert all(c.ok for c in found.values()), [c.line() for c in checks]


async def test_an_access_policy_blocking_every_mailbox_is_a_cross_for_each(services: Container,
                                                                           simulator: RunningSimulator) -> None:
    await written(services, ANNA)
    simulator.state.add_fault(403, path_contains="/events", count=1000)  # ErrorAccessDenied for every mailbox
    try:
        report = (await doctor.doctor_reply(services.doctor())).json()
    finally:
        simulator.state.clear_faults()
    assert report["ok"] is False
    bad = [c for c in report["checks"] if c["name"] == "mailbox"]
    assert {c["detail"] for c in bad} == {f"{m}: 403 ErrorAccessDenied" for m in (ANNA, ROOM, OTHER_ROOM)}
    assert all(not c["ok"] and "Test-ApplicationAccessPolicy" in c["fix"] for c in bad)
    assert "secret-1" not in str(report)


async def test_a_policy_that_leaves_out_one_room_names_that_room(services: Container,
                                                                 simulator: RunningSimulator) -> None:
    simulator.state.add_fault(403, mailbox=OTHER_ROOM, path_contains="/events", count=1000)
    try:
        checks = await doctor.run_checks(services.doctor())
    finally:
        simulator.state.clear_faults()
    found = mailbox_checks(checks)
    assert set(found) == {ROOM, OTHER_ROOM}  # nothing written yet: the rooms are the sample
    assert found[ROOM].ok and not found[OTHER_ROOM].ok


async def test_a_mailbox_given_is_the_one_checked(services: Container, simulator: RunningSimulator) -> None:
    simulator.state.add_fault(403, path_contains="/events", count=1000)
    try:
        checks = await doctor.run_checks(services.doctor(), mailbox=ANNA)
    finally:
        simulator.state.clear_faults()
    [only] = [c for c in checks if c.name == "mailbox"]
    assert only.detail == f"{ANNA}: 403 ErrorAccessDenied" and not only.ok
