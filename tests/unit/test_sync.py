from __future__ import annotations

import json

import pytest

from shared.app.messaging import ATTEMPT_PROPERTY, MAX_DELIVERIES, Delivery
from shared.app.planning.sync import sync_planning_message
from shared.errors import Forbidden, NotFound, Throttled, TransientError, UnknownMailbox
from tests.support.builders import FakeWorld, body, cloud_event, task_data

BEN = "ben@contoso.com"


@pytest.fixture
def world() -> FakeWorld:
    return FakeWorld()


async def deliver(world: FakeWorld, event: dict, count: int = 1, **settings) -> str:
    services = world.services(**settings)
    return await sync_planning_message(body(event), Delivery(event["id"], count, event["subject"]), services.sync())


class TestChangeKinds:
    async def test_planned_rescheduled_reassigned_and_unplanned(self, world: FakeWorld) -> None:
        await deliver(world, cloud_event("task.planned", "task/1", task_data(), sequence=1))
        [event] = world.calendar.in_mailbox("anna@contoso.com")
        await deliver(world, cloud_event("task.rescheduled", "task/1",
                                         task_data(start="2026-05-05T08:00:00+02:00", end="2026-05-05T09:00:00+02:00"),
                                         sequence=2))
        assert world.calendar.events[event.id].content["start"]["dateTime"] == "2026-05-05T08:00:00"
        await deliver(world, cloud_event("task.reassigned", "task/1", task_data(resource=BEN), sequence=3))
        assert world.calendar.in_mailbox("anna@contoso.com") == []
        assert len(world.calendar.in_mailbox("ben@contoso.com")) == 1
        await deliver(world, cloud_event("task.unplanned", "task/1", sequence=4))
        assert world.calendar.events == {}

    async def test_a_rescheduled_that_names_another_resource_is_a_reassignment(self, world: FakeWorld) -> None:
        await deliver(world, cloud_event("task.planned", "task/1", task_data(), sequence=1))
        await deliver(world, cloud_event("task.rescheduled", "task/1", task_data(resource=BEN), sequence=2))
        assert [e.mailbox for e in world.calendar.events.values()] == ["ben@contoso.com"]

    async def test_unavailability_and_working_days_come_and_go(self, world: FakeWorld) -> None:
        una = {"resource": "anna@contoso.com", "start": "2026-05-04T13:00:00+02:00", "end": "2026-05-04T15:00:00+02:00"}
        await deliver(world, cloud_event("unavailability.added", "unavailability/1", una, sequence=1))
        await deliver(world, cloud_event("unavailability.updated", "unavailability/1", {**una, "reason": "Training"},
                                         sequence=2))
        [event] = world.calendar.events.values()
        assert event.content["subject"] == "Training" and event.content["showAs"] == "oof"
        await deliver(world, cloud_event("workingday.added", "workingday/1",
                                         {"resource": "anna@contoso.com", "date": "2026-05-09"}, sequence=1))
        assert len(world.calendar.events) == 2
        await deliver(world, cloud_event("unavailability.deleted", "unavailability/1", sequence=3))
        await deliver(world, cloud_event("workingday.removed", "workingday/1", sequence=2))
        assert world.calendar.events == {}


class TestIdempotence:
    async def test_a_duplicate_delivery_writes_nothing(self, world: FakeWorld) -> None:
        event = cloud_event("task.planned", "task/1", task_data(), sequence=1)
        await deliver(world, event)
        calls = len(world.calendar.calls)
        assert await deliver(world, event) == "stale"
        assert len(world.calendar.calls) == calls

    async def test_unchanged_content_makes_no_graph_call(self, world: FakeWorld) -> None:
        await deliver(world, cloud_event("task.planned", "task/1", task_data(), sequence=1))
        calls = len(world.calendar.calls)
        assert await deliver(world, cloud_event("task.rescheduled", "task/1", task_data(), sequence=2)) == "unchanged"
        assert len(world.calendar.calls) == calls

    async def test_the_normal_path_never_reads_graph_before_writing(self, world: FakeWorld) -> None:
        await deliver(world, cloud_event("task.planned", "task/1", task_data(), sequence=1))
        await deliver(world, cloud_event("task.reassigned", "task/1", task_data(resource=BEN), sequence=2))
        assert [name for name, _ in world.calendar.calls] == ["create", "create", "delete"]

    async def test_a_crash_between_graph_write_and_mapping_write_adopts_the_event(self, world: FakeWorld) -> None:
        event = cloud_event("task.planned", "task/1", task_data(), sequence=1)
        world.mappings.fail_next_saves = 1
        with pytest.raises(RuntimeError):
            await deliver(world, event)
        # Make the transactionId useless, as if Graph had forgotten it: adoption must still hold.
        for stored in world.calendar.events.values():
            stored.transaction_id = None
        await deliver(world, event, count=2)
        assert len(world.calendar.events) == 1
        assert ("find", "anna@contoso.com") in world.calendar.calls

    async def test_an_older_event_after_unplanning_cannot_resurrect_the_task(self, world: FakeWorld) -> None:
        await deliver(world, cloud_event("task.unplanned", "task/1", sequence=5))
        assert await deliver(world, cloud_event("task.planned", "task/1", task_data(), sequence=4)) == "stale"
        assert world.calendar.events == {}

    async def test_an_event_deleted_in_outlook_comes_back_on_the_next_change(self, world: FakeWorld) -> None:
        await deliver(world, cloud_event("task.planned", "task/1", task_data(), sequence=1))
        world.calendar.events.clear()
        await deliver(world, cloud_event("task.rescheduled", "task/1", task_data(title="Later"), sequence=2))
        [event] = world.calendar.events.values()
        assert event.content["subject"] == "Later"

    async def test_a_delete_that_meets_404_counts_as_done(self, world: FakeWorld) -> None:
        await deliver(world, cloud_event("task.planned", "task/1", task_data(), sequence=1))
        world.calendar.faults.append(("delete", NotFound("gone")))
        assert await deliver(world, cloud_event("task.unplanned", "task/1", sequence=2)) == "remove"
        assert not world.deadletters.records


class TestSettlement:
    async def test_synchronize_false_acknowledges_and_writes_nothing(self, world: FakeWorld) -> None:
        outcome = await deliver(world, cloud_event("task.planned", "task/1", task_data()), synchronize=False)
        assert outcome == "not synchronized" and world.calendar.calls == [] and world.mappings.rows == {}

    async def test_an_opted_out_resource_gets_nothing_and_loses_what_it_had(self, world: FakeWorld) -> None:
        await deliver(world, cloud_event("task.planned", "task/1", task_data(), sequence=1))
        await world.resources.set_active("anna@contoso.com", False)
        await deliver(world, cloud_event("task.rescheduled", "task/1", task_data(title="x"), sequence=2))
        await deliver(world, cloud_event("task.planned", "task/2", task_data(), sequence=1))
        assert world.calendar.events == {}

    @pytest.mark.parametrize("error", [
        UnknownMailbox("mailbox anna@contoso.com is unknown"),
        Forbidden("access to mailbox anna@contoso.com denied"),
    ])
    async def test_permanent_errors_are_dead_lettered_with_their_reason(self, world: FakeWorld, error) -> None:
        world.calendar.faults.append(("create", error))
        assert await deliver(world, cloud_event("task.planned", "task/1", task_data())) == "dead-lettered"
        [record] = world.deadletters.records.values()
        assert record.reason == str(error) and record.queue == "planning-events"
        assert json.loads(record.body)["subject"] == "task/1"

    async def test_an_invalid_message_is_dead_lettered_with_the_field_at_fault(self, world: FakeWorld) -> None:
        services = world.services()
        outcome = await sync_planning_message(b'{"specversion": "1.0"}', Delivery("m1"), services.sync())
        assert outcome == "dead-lettered"
        [record] = world.deadletters.records.values()
        assert "'id' is a required property" in record.reason

    async def test_transient_errors_ask_for_redelivery_until_the_budget_is_spent(self, world: FakeWorld) -> None:
        event = cloud_event("task.planned", "task/1", task_data())
        world.calendar.faults.append(("create", TransientError("Graph answered 500")))
        with pytest.raises(TransientError):
            await deliver(world, event, count=1)
        world.calendar.faults.append(("create", TransientError("Graph answered 500")))
        assert await deliver(world, event, count=MAX_DELIVERIES) == "dead-lettered"
        [record] = world.deadletters.records.values()
        expected = f"gave up after {MAX_DELIVERIES} deliveries: TransientError: Graph answered 500"
        assert record.reason.startswith(expected)

    async def test_throttling_puts_the_message_back_with_a_scheduled_time(self, world: FakeWorld) -> None:
        event = cloud_event("task.planned", "task/1", task_data())
        world.calendar.faults.append(("create", Throttled("429", retry_after=30)))
        assert await deliver(world, event) == "rescheduled"
        [(queue, message)] = world.queue.sent
        assert queue == "planning-events" and message.session_id == "task/1"
        assert message.message_id == f"{event['id']}~1"
        assert message.application_properties[ATTEMPT_PROPERTY] == 1
        assert message.scheduled_enqueue_time is not None
        assert (message.scheduled_enqueue_time - world.now).total_seconds() == 30
        assert world.calendar.events == {}
        # The rescheduled copy is a retry: it may meet an event of ours, so it looks first.
        services = world.services()
        await sync_planning_message(message.body, Delivery(message.message_id, 1, "task/1",
                                                           dict(message.application_properties)), services.sync())
        assert len(world.calendar.events) == 1
