"""Coalescing a batch from an entity's session: one Graph write for a burst, and a batch settles safely."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.app.messaging import ATTEMPT_PROPERTY, NOTHING_CREATED_PROPERTY, PLANNING_QUEUE, Delivery
from shared.app.planning.drift import DRIFT_PROPERTY
from shared.app.planning.sync import sync_planning_batch, sync_planning_message
from shared.domain.planning.coalesce import Step, coalesce
from shared.domain.planning.model import EntityKey, Version
from shared.errors import Throttled, TransientError
from tests.fakes.telemetry import RecordedTelemetry
from tests.support.builders import FakeWorld, body, cloud_event, task_data

T = datetime(2026, 5, 1, tzinfo=UTC)
A, B = EntityKey("s", "task/1"), EntityKey("s", "task/2")


def hours(n: int) -> dict:
    return task_data(start=f"2026-05-04T{8 + n:02d}:00:00+02:00", end=f"2026-05-04T{9 + n:02d}:00:00+02:00")


def burst(subject: str, count: int) -> list[dict]:
    return [cloud_event("task.planned" if n == 1 else "task.rescheduled", subject, hours(n % 8), sequence=n)
            for n in range(1, count + 1)]


def batch_of(events: list[dict], count: int = 1) -> list[tuple[bytes, Delivery]]:
    return [(body(e), Delivery(e["id"], count, e["subject"])) for e in events]


class TestChoosingTheNewest:
    def test_the_newest_of_each_entity_is_applied_in_its_place(self) -> None:
        items = [(A, Version(T, 1)), (B, Version(T, 1)), (A, Version(T, 3)), (A, Version(T, 2))]
        assert coalesce(items) == [Step(1), Step(2, (0, 3))]

    def test_of_equal_versions_the_first_wins_as_one_by_one(self) -> None:
        assert coalesce([(A, Version(T, 2)), (A, Version(T, 2))]) == [Step(0, (1,))]

    def test_nothing_is_coalesced_across_a_barrier(self) -> None:
        items = [(A, Version(T, 1)), None, (A, Version(T, 2)), (A, Version(T, 3))]
        assert coalesce(items) == [Step(0), Step(1), Step(3, (2,))]


class TestBatchSettlement:
    async def test_a_burst_for_one_task_costs_one_graph_write(self) -> None:
        world, recorded = FakeWorld(), RecordedTelemetry()
        events = burst("task/1", 10)
        outcomes = await sync_planning_batch(batch_of(events), world.services(telemetry=recorded.telemetry).sync())
        assert outcomes == ["create"] and world.calendar.calls == [("create", "anna@contoso.com")]
        [held] = world.calendar.events.values()
        assert held.content["start"]["dateTime"].startswith("2026-05-04T10")  # sequence 10: hour 10 % 8 = 2
        counted = {p[0]["outcome"]: p[1] for p in recorded.points("connector.events.processed")}
        assert counted == {"written": 1, "coalesced": 9}

    async def test_a_batch_of_two_tasks_writes_each_once(self) -> None:
        world = FakeWorld()
        mixed = [e for pair in zip(burst("task/1", 3), burst("task/2", 3), strict=True) for e in pair]
        await sync_planning_batch(batch_of(mixed), world.services().sync())
        assert sorted(world.calendar.calls) == [("create", "anna@contoso.com")] * 2
        assert len(world.calendar.events) == 2

    async def test_when_the_newest_fails_the_batch_raises_after_the_others_ran_and_nothing_is_lost(self) -> None:
        world = FakeWorld()
        mixed = burst("task/1", 3) + burst("task/2", 2)
        world.calendar.faults.append(("create", TransientError("connection reset")))  # the first entity's newest
        with pytest.raises(TransientError):
            await sync_planning_batch(batch_of(mixed), world.services().sync())
        assert len(world.calendar.events) == 1  # task/2 had its turn
        assert not world.deadletters.records and not world.queue.sent
        # The host abandons the whole batch; its redelivery converges without a second write for task/2.
        world.calendar.calls.clear()
        await sync_planning_batch(batch_of(mixed, count=2), world.services().sync())
        assert len(world.calendar.events) == 2
        assert [c[0] for c in world.calendar.calls] == ["find", "create"]  # task/2 is stale now

    async def test_a_throttled_newest_is_rescheduled_carrying_the_newest_state(self) -> None:
        world = FakeWorld()
        events = burst("task/1", 4)
        world.calendar.faults.append(("create", Throttled("429", retry_after=5, refused=True)))
        assert await sync_planning_batch(batch_of(events), world.services().sync()) == ["rescheduled"]
        [(queue, copy)] = world.queue.sent
        assert queue == PLANNING_QUEUE and copy.body == body(events[-1])
        assert copy.application_properties[ATTEMPT_PROPERTY] == 1

    async def test_a_drift_message_is_applied_on_its_own(self) -> None:
        world = FakeWorld()
        first, second = burst("task/1", 2)
        repair = (body(first), Delivery("repair-1", 1, "task/1", {DRIFT_PROPERTY: "deleted"}))
        outcomes = await sync_planning_batch([batch_of([first])[0], repair, batch_of([second])[0]],
                                             world.services().sync())
        assert outcomes[0] == "create" and outcomes[2] == "update"


class TestLookupBeforeCreate:
    async def test_a_copy_after_a_refused_create_creates_without_looking(self) -> None:
        world = FakeWorld()
        [event] = burst("task/1", 1)
        world.calendar.faults.append(("create", Throttled("429", retry_after=1, refused=True)))
        services = world.services()
        await sync_planning_message(body(event), Delivery(event["id"], 1, "task/1"), services.sync())
        [(_, copy)] = world.queue.sent
        assert copy.application_properties[NOTHING_CREATED_PROPERTY] == 1
        await sync_planning_message(copy.body, Delivery(copy.message_id, 1, "task/1", copy.application_properties),
                                    services.sync())
        assert [c[0] for c in world.calendar.calls] == ["create", "create"]

    @pytest.mark.parametrize("fault", [Throttled("503", retry_after=1), Throttled("429", retry_after=1)])
    async def test_a_copy_looks_first_when_a_create_may_have_reached_graph(self, fault: Throttled) -> None:
        world = FakeWorld()
        [event] = burst("task/1", 1)
        world.calendar.faults.append(("create", fault))  # a 503 may come after the write; a 2nd delivery: unknown
        count = 1 if fault.args[0] == "503" else 2
        services = world.services()
        await sync_planning_message(body(event), Delivery(event["id"], count, "task/1"), services.sync())
        [(_, copy)] = world.queue.sent
        assert NOTHING_CREATED_PROPERTY not in copy.application_properties
        await sync_planning_message(copy.body, Delivery(copy.message_id, 1, "task/1", copy.application_properties),
                                    services.sync())
        assert [c[0] for c in world.calendar.calls][-2:] == ["find", "create"]
