from __future__ import annotations

import pytest

from shared.app.messaging import ATTEMPT_PROPERTY, PLANNING_QUEUE, Delivery
from shared.app.people.appointments import _sync
from shared.app.people.written import READBACK_WAITS
from shared.errors import NeedsReconnect, NotFound
from tests.support.builders import body
from tests.unit.people.world import (
    COLLEAGUES,
    ORGANIZER,
    PeopleWorld,
    appointment,
    cancelled,
    scheduled,
    updated,
)


@pytest.fixture
def world() -> PeopleWorld:
    return PeopleWorld()


class TestScheduling:
    async def test_scheduled_creates_the_meeting_once_and_announces_it_with_the_join_link(
            self, world: PeopleWorld) -> None:
        assert await world.deliver(scheduled()) == "create"
        [meeting] = world.meetings.live()
        assert meeting.organizer == ORGANIZER and meeting.transaction_id
        assert [c[0] for c in world.meetings.calls] == ["create"]  # no read before the write
        [written] = world.written()
        assert written["subject"] == "appointment/A-1"
        assert written["data"] == {"graph": {"eventId": meeting.id, "iCalUId": f"ical-{meeting.id}",
                                             "webLink": f"https://outlook.example/{meeting.id}"},
                                   "joinUrl": f"https://teams.example/join/{meeting.id}"}

    async def test_a_retry_after_a_crash_finds_the_meeting_instead_of_making_a_second(
            self, world: PeopleWorld) -> None:
        event = scheduled()
        await world.deliver(event)
        world.mappings.rows.clear()  # the crash: the meeting was made, the mapping row never written
        assert await world.deliver(event, count=2) == "create"
        assert len(world.meetings.meetings) == 1
        assert [c[0] for c in world.meetings.calls] == ["create", "find", "update"]
        # The same CloudEvent id both times: the scheduling system deduplicates.
        assert len({e["id"] for e in world.written()}) == 1

    async def test_an_offline_meeting_is_announced_without_a_join_link(self, world: PeopleWorld) -> None:
        await world.deliver(scheduled(appointment(online=False)))
        [written] = world.written()
        assert written["data"]["joinUrl"] is None


class TestUpdates:
    async def test_an_attendee_added_patches_the_attendees_only(self, world: PeopleWorld) -> None:
        await world.deliver(scheduled())
        assert await world.deliver(updated(appointment(attendees=(*COLLEAGUES, "dan@contoso.com")), 2)) == "update"
        [patch] = world.meetings.patches
        assert set(patch) == {"attendees"}
        assert {a["emailAddress"]["address"] for a in patch["attendees"]} == {*COLLEAGUES, "dan@contoso.com",
                                                                               "room.alpha@contoso.com"}

    async def test_unchanged_content_makes_no_graph_call(self, world: PeopleWorld) -> None:
        await world.deliver(scheduled())
        world.meetings.calls.clear()
        assert await world.deliver(updated(appointment(), 2)) == "unchanged"
        assert world.meetings.calls == []

    async def test_a_renamed_attendee_or_another_order_is_no_change_for_graph(self, world: PeopleWorld) -> None:
        await world.deliver(scheduled())
        world.meetings.calls.clear()
        data = appointment(attendees=tuple(reversed(COLLEAGUES)))
        await world.deliver(updated(data, 2))
        assert world.meetings.calls == []

    async def test_a_stale_version_is_ignored(self, world: PeopleWorld) -> None:
        await world.deliver(scheduled(sequence=5))
        world.meetings.calls.clear()
        assert await world.deliver(updated(appointment(subject="Old"), 4)) == "stale"
        assert world.meetings.calls == []

    async def test_turning_online_on_announces_the_join_link(self, world: PeopleWorld) -> None:
        await world.deliver(scheduled(appointment(online=False)))
        await world.deliver(updated(appointment(online=True), 2))
        [patch] = world.meetings.patches
        assert patch == {"isOnlineMeeting": True, "onlineMeetingProvider": "teamsForBusiness"}
        assert [e["data"]["joinUrl"] is not None for e in world.written()] == [False, True]

    async def test_a_meeting_deleted_in_outlook_comes_back(self, world: PeopleWorld) -> None:
        await world.deliver(scheduled())
        world.meetings.fail_next("update", NotFound("ErrorItemNotFound"))
        await world.deliver(updated(appointment(subject="Moved"), 2))
        assert len(world.meetings.meetings) == 2


class TestCancellation:
    async def test_cancelled_with_a_comment_uses_graphs_cancel(self, world: PeopleWorld) -> None:
        await world.deliver(scheduled())
        assert await world.deliver(cancelled("The candidate withdrew", 2)) == "remove"
        [meeting] = world.meetings.meetings.values()
        assert meeting.cancelled == "The candidate withdrew"
        assert world.mappings.rows[next(iter(world.mappings.rows))].deleted

    async def test_a_cancel_of_a_meeting_already_gone_counts_as_done(self, world: PeopleWorld) -> None:
        await world.deliver(scheduled())
        world.meetings.fail_next("cancel", NotFound("ErrorItemNotFound"))
        assert await world.deliver(cancelled(None, 2)) == "remove"
        assert world.deadletters.records == {}

    async def test_a_late_scheduled_after_the_cancellation_is_stale(self, world: PeopleWorld) -> None:
        await world.deliver(scheduled(sequence=1))
        await world.deliver(cancelled(None, 3))
        assert await world.deliver(updated(appointment(), 2)) == "stale"
        assert world.meetings.live() == []


class TestWhoseToken:
    @pytest.mark.parametrize(("auth", "connected", "acting"), [
        ("auto", True, "delegated"),
        ("auto", False, "application"),
        ("application", True, "application"),
        ("delegated", True, "delegated"),
    ])
    async def test_the_setting_and_the_connection_choose_the_token(self, auth: str, connected: bool,
                                                                     acting: str) -> None:
        world = PeopleWorld(auth=auth)
        if connected:
            world.delegated.connected.add(ORGANIZER)
        await world.deliver(scheduled())
        assert world.meetings.calls == [("create", ORGANIZER, acting)]

    async def test_an_organizer_who_must_reconnect_parks_the_work(self) -> None:
        world = PeopleWorld(auth="delegated")  # not connected: the connection refuses a token
        assert await world.deliver(scheduled()) == "waiting"
        assert world.meetings.live() == [] and world.mappings.rows == {}
        assert world.sent_to(PLANNING_QUEUE) == []  # kept for the organizer until they reconnect
        [(queue, waiting)] = await world.waiting.waiting(ORGANIZER)
        assert queue == PLANNING_QUEUE and waiting.application_properties[ATTEMPT_PROPERTY] == 1

    async def test_needs_reconnect_propagates_from_the_use_case(self) -> None:
        world = PeopleWorld(auth="delegated")
        event = scheduled()
        with pytest.raises(NeedsReconnect):
            await _sync(body(event), Delivery(event["id"]), world.container().appointments())


class TestJoinLinkReadBack:
    async def test_a_join_link_that_comes_later_is_read_back_and_then_published(self, world: PeopleWorld) -> None:
        world.meetings.join_after_reads = 2
        await world.deliver(scheduled())
        assert world.written() == []
        [readback] = world.sent_to(PLANNING_QUEUE)
        assert (readback.scheduled_enqueue_time - world.now).total_seconds() == READBACK_WAITS[0]
        assert await world.run_readbacks() == ["join link awaited"]
        assert await world.run_readbacks() == ["join link published"]
        [written] = world.written()
        assert written["data"]["joinUrl"]

    async def test_reads_are_bounded_and_the_meeting_is_announced_without_the_link(self, world: PeopleWorld) -> None:
        world.meetings.join_after_reads = 99
        await world.deliver(scheduled())
        outcomes = []
        for _ in range(len(READBACK_WAITS) + 1):
            outcomes += await world.run_readbacks()
        assert outcomes[-1] == "published without join link" and len(outcomes) == len(READBACK_WAITS)
        [written] = world.written()
        assert written["data"]["joinUrl"] is None

    async def test_a_read_back_after_the_cancellation_publishes_nothing(self, world: PeopleWorld) -> None:
        world.meetings.join_after_reads = 1
        await world.deliver(scheduled())
        readbacks = world.take(PLANNING_QUEUE)
        await world.deliver(cancelled(None, 2))
        world.queue.sent = [(PLANNING_QUEUE, m) for m in readbacks]
        assert await world.run_readbacks() == ["read-back obsolete"]
        assert world.written() == []


class TestRouting:
    def test_appointment_messages_are_told_from_the_planning_ones(self) -> None:
        from shared.app.people.appointments import is_appointment

        assert is_appointment(Delivery("m", 1, "appointment/A-1~abc", {"subject": "appointment/A-1"}))
        assert is_appointment(Delivery("m", 1, "appointment/A-1~abc"))  # a replayed dead letter
        assert not is_appointment(Delivery("m", 1, "task/1~abc", {"subject": "task/1"}))
