"""Booking system → Outlook: reservation.* planning events become one meeting (or one series)."""

from __future__ import annotations

import json

import pytest

from shared.app.messaging import Delivery
from shared.app.planning.sync import sync_planning_message
from shared.domain.planning.contract import check_event
from shared.domain.planning.render import desired_state
from shared.domain.timezones import resolve_time_zone
from tests.support.builders import body, cloud_event
from tests.unit.rooms.fakes_rooms import ANNA, ROOM, RoomWorld
from tests.unit.rooms.helpers import notification, notify, register, run_graph_queue, subscription_of

BERLIN = resolve_time_zone("Europe/Berlin")
WEEKLY = {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday", "wednesday"]},
          "range": {"type": "endDate", "startDate": "2026-05-04", "endDate": "2026-06-30"}}


def reservation(**extra: object) -> dict[str, object]:
    return {"room": ROOM, "booker": {"email": ANNA, "name": "Anna"}, "start": "2026-05-04T09:00:00",
            "end": "2026-05-04T10:00:00", "timeZone": "Europe/Berlin", "subject": "Sprint review", **extra}


class TestContract:
    def test_a_reservation_event_is_valid(self) -> None:
        event = check_event(cloud_event("reservation.created", "reservation/R1", reservation(recurrence=WEEKLY)),
                            0, BERLIN)
        assert not isinstance(event, list)

    @pytest.mark.parametrize("data", [reservation(end="2026-05-04T08:00:00"), {"room": ROOM}])
    def test_invalid_reservations_are_refused(self, data: dict[str, object]) -> None:
        assert isinstance(check_event(cloud_event("reservation.updated", "reservation/R1", data), 0, BERLIN), list)

    def test_a_cancellation_needs_no_data(self) -> None:
        assert not isinstance(check_event(cloud_event("reservation.cancelled", "reservation/R1"), 0, BERLIN), list)


class TestRender:
    def _desired(self, mode: str = "organizer", **extra: object):
        event = check_event(cloud_event("reservation.created", "reservation/R1", reservation(**extra)), 0, BERLIN)
        assert not isinstance(event, list)
        return desired_state(event, BERLIN, room_mode=mode)

    def test_by_default_the_booker_gets_the_meeting_with_the_room_as_resource(self) -> None:
        desired = self._desired()
        assert desired is not None and desired.mailbox == ANNA
        assert desired.content["attendees"] == [{"type": "resource", "emailAddress": {"address": ROOM, "name": ROOM}}]
        assert desired.content["location"]["locationEmailAddress"] == ROOM
        assert desired.content["start"] == {"dateTime": "2026-05-04T09:00:00", "timeZone": "W. Europe Standard Time"}

    def test_by_setting_it_goes_straight_into_the_room_calendar(self) -> None:
        desired = self._desired("room")
        assert desired is not None and desired.mailbox == ROOM
        assert desired.content["attendees"][0]["emailAddress"]["address"] == ANNA

    def test_a_recurring_reservation_is_one_series(self) -> None:
        desired = self._desired(recurrence=WEEKLY)
        assert desired is not None and desired.content["recurrence"] == WEEKLY


class TestThroughTheSyncEngine:
    async def test_recurring_reservation_is_created_as_one_series_and_cancelled_as_one(self) -> None:
        world = RoomWorld()
        services = world.services()
        created = cloud_event("reservation.created", "reservation/R1", reservation(recurrence=WEEKLY), sequence=1)
        await sync_planning_message(body(created), Delivery(created["id"]), services.sync())
        [event] = world.calendar.in_mailbox(ANNA)
        assert event.content["recurrence"] == WEEKLY
        assert world.calendar.calls.count(("create", ANNA)) == 1
        cancelled = cloud_event("reservation.cancelled", "reservation/R1", sequence=2)
        await sync_planning_message(body(cancelled), Delivery(cancelled["id"]), services.sync())
        assert world.calendar.events == {}

    async def test_the_rooms_copy_of_our_own_booking_is_not_published_back(self) -> None:
        world = RoomWorld()
        services = world.services()
        await register(world, services)
        sub_id, state = subscription_of(world)
        world.advance(minutes=1)
        created = cloud_event("reservation.created", "reservation/R1", reservation(), sequence=1)
        await sync_planning_message(body(created), Delivery(created["id"]), services.sync())
        [ours] = world.calendar.in_mailbox(ANNA)
        # Exchange's auto-accept: the room's own copy, same iCalUId, no extended property of ours.
        world.graph.book(ROOM, "ROOMCOPY", ical=f"ical-{ours.id}", organizer=ANNA)
        await notify(services, notification(sub_id, state, "created", "ROOMCOPY"),
                     notification(sub_id, state, "updated", "ROOMCOPY"))
        await run_graph_queue(world, services)
        assert world.log.items == []
        assert json.loads(json.dumps(world.own_writes.uids))  # recorded by the sync engine

    async def test_the_rooms_copy_is_ours_even_when_notified_before_the_create_answered(self) -> None:
        world = RoomWorld()
        services = world.services()
        await register(world, services)
        sub_id, state = subscription_of(world)
        world.advance(minutes=1)
        created = cloud_event("reservation.created", "reservation/R2", reservation(), sequence=1)
        await sync_planning_message(body(created), Delivery(created["id"]), services.sync())
        [ours] = world.calendar.in_mailbox(ANNA)
        world.own_writes.uids.pop(f"ical-{ours.id}")  # as if the copy's notification came first
        world.graph.book(ROOM, "EARLYCOPY", ical="not-yet-known", organizer=ANNA,
                         start="2026-05-04T07:00:00", end="2026-05-04T08:00:00")  # 09:00-10:00 Berlin
        await notify(services, notification(sub_id, state, "created", "EARLYCOPY"))
        await run_graph_queue(world, services)
        assert world.log.items == []
