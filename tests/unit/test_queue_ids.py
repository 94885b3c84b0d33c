"""Every message and session id fits Service Bus's 128 characters, stays deterministic, and keeps
distinct things distinct (RecordingQueue refuses what Service Bus refuses)."""

from __future__ import annotations

import json

import pytest

from shared.app.messaging import MAX_ID_CHARS, ORIGIN_PROPERTY, PLANNING_QUEUE, Delivery, queue_id
from shared.app.operator.deadletters import replay_dead_letter
from shared.app.planning.ingest import ingest_planning_events
from shared.app.planning.sync import sync_planning_message
from shared.errors import Throttled
from tests.support.builders import FakeWorld, body, cloud_event, task_data

LONG_ID = "E" * 128  # the schema's longest event id
ICAL_UID = "040000008200E00074C5B7101A82E008" + "0" * 80  # Exchange iCalUIds are 112 characters


@pytest.fixture
def world() -> FakeWorld:
    return FakeWorld()


def redelivery(message) -> Delivery:  # type: ignore[no-untyped-def]
    return Delivery(message.message_id, 1, message.session_id, dict(message.application_properties))


class TestQueueId:
    def test_a_short_id_is_kept_as_is(self) -> None:
        assert queue_id("evt-1", "3") == "evt-1~3"

    def test_a_long_id_is_cut_to_128_with_a_digest_of_the_whole(self) -> None:
        long_a, long_b = queue_id(LONG_ID, "1"), queue_id(LONG_ID, "2")
        assert len(long_a) == len(long_b) == MAX_ID_CHARS
        assert long_a != long_b and long_a == queue_id(LONG_ID, "1")
        assert long_a.startswith("EEEE")

    def test_an_exchange_ical_uid_subject_fits(self) -> None:
        assert len(ICAL_UID) == 112
        subject = f"room/meeting.room.north@contoso.com/event/{ICAL_UID}"
        assert len(subject) > MAX_ID_CHARS and len(queue_id(subject)) == MAX_ID_CHARS


class TestPlanningIds:
    async def test_a_128_character_event_id_is_accepted_and_queued(self, world: FakeWorld) -> None:
        event = cloud_event("task.planned", "task/" + "t" * 100, task_data(), event_id=LONG_ID)
        reply = await ingest_planning_events(body(event), "application/cloudevents+json", world.services().ingest())
        assert reply.status == 202
        [(_, message)] = world.queue.sent
        assert len(message.message_id) <= MAX_ID_CHARS and len(message.session_id or "") <= MAX_ID_CHARS

    async def test_reschedule_defer_and_replay_of_a_128_character_id_fit_and_differ(self, world: FakeWorld) -> None:
        event = cloud_event("task.planned", "task/1", task_data(), event_id=LONG_ID)
        await ingest_planning_events(body(event), "application/cloudevents+json", world.services().ingest())
        [(_, first)] = world.queue.sent
        world.calendar.faults.append(("create", Throttled("429", retry_after=30)))
        assert await sync_planning_message(first.body, redelivery(first), world.services().sync()) == "rescheduled"
        rescheduled = world.queue.sent[-1][1]
        settle = world.services().settlement()
        await settle.defer(PLANNING_QUEUE, first.body, redelivery(rescheduled), "no credential")
        deferred = world.queue.sent[-1][1]
        await settle.dead_letter(PLANNING_QUEUE, first.body, redelivery(deferred), "given up")
        [record] = world.deadletters.records.values()
        assert (await replay_dead_letter(record.id, world.services().operator())).status == 202
        replayed = world.queue.sent[-1][1]
        ids = [m.message_id for _, m in world.queue.sent]
        assert len(set(ids)) == 4 and all(len(i) <= MAX_ID_CHARS for i in ids)
        assert rescheduled.application_properties[ORIGIN_PROPERTY] == first.message_id
        assert deferred.application_properties[ORIGIN_PROPERTY] == first.message_id
        assert {m.session_id for _, m in world.queue.sent} == {first.session_id}
        assert replayed.body == first.body

    async def test_the_reschedule_id_is_deterministic(self, world: FakeWorld) -> None:
        event = cloud_event("task.planned", "task/1", task_data(), event_id=LONG_ID)
        for _ in range(2):
            world.calendar.faults.append(("create", Throttled("429", retry_after=30)))
            await sync_planning_message(body(event), Delivery(LONG_ID, 1, "task/1"), world.services().sync())
        first, second = (m.message_id for _, m in world.queue.sent)
        assert first == second  # a repeated send of one copy is dropped by duplicate detection

    async def test_an_event_id_with_a_tilde_keeps_its_copies_apart_from_another(self, world: FakeWorld) -> None:
        for event_id in ("a~b", "a~c"):
            world.calendar.faults.append(("create", Throttled("429", retry_after=30)))
            event = cloud_event("task.planned", f"task/{event_id}", task_data(), event_id=event_id)
            await sync_planning_message(body(event), Delivery(event_id, 1, event["subject"]), world.services().sync())
        first, second = (m.message_id for _, m in world.queue.sent)
        assert first != second

    async def test_two_sources_with_the_same_event_id_and_subject_both_land(self, world: FakeWorld) -> None:
        events = [cloud_event("task.planned", "task/7", task_data(title=f"From {s}"), event_id="evt-7",
                              source=f"https://planning.example.com/{s}") for s in ("north", "south")]
        reply = await ingest_planning_events(json.dumps(events).encode(), "application/cloudevents-batch+json",
                                             world.services().ingest())
        assert reply.status == 202
        first, second = (m for _, m in world.queue.sent)
        assert first.message_id != second.message_id and first.session_id != second.session_id
        for message in (first, second):
            await sync_planning_message(message.body, redelivery(message), world.services().sync())
        assert sorted(e.content["subject"] for e in world.calendar.events.values()) == ["From north", "From south"]


class TestThrottlingIsNotFailure:
    async def test_a_message_throttled_a_hundred_times_is_rescheduled_not_dead_lettered(
            self, world: FakeWorld) -> None:
        event = cloud_event("task.planned", "task/1", task_data())
        world.calendar.faults.append(("create", Throttled("429", retry_after=7200)))
        delivery = Delivery(event["id"], 1, "task/1", {"connector-attempt": 100})
        assert await sync_planning_message(body(event), delivery, world.services().sync()) == "rescheduled"
        assert world.deadletters.records == {}
        [(_, message)] = world.queue.sent
        assert message.scheduled_enqueue_time is not None
        assert (message.scheduled_enqueue_time - world.now).total_seconds() == 7200  # hours if Graph asks


class TestNotificationIds:
    @staticmethod
    def _item(**extra: object) -> dict:
        item = {"subscriptionId": "sub-1", "changeType": "updated", "resource": "Users/u/Events/E1",
                "resourceData": {"id": "E1"}}
        item.update(extra)
        return item

    def _work(self, item: dict):  # type: ignore[no-untyped-def]
        from shared.domain.rooms.notifications import _work

        work = _work(item, "room@contoso.com", lifecycle=False)
        assert work is not None
        return work

    def test_two_updates_of_one_event_have_different_ids_and_a_repeat_the_same(self) -> None:
        first = self._work(self._item(resourceData={"id": "E1", "@odata.etag": 'W/"1"'}))
        again = self._work(self._item(resourceData={"id": "E1", "@odata.etag": 'W/"1"'}))
        second = self._work(self._item(resourceData={"id": "E1", "@odata.etag": 'W/"2"'}))
        assert first.message_id == again.message_id != second.message_id

    def test_without_an_etag_the_notifications_own_id_tells_them_apart(self) -> None:
        assert self._work(self._item(id="n-1")).message_id != self._work(self._item(id="n-2")).message_id

    def test_without_any_version_no_two_notifications_share_an_id(self) -> None:
        assert self._work(self._item()).message_id != self._work(self._item()).message_id

    def test_a_room_address_longer_than_128_gets_a_bounded_session(self) -> None:
        from shared.app.rooms.subscriptions import work_message
        from shared.domain.rooms.notifications import RoomWork

        message = work_message(RoomWork("resync", "r" * 200 + "@contoso.com"), unique="sub-1")
        assert len(message.session_id or "") == MAX_ID_CHARS and len(message.message_id) <= MAX_ID_CHARS


def test_a_message_throttled_again_and_again_backs_off_beyond_retry_after_and_spreads() -> None:
    from shared.app.messaging import throttle_wait

    assert throttle_wait(30, 1).total_seconds() == 30  # the first time: exactly what Graph asks
    assert throttle_wait(1, 1).total_seconds() == 1
    waits = [throttle_wait(1, attempt).total_seconds() for attempt in range(1, 8)]
    assert waits == sorted(waits) and waits[-1] >= 64  # a herd's stragglers stop hammering the mailbox
    assert throttle_wait(1, 5, 0.0) != throttle_wait(1, 5, 0.9)  # messages of one herd come back apart
    assert throttle_wait(None, 30).total_seconds() <= 450  # capped
