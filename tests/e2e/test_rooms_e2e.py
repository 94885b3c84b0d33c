"""Rooms both ways through the local host: Graph (simulator) notifications → webhook → queue →
worker → outbound webhook (verified by a local booking-system receiver) and the pull API; and
reservations posted by the booking system → the booker's calendar → the room's auto-accepted copy."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local.stack import LocalStack
from shared.adapters.tables.rooms import RoomTables
from shared.adapters.tables.stores import TableStores
from shared.app.ports.rooms import DirectoryCursor
from shared.config import Settings, TablesConnection
from tests.e2e.conftest import wait_for, wait_until_steady

pytestmark = pytest.mark.e2e

ANNA = "anna.berger@contoso.com"
BEN = "ben.okafor@contoso.com"
START = (datetime.now(UTC) + timedelta(days=3)).replace(hour=9, minute=0, second=0, microsecond=0)


def new_room(stack: LocalStack) -> str:
    email = f"room-{uuid.uuid4().hex[:8]}@contoso.com"
    assert stack.simulator is not None
    stack.simulator.state.add_room(email, "Room " + email[5:13], capacity=6)
    return email


def meeting(room: str, subject: str, hours: int = 0) -> dict[str, Any]:
    start = START + timedelta(hours=hours)
    return {"subject": subject,
            "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
            "end": {"dateTime": (start + timedelta(minutes=45)).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
            "attendees": [{"type": "resource", "emailAddress": {"address": room}},
                          {"type": "required", "emailAddress": {"address": BEN}}],
            "location": {"displayName": room, "locationEmailAddress": room}}


def register(stack: LocalStack, room: str) -> dict[str, Any]:
    response = stack.admin("PUT", f"/api/manage/rooms/{room}")
    assert response.status_code == 201, response.text
    return response.json()


def reservations_of(stack: LocalStack, room: str) -> list[dict[str, Any]]:
    assert stack.booking is not None
    return [e for e in stack.booking.of_type("reservation.") if e["data"]["room"] == room]


def settled(stack: LocalStack) -> None:
    """Until the simulator delivered everything and both room queues are empty."""
    assert stack.simulator is not None

    def quiet() -> bool:
        if stack.simulator.state.notifier.pending():
            return False
        for queue in ("graph-notifications", "outbound-events"):
            counts = stack.admin("GET", f"/admin/queues/{queue}").json()
            if counts.get("active", 0) or counts.get("locked", 0) or counts.get("scheduled", 0):
                return False
        return True

    wait_until_steady(quiet, timeout=60, message="room queues drained")


def users_cursor(stack: LocalStack) -> DirectoryCursor:
    """Where the users delta stands, read from the stack's Azurite."""
    assert stack.azurite is not None

    async def read() -> DirectoryCursor:
        stores = TableStores(Settings(tables=TablesConnection(connection_string=stack.azurite.connection_string),
                                      table_prefix="connector"))  # the stack's, see local/stack.py
        try:
            return await RoomTables(stores).users.cursor()
        finally:
            await stores.close()

    return asyncio.run(read())


def current_subscription(stack: LocalStack, room: str) -> str:
    assert stack.simulator is not None
    room_id = stack.simulator.state.find_user(room)["id"]
    live = [s for s in stack.simulator.state.subscriptions() if s["mailboxId"] == room_id and not s["expired"]]
    assert len(live) == 1, live
    return str(live[0]["id"])


class TestOutlookToBookingSystem:
    def test_a_booking_in_outlook_reaches_the_booking_system_once(self, stack: LocalStack) -> None:
        assert stack.simulator is not None and stack.booking is not None
        room = new_room(stack)
        listed = register(stack, room)
        assert listed["status"].startswith("subscribed until")
        stack.simulator.state.outlook_create(ANNA, meeting(room, "Quarterly planning"))
        [event] = wait_for(lambda: reservations_of(stack, room), message="reservation delivered")
        settled(stack)
        assert [e["type"] for e in reservations_of(stack, room)] == ["reservation.created"]  # 1 created + 2 updated
        assert event["subject"].startswith(f"room/{room}/event/")
        assert event["data"]["organizer"]["email"] == ANNA and event["data"]["subject"] == "Quarterly planning"
        with stack.client() as client:
            page = client.get("/api/reservations", headers={"x-functions-key": stack.host.function_key}).json()
        assert event["id"] in [e["id"] for e in page["items"]]
        rooms = stack.admin("GET", "/api/manage/rooms").json()["value"]
        assert any(r["email"] == room and r["subscribed"] for r in rooms)

    def test_a_storm_for_one_room_gives_one_reservation_each(self, stack: LocalStack) -> None:
        assert stack.simulator is not None
        room = new_room(stack)
        register(stack, room)
        for n in range(8):
            stack.simulator.state.outlook_create(ANNA, meeting(room, f"Storm {n}", hours=n))
        wait_for(lambda: len(reservations_of(stack, room)) >= 8, message="8 reservations")
        settled(stack)
        assert sorted(e["data"]["subject"] for e in reservations_of(stack, room)) == [f"Storm {n}" for n in range(8)]

    def test_missed_notifications_are_recovered_through_delta(self, stack: LocalStack) -> None:
        assert stack.simulator is not None
        room = new_room(stack)
        register(stack, room)
        settled(stack)
        stack.simulator.state.set_notifications(paused=True)
        stack.simulator.state.outlook_create(ANNA, meeting(room, "Made while Graph dropped notifications"))
        stack.simulator.state.set_notifications(paused=False, discard=True)
        stack.simulator.state.send_lifecycle(current_subscription(stack, room), "missed")
        wait_for(lambda: reservations_of(stack, room), message="resynced reservation")

    def test_an_expired_subscription_is_recreated_and_the_gap_resynced(self, stack: LocalStack) -> None:
        assert stack.simulator is not None
        room = new_room(stack)
        register(stack, room)
        settled(stack)
        old = current_subscription(stack, room)
        stack.simulator.state.expire_subscription(old)
        stack.simulator.state.outlook_create(ANNA, meeting(room, "Booked in the gap"))
        assert stack.admin("POST", "/admin/functions/subscription_renewal", json={"input": ""}).status_code == 202
        wait_for(lambda: reservations_of(stack, room), message="gap resynced")
        assert current_subscription(stack, room) != old

    def test_a_failing_booking_system_gets_the_event_later_with_the_same_id(self, stack: LocalStack) -> None:
        assert stack.simulator is not None and stack.booking is not None
        room = new_room(stack)
        register(stack, room)
        settled(stack)
        stack.booking.fail_next = 2
        stack.simulator.state.outlook_create(ANNA, meeting(room, "Delivered on the third try"))
        [event] = wait_for(lambda: reservations_of(stack, room), timeout=90, message="delivered after retries")
        attempts = [a for a in stack.booking.attempts if a["id"] == event["id"]]
        assert [a["status"] for a in attempts] == [503, 503, 204]

    def test_a_booking_moved_minutes_after_it_was_made_reaches_the_booking_system(self, stack: LocalStack) -> None:
        assert stack.simulator is not None
        room = new_room(stack)
        register(stack, room)
        created = stack.simulator.state.outlook_create(ANNA, meeting(room, "Moved soon after"))
        wait_for(lambda: reservations_of(stack, room), message="reservation created")
        settled(stack)  # Graph's created + updated notifications for the booking are all handled
        moved = meeting(room, "Moved soon after", hours=2)
        stack.simulator.state.outlook_update(ANNA, created["id"], {"start": moved["start"], "end": moved["end"]})

        def updated() -> list[dict[str, Any]]:
            return [e for e in reservations_of(stack, room) if e["type"] == "reservation.updated"]

        [event] = wait_for(updated, message="the move published (within the duplicate-detection window)")
        assert datetime.fromisoformat(event["data"]["start"]) == START + timedelta(hours=2)

    def test_a_rooms_events_reach_the_booking_system_in_publication_order_despite_retries(
            self, stack: LocalStack) -> None:
        assert stack.simulator is not None and stack.booking is not None
        room = new_room(stack)
        register(stack, room)
        settled(stack)
        stack.booking.fail_next = 2  # the room's first event fails twice; the later ones must wait for it
        for n in range(3):
            stack.simulator.state.outlook_create(ANNA, meeting(room, f"In order {n}", hours=n))
        wait_for(lambda: len(reservations_of(stack, room)) >= 3, timeout=90, message="3 reservations")
        settled(stack)
        with stack.client() as client:
            log = client.get("/api/reservations", headers={"x-functions-key": stack.host.function_key}).json()
        published = [e["id"] for e in log["items"] if e["type"].startswith("reservation.")
                     and e["data"]["room"] == room]
        assert [e["id"] for e in reservations_of(stack, room)] == published

    def test_backfill_publishes_bookings_made_before_activation(self, stack: LocalStack) -> None:
        assert stack.simulator is not None
        room = new_room(stack)
        stack.simulator.state.outlook_create(ANNA, meeting(room, "Booked before activation"))
        register(stack, room)
        settled(stack)
        assert reservations_of(stack, room) == []
        today = datetime.now(UTC).date().isoformat()
        response = stack.admin("POST", f"/api/manage/rooms/{room}/backfill", params={"from": today})
        assert response.status_code == 202, response.text

        def job() -> Any:
            rooms = stack.admin("GET", "/api/manage/rooms").json()["value"]
            backfill = next(r for r in rooms if r["email"] == room)["backfill"]
            return backfill if backfill and backfill["status"] == "done" else None

        assert wait_for(job, message="backfill done")["published"] == 1
        wait_for(lambda: reservations_of(stack, room), message="backfilled reservation delivered")


class TestBookingSystemToOutlook:
    def test_a_recurring_reservation_is_one_series_and_not_echoed_back(self, stack: LocalStack) -> None:
        assert stack.simulator is not None
        room = new_room(stack)
        register(stack, room)
        settled(stack)
        first = START.date()
        event = {"specversion": "1.0", "id": f"r-{uuid.uuid4().hex[:8]}", "source": "https://booking.example.com",
                 "type": "reservation.created", "subject": f"reservation/{uuid.uuid4().hex[:8]}",
                 "time": datetime.now(UTC).isoformat(), "sequence": "1",
                 "data": {"room": room, "booker": {"email": ANNA, "name": "Anna Berger"},
                          "start": f"{first}T10:00:00", "end": f"{first}T11:00:00", "timeZone": "Europe/Berlin",
                          "subject": "Weekly sync",
                          "recurrence": {"pattern": {"type": "weekly", "interval": 1,
                                                     "daysOfWeek": [first.strftime("%A").lower()]},
                                         "range": {"type": "numbered", "startDate": first.isoformat(),
                                                   "numberOfOccurrences": 6}}}}
        assert stack.post_events([event]).status_code == 202
        stack.wait_until_drained()
        [master] = [e for e in stack.calendar(ANNA) if e.get("subject") == "Weekly sync"]
        assert master.get("type") == "seriesMaster" and master["recurrence"]["range"]["numberOfOccurrences"] == 6
        wait_for(lambda: stack.calendar(room), message="the room's copy")
        settled(stack)
        assert reservations_of(stack, room) == []  # our own booking is not published back


class TestUsersDirectory:
    def test_disabled_removed_and_new_users_reach_the_booking_system(self, stack: LocalStack) -> None:
        assert stack.simulator is not None and stack.booking is not None
        state = stack.simulator.state
        leaver, mover = f"leaver-{uuid.uuid4().hex[:6]}@contoso.com", f"mover-{uuid.uuid4().hex[:6]}@contoso.com"
        state.add_user(leaver, "Leaver")
        state.add_user(mover, "Mover")

        def run_timer() -> None:
            """Run the timer and wait until a round of the users delta has finished after it started."""
            started = datetime.now(UTC)
            assert stack.admin("POST", "/admin/functions/users_directory", json={"input": ""}).status_code == 202

            def round_done() -> bool:
                cursor = users_cursor(stack)
                return bool(cursor.delta_link and not cursor.next_link and cursor.updated_at
                            and cursor.updated_at >= started)

            wait_for(round_done, message="a users directory round")

        run_timer()  # the baseline round (or a round after earlier tests)
        run_timer()
        state.update_user(mover, account_enabled=False)
        state.delete_user(leaver, permanent=True)
        newcomer = f"new-{uuid.uuid4().hex[:6]}@contoso.com"
        state.add_user(newcomer, "Newcomer")
        run_timer()

        def users() -> set[tuple[str, str]]:
            return {(e["type"], e["data"].get("userPrincipalName") or "") for e in stack.booking.of_type("user.")}

        wait_for(lambda: {("user.deactivated", mover), ("user.created", newcomer)} <= users(), message="users")
        deactivated = [e for e in stack.booking.of_type("user.deactivated")]
        assert len(deactivated) >= 2  # the mover and the leaver (its UPN known from the stored row)
        assert ("user.deactivated", leaver) in users()
