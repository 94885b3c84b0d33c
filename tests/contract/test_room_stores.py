"""RoomStore, ReservationStore, OwnWrites, EventLog, Outbox and UserStore: the in-memory fakes and the Table
Storage adapters."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

import pytest

from shared.adapters.tables.rooms import RoomTables
from shared.app.ports.rooms import (
    BackfillJob,
    DirectoryCursor,
    EventLog,
    Outbox,
    OwnWrites,
    ReservationStore,
    Room,
    RoomStore,
    UserStore,
)
from shared.app.rooms.tenancy import ScopedCalendars, ScopedReservations
from shared.app.rooms.tenant_streams import ScopedEventLog, ScopedOutbox, ScopedUsers
from shared.domain.rooms.outbound_events import ReservationState
from shared.domain.tenants.model import TenantId
from shared.errors import ConcurrencyConflict
from tests.contract.conftest import FAKE_AND_TABLES, table_stores_of
from tests.fakes.rooms import (
    InMemoryLog,
    InMemoryOutbox,
    InMemoryOwnWrites,
    InMemoryReservations,
    InMemoryRooms,
    InMemoryUsers,
)

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)


@dataclass
class Stores:
    rooms: RoomStore
    reservations: ReservationStore
    own_writes: OwnWrites
    log: EventLog
    outbox: Outbox
    users: UserStore


@pytest.fixture(params=FAKE_AND_TABLES)
def tables(request: pytest.FixtureRequest) -> Stores:
    if request.param == "fake":
        return Stores(InMemoryRooms(), InMemoryReservations(), InMemoryOwnWrites(), InMemoryLog(), InMemoryOutbox(),
                      InMemoryUsers())
    real = RoomTables(table_stores_of(request))
    return Stores(real.rooms, real.reservations, real.own_writes, real.log, real.outbox, real.users)


class TestRooms:
    async def test_round_trip_with_etag_concurrency(self, tables: Stores) -> None:
        room = Room(email="room.a@contoso.com", activated_at=NOW, subscription_id="s1", client_state="r1~n~m~x",
                    expires_at=NOW, delta_link="https://graph/delta?$deltatoken=1",
                    backfill=BackfillJob(id="j1", start="2026-04-01", status="done", published=3, finished_at=NOW))
        saved = await tables.rooms.save(room)
        loaded = await tables.rooms.get("Room.A@contoso.com")
        assert loaded == saved
        assert loaded.backfill and loaded.backfill.finished_at == NOW
        await tables.rooms.save(replace(loaded, failure="403", failing_since=NOW))
        with pytest.raises(ConcurrencyConflict):
            await tables.rooms.save(replace(loaded, failure="stale writer"))
        with pytest.raises(ConcurrencyConflict):
            await tables.rooms.save(room)  # a second insert
        assert [r.email for r in await tables.rooms.list()] == ["room.a@contoso.com"]
        await tables.rooms.delete("room.a@contoso.com")
        await tables.rooms.delete("room.a@contoso.com")
        assert await tables.rooms.get("room.a@contoso.com") is None


    async def test_rooms_are_listed_by_email(self, tables: Stores) -> None:
        for email in ("room.c@contoso.com", "room.a@contoso.com", "room.b@contoso.com"):
            await tables.rooms.save(Room(email=email, activated_at=NOW))
        assert [r.email for r in await tables.rooms.list()] == ["room.a@contoso.com", "room.b@contoso.com",
                                                               "room.c@contoso.com"]

    async def test_an_empty_log_reads_nothing(self, tables: Stores) -> None:
        events, _ = await tables.log.read(None, 10)
        assert events == []
        assert await tables.outbox.head("nobody@contoso.com") is None


class TestReservationsAndOwnWrites:
    async def test_state_rows_and_own_writes(self, tables: Stores) -> None:
        event_id = "AAMkAGI2TG93AAA=/+x"
        assert await tables.reservations.get("r@contoso.com", event_id) is None
        state = ReservationState(room="r@contoso.com", event_id=event_id, ical_uid="040000008200E0", change_key="ck",
                                 content_hash="h", published=True)
        await tables.reservations.save(state)
        loaded = await tables.reservations.get("r@contoso.com", event_id)
        assert loaded is not None and replace(loaded, etag=None) == state
        assert not await tables.own_writes.contains("040000008200E0")
        await tables.own_writes.record("040000008200E0", "src reservation/1")
        assert await tables.own_writes.contains("040000008200E0")


class TestEventLog:
    async def test_pages_in_publication_order_with_a_cursor(self, tables: Stores) -> None:
        events = [{"id": f"e{n}", "type": "reservation.created", "subject": f"s{n}"} for n in range(5)]
        await tables.log.append(events[:3])
        await tables.log.append(events[3:])
        first, cursor = await tables.log.read(None, 2)
        assert [e["id"] for e in first] == ["e0", "e1"]
        rest, cursor = await tables.log.read(cursor, 10)
        assert [e["id"] for e in rest] == ["e2", "e3", "e4"]
        assert await tables.log.read(cursor, 10) == ([], cursor)


class TestOutbox:
    async def test_each_stream_in_publication_order_with_attempts_kept(self, tables: Stores) -> None:
        room_a, room_b = "a@contoso.com", "b" * 200 + "@contoso.com"
        events = [{"id": f"e{n}", "type": "reservation.created", "subject": f"s{n}"} for n in range(4)]
        first = await tables.outbox.add(room_a, events[:2])
        await tables.outbox.add(room_b, events[2:3])
        await tables.outbox.add(room_a, events[3:])
        head = await tables.outbox.head(room_a)
        assert head is not None and head.key == first and head.event["id"] == "e0" and head.attempts == 0
        await tables.outbox.save(replace(head, attempts=3, not_before=NOW))
        again = await tables.outbox.head(room_a)
        assert again is not None and (again.attempts, again.not_before) == (3, NOW)
        seen = []
        while (item := await tables.outbox.head(room_a)) is not None:
            seen.append(item.event["id"])
            await tables.outbox.remove(item)
        assert seen == ["e0", "e1", "e3"]
        other = await tables.outbox.head(room_b)
        assert other is not None and other.event["id"] == "e2"


class TestUsers:
    async def test_rows_and_cursor(self, tables: Stores) -> None:
        assert await tables.users.cursor() == DirectoryCursor()
        await tables.users.put("u1", {"id": "u1", "mail": "u1@contoso.com", "enabled": True})
        assert await tables.users.get("u1") == {"id": "u1", "mail": "u1@contoso.com", "enabled": True}
        await tables.users.put("u1", None)
        await tables.users.put("u1", None)
        assert await tables.users.get("u1") is None
        await tables.users.set_cursor(DirectoryCursor(delta_link="https://graph/users/delta?$deltatoken=2"))
        assert await tables.users.cursor() == DirectoryCursor(delta_link="https://graph/users/delta?$deltatoken=2")
        in_progress = DirectoryCursor(delta_link=None, next_link="https://graph/users/delta?$skiptoken=7",
                                      round_id="r1", baseline=True, step=3, updated_at=datetime(2026, 5, 1, tzinfo=UTC))
        await tables.users.set_cursor(in_progress)
        assert await tables.users.cursor() == in_progress


class TestTenants:
    """Two tenants' rooms of one address are two rows (``rooms.tenancy``), and a purge takes one tenant's only."""

    A = TenantId("11111111-1111-1111-1111-111111111111")
    B = TenantId("22222222-2222-2222-2222-222222222222")

    async def test_rooms_of_two_tenants_and_a_purge_of_one(self, tables: Stores) -> None:
        of_a, of_b = ScopedCalendars(tables.rooms, self.A), ScopedCalendars(tables.rooms, self.B)
        await tables.rooms.save(Room(email="r@contoso.com", activated_at=NOW, subscription_id="default"))
        await of_a.save(Room(email="r@contoso.com", activated_at=NOW, subscription_id="a"))
        saved = await of_b.save(Room(email="R@contoso.com".lower(), activated_at=NOW, subscription_id="b"))
        assert saved.email == "r@contoso.com"
        assert [(r.email, r.subscription_id) for r in await of_a.list()] == [("r@contoso.com", "a")]
        loaded = await of_b.get("R@Contoso.com")
        assert loaded is not None and loaded.subscription_id == "b" and loaded.email == "r@contoso.com"
        await of_b.save(replace(loaded, failure="x"))  # its etag holds through the view
        assert await of_a.purge(self.A) == 1
        assert await tables.rooms.purge(self.A) == 0
        assert await of_a.get("r@contoso.com") is None
        assert sorted(r.subscription_id or "" for r in await tables.rooms.list()) == ["b", "default"]

    async def test_reservation_state_of_two_tenants_and_a_purge_of_one(self, tables: Stores) -> None:
        of_a, of_b = ScopedReservations(tables.reservations, self.A), ScopedReservations(tables.reservations, self.B)
        for store, key in ((tables.reservations, "default"), (of_a, "a"), (of_b, "b")):
            await store.save(ReservationState(room="r@contoso.com", event_id="E1", change_key=key))
        for store, key in ((tables.reservations, "default"), (of_a, "a"), (of_b, "b")):
            state = await store.get("r@contoso.com", "E1")
            assert state is not None and state.change_key == key and state.room == "r@contoso.com"
        assert await tables.reservations.purge(self.A) == 1
        assert await of_a.get("r@contoso.com", "E1") is None
        assert await of_b.get("r@contoso.com", "E1") is not None
        assert await tables.reservations.get("r@contoso.com", "E1") is not None

    async def test_event_logs_of_two_tenants_and_a_purge_of_one(self, tables: Stores) -> None:
        of_a, of_b = ScopedEventLog(tables.log, self.A), ScopedEventLog(tables.log, self.B)
        for store, name in ((tables.log, "default"), (of_a, "a"), (of_b, "b")):
            await store.append([{"id": f"{name}1", "type": "user.created", "subject": "user/1"}])
        for store, name in ((tables.log, "default"), (of_a, "a"), (of_b, "b")):
            assert [e["id"] for e in (await store.read(None, 10))[0]] == [f"{name}1"]
        assert await of_a.purge(self.A) == 1
        assert (await of_a.read(None, 10))[0] == []
        assert [e["id"] for e in (await of_b.read(None, 10))[0]] == ["b1"]
        assert [e["id"] for e in (await tables.log.read(None, 10))[0]] == ["default1"]

    async def test_outbound_streams_of_two_tenants_and_a_purge_of_one(self, tables: Stores) -> None:
        of_a, of_b = ScopedOutbox(tables.outbox, self.A), ScopedOutbox(tables.outbox, self.B)
        for store, name in ((tables.outbox, "default"), (of_a, "a"), (of_b, "b")):
            await store.add("users", [{"id": name, "type": "user.created", "subject": "user/1"}])
        head = await of_a.head("users")
        assert head is not None and head.stream == "users" and head.event["id"] == "a"
        await of_a.save(replace(head, attempts=2))
        again = await of_a.head("users")
        assert again is not None and again.attempts == 2
        assert await tables.outbox.purge(self.A) == 1
        assert await of_a.head("users") is None
        for store, name in ((tables.outbox, "default"), (of_b, "b")):
            item = await store.head("users")
            assert item is not None and item.event["id"] == name
            await store.remove(item)
            assert await store.head("users") is None

    async def test_users_directories_of_two_tenants_and_a_purge_of_one(self, tables: Stores) -> None:
        of_a, of_b = ScopedUsers(tables.users, self.A), ScopedUsers(tables.users, self.B)
        for store, name in ((tables.users, "default"), (of_a, "a"), (of_b, "b")):
            await store.put("u1", {"id": "u1", "mail": f"{name}@contoso.com", "enabled": True})
            await store.set_cursor(DirectoryCursor(delta_link=f"https://graph/users/delta?$deltatoken={name}"))
        for store, name in ((tables.users, "default"), (of_a, "a"), (of_b, "b")):
            assert await store.get("u1") == {"id": "u1", "mail": f"{name}@contoso.com", "enabled": True}
            assert (await store.cursor()).delta_link == f"https://graph/users/delta?$deltatoken={name}"
        assert await of_a.purge(self.A) == 2  # the user and the cursor
        assert await of_a.get("u1") is None and await of_a.cursor() == DirectoryCursor()
        assert await of_b.get("u1") is not None and (await of_b.cursor()).delta_link
        assert await tables.users.get("u1") is not None and (await tables.users.cursor()).delta_link
