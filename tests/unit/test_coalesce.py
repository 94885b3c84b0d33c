"""Coalescing by debouncing: a burst of events for one task costs one Graph write, and nothing is lost."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from shared.app.messaging import (
    ATTEMPT_PROPERTY,
    COALESCE_PROPERTY,
    NOTHING_CREATED_PROPERTY,
    ORIGIN_PROPERTY,
    PLANNING_QUEUE,
    REPLAY_PROPERTY,
    Delivery,
    OutboundMessage,
)
from shared.app.planning.drift import DRIFT_PROPERTY
from shared.app.planning.ingest import ingest_planning_events
from shared.app.planning.sync import SyncDeps, sync_planning_message
from shared.bootstrap.container import Container
from shared.domain.planning.coalesce import APPLY, COALESCED, Recent, Wait
from shared.domain.planning.model import EntityKey, Version
from shared.errors import Throttled
from tests.fakes.telemetry import RecordedTelemetry
from tests.support.builders import FakeWorld, body, cloud_event, task_data

T = datetime(2026, 5, 1, tzinfo=UTC)
A = EntityKey("s", "task/1")
WINDOW, CAP = timedelta(milliseconds=500), timedelta(seconds=5)


def hours(n: int) -> dict:
    return task_data(start=f"2026-05-04T{8 + n:02d}:00:00+02:00", end=f"2026-05-04T{9 + n:02d}:00:00+02:00")


def burst(subject: str, count: int) -> list[dict]:
    return [cloud_event("task.planned" if n == 1 else "task.rescheduled", subject, hours(n % 8), sequence=n)
            for n in range(1, count + 1)]


def ms(n: int) -> timedelta:
    return timedelta(milliseconds=n)


class TestMemory:
    def test_a_copy_of_an_entity_never_seen_is_applied(self) -> None:
        assert Recent(WINDOW, CAP).decide(A, Version(T, 1), T) == APPLY

    def test_a_newer_version_seen_coalesces_the_copy(self) -> None:
        recent = Recent(WINDOW, CAP)
        recent.arrived(A, Version(T, 1), T)
        recent.arrived(A, Version(T, 2), T + ms(100))
        assert recent.decide(A, Version(T, 1), T + ms(500)) == COALESCED
        assert recent.decide(A, Version(T, 2), T + ms(600)) == APPLY

    def test_an_entity_still_bursting_puts_the_newest_off_to_the_window_after_its_last_arrival(self) -> None:
        recent = Recent(WINDOW, CAP)
        recent.arrived(A, Version(T, 2), T)
        recent.arrived(A, Version(T, 1), T + ms(400))  # older, out of order: still a sign of a burst
        assert recent.decide(A, Version(T, 2), T + ms(500)) == Wait(T + ms(900))

    def test_a_burst_that_never_stops_is_written_once_it_lasted_the_cap(self) -> None:
        recent = Recent(WINDOW, CAP)
        for n in range(60):
            recent.arrived(A, Version(T, n), T + ms(100 * n))
        assert recent.decide(A, Version(T, 10), T + ms(1500)) == COALESCED
        assert recent.decide(A, Version(T, 50), T + CAP) == APPLY
        recent.written(A)
        assert recent.decide(A, Version(T, 51), T + CAP + ms(100)) == COALESCED  # a newer one is due later

    def test_memory_is_bounded_in_age_and_size(self) -> None:
        recent = Recent(WINDOW, CAP, max_entries=3)
        for n in range(5):
            recent.arrived(EntityKey("s", f"task/{n}"), Version(T, 1), T)
        assert len(recent) == 3 and recent.get(EntityKey("s", "task/0")) is None
        recent.arrived(A, Version(T, 1), T + CAP + ms(1))
        assert len(recent) == 1


def debouncing(world: FakeWorld, recent: Recent | None, telemetry: RecordedTelemetry | None = None) -> SyncDeps:
    services = world.services(coalesce_window_ms=500, telemetry=telemetry.telemetry if telemetry else None)
    return replace(services.sync(), recent=recent)


def as_delivered(copy: OutboundMessage, count: int = 1) -> Delivery:
    return Delivery(copy.message_id, count, copy.session_id, copy.application_properties)


class TestDebouncing:
    async def test_a_first_arrival_is_put_off_as_a_copy_and_completed(self) -> None:
        world, recent = FakeWorld(), Recent(WINDOW, CAP)
        [event] = burst("task/1", 1)
        deps = debouncing(world, recent)
        outcome = await sync_planning_message(body(event), Delivery(event["id"], 1, "task/1"), deps)
        assert outcome == "debounced" and world.calendar.calls == [] and not world.mappings.rows
        [(queue, copy)] = world.queue.sent
        assert queue == PLANNING_QUEUE and copy.body == body(event) and copy.session_id == "task/1"
        assert copy.scheduled_enqueue_time == world.now + WINDOW
        assert copy.application_properties[COALESCE_PROPERTY] == 1
        assert copy.application_properties[ORIGIN_PROPERTY] == event["id"]
        assert copy.application_properties[ATTEMPT_PROPERTY] == 0  # putting off touched no calendar

    async def test_a_redelivered_original_schedules_the_same_copy(self) -> None:
        world, recent = FakeWorld(), Recent(WINDOW, CAP)
        [event] = burst("task/1", 1)
        for count in (1, 2):
            await sync_planning_message(body(event), Delivery(event["id"], count, "task/1"), debouncing(world, recent))
        first, second = (m for _, m in world.queue.sent)
        assert first.message_id == second.message_id  # duplicate detection drops the second

    async def test_a_burst_of_ten_costs_one_graph_write_and_the_calendar_holds_the_newest(self) -> None:
        world, recent, recorded = FakeWorld(), Recent(WINDOW, CAP), RecordedTelemetry()
        deps = debouncing(world, recent, recorded)
        for event in burst("task/1", 10):
            await sync_planning_message(body(event), Delivery(event["id"], 1, "task/1"), deps)
            world.advance(0.05)
        world.advance(0.5)
        outcomes = [await sync_planning_message(copy.body, as_delivered(copy), deps) for _, copy in world.queue.sent]
        assert outcomes == ["coalesced"] * 9 + ["create"]
        assert world.calendar.calls == [("create", "anna@contoso.com")]
        [held] = world.calendar.events.values()
        assert held.content["start"]["dateTime"].startswith("2026-05-04T10")  # sequence 10: hour 10 % 8 = 2
        counted = {p[0]["outcome"]: p[1] for p in recorded.points("connector.events.processed")}
        assert counted == {"written": 1, "coalesced": 9}

    async def test_a_copy_of_an_entity_still_bursting_is_put_off_again(self) -> None:
        world, recent = FakeWorld(), Recent(WINDOW, CAP)
        newer, older = burst("task/1", 2)[::-1]
        deps = debouncing(world, recent)
        await sync_planning_message(body(newer), Delivery(newer["id"], 1, "task/1"), deps)
        world.advance(0.4)
        await sync_planning_message(body(older), Delivery(older["id"], 1, "task/1"), deps)  # late, out of order
        world.advance(0.1)
        copy = world.queue.sent[0][1]
        assert await sync_planning_message(copy.body, as_delivered(copy), deps) == "debounced"
        again = world.queue.sent[-1][1]
        assert again.application_properties[COALESCE_PROPERTY] == 2 and again.message_id != copy.message_id
        assert again.scheduled_enqueue_time == world.now + timedelta(milliseconds=400)
        world.advance(0.4)
        assert await sync_planning_message(again.body, as_delivered(again), deps) == "create"

    async def test_a_copy_in_a_process_without_memory_of_the_entity_is_applied(self) -> None:
        world = FakeWorld()
        first, second = burst("task/1", 2)
        remembering, forgetting = debouncing(world, Recent(WINDOW, CAP)), debouncing(world, None)
        for event in (first, second):
            await sync_planning_message(body(event), Delivery(event["id"], 1, "task/1"), remembering)
        world.advance(0.5)
        outcomes = [await sync_planning_message(c.body, as_delivered(c), forgetting) for _, c in world.queue.sent]
        assert outcomes == ["create", "update"]

    @pytest.mark.parametrize("properties", [{DRIFT_PROPERTY: "deleted"}, {REPLAY_PROPERTY: 1},
                                            {ATTEMPT_PROPERTY: 1, ORIGIN_PROPERTY: "evt-x"}])
    async def test_repairs_replays_and_rescheduled_copies_are_not_put_off(self, properties: dict) -> None:
        world = FakeWorld()
        [event] = burst("task/1", 1)
        delivery = Delivery("m-1", 1, "task/1", properties)
        assert await sync_planning_message(body(event), delivery, debouncing(world, Recent(WINDOW, CAP))) == "create"
        assert not world.queue.sent

    async def test_a_window_of_zero_applies_at_once(self) -> None:
        world = FakeWorld()
        [event] = burst("task/1", 1)
        deps = replace(world.services(coalesce_window_ms=0).sync(), recent=Recent(WINDOW, CAP))
        assert await sync_planning_message(body(event), Delivery(event["id"], 1, "task/1"), deps) == "create"

    async def test_a_throttled_copy_is_rescheduled_by_the_settle_policy_and_goes_straight_through(self) -> None:
        world, recent = FakeWorld(), Recent(WINDOW, CAP)
        [event] = burst("task/1", 1)
        deps = debouncing(world, recent)
        await sync_planning_message(body(event), Delivery(event["id"], 1, "task/1"), deps)
        world.advance(0.5)
        world.calendar.faults.append(("create", Throttled("429", retry_after=5, refused=True)))
        copy = world.queue.sent[0][1]
        assert await sync_planning_message(copy.body, as_delivered(copy), deps) == "rescheduled"
        retry = world.queue.sent[-1][1]
        assert retry.application_properties[NOTHING_CREATED_PROPERTY] == 1
        world.advance(5)
        assert await sync_planning_message(retry.body, as_delivered(retry), deps) == "create"
        assert [c[0] for c in world.calendar.calls] == ["create", "create"]  # no lookup: the 429 created nothing


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


def ingesting(world: FakeWorld, window_ms: int = 500) -> tuple[Container, Recent | None]:
    """The container over the world with coalescing on: ingest and the sync worker share its memory."""
    services = world.services(coalesce_window_ms=window_ms)
    return services, services.recent


async def ingest(services: Container, events: list[dict]) -> None:
    reply = await ingest_planning_events(json.dumps(events).encode(), "application/cloudevents-batch+json",
                                         services.ingest())
    assert reply.status == 202


class TestPutOffAtIngest:
    async def test_ingest_queues_each_event_put_off_by_the_window_and_remembers_it(self) -> None:
        world = FakeWorld()
        services, recent = ingesting(world)
        [event] = burst("task/1", 1)
        await ingest(services, [event])
        [(queue, message)] = world.queue.sent
        assert queue == PLANNING_QUEUE and message.scheduled_enqueue_time == world.now + WINDOW
        assert message.application_properties[COALESCE_PROPERTY] == 1
        assert recent is not None and recent.get(EntityKey(event["source"], "task/1")) is not None

    async def test_without_a_window_ingest_queues_the_event_due_at_once(self) -> None:
        world = FakeWorld()
        services, _ = ingesting(world, window_ms=0)
        await ingest(services, burst("task/1", 1))
        [(_, message)] = world.queue.sent
        assert message.scheduled_enqueue_time is None and COALESCE_PROPERTY not in message.application_properties

    async def test_an_event_put_off_at_ingest_costs_one_invocation_when_due(self) -> None:
        world = FakeWorld()
        services, _ = ingesting(world)
        await ingest(services, burst("task/1", 1))
        world.advance(0.5)
        [(_, message)] = world.queue.sent
        assert await sync_planning_message(message.body, as_delivered(message), services.sync()) == "create"
        assert len(world.queue.sent) == 1  # nothing put off again

    async def test_a_burst_put_off_at_ingest_costs_one_graph_write(self) -> None:
        world = FakeWorld()
        services, _ = ingesting(world)
        for event in burst("task/1", 10):
            await ingest(services, [event])
            world.advance(0.02)
        world.advance(0.5)
        outcomes = [await sync_planning_message(m.body, as_delivered(m), services.sync()) for _, m in world.queue.sent]
        assert outcomes == ["coalesced"] * 9 + ["create"]
        assert world.calendar.calls == [("create", "anna@contoso.com")]

    async def test_a_burst_ingested_in_another_process_is_still_written_once(self) -> None:
        world = FakeWorld()
        elsewhere, _ = ingesting(world)  # another instance's ingest: its memory is not the worker's
        for event in burst("task/1", 10):
            await ingest(elsewhere, [event])
            world.advance(0.02)
        world.advance(0.5)
        worker = replace(world.services(coalesce_window_ms=500).sync(), recent=Recent(WINDOW, CAP))
        outcomes = []
        delivered = 0
        while delivered < len(world.queue.sent):
            due = [m for _, m in world.queue.sent[delivered:]]
            delivered = len(world.queue.sent)
            for message in due:
                if message.scheduled_enqueue_time is not None and message.scheduled_enqueue_time > world.now:
                    world.now = message.scheduled_enqueue_time
                outcomes.append(await sync_planning_message(message.body, as_delivered(message), worker))
        assert world.calendar.calls == [("create", "anna@contoso.com")]
        assert outcomes[0] == "debounced" and outcomes.count("create") == 1
        [held] = world.calendar.events.values()
        assert held.content["start"]["dateTime"].startswith("2026-05-04T10")  # the newest

    async def test_a_rescheduled_copy_of_an_ingested_event_is_not_put_off_again(self) -> None:
        world = FakeWorld()
        services, _ = ingesting(world)
        await ingest(services, burst("task/1", 1))
        [(_, message)] = world.queue.sent
        world.advance(30)  # long after: the memory has forgotten the entity
        rescheduled = replace(message, message_id=message.message_id + "~1", application_properties={
            **message.application_properties, ORIGIN_PROPERTY: message.message_id, ATTEMPT_PROPERTY: 1,
            NOTHING_CREATED_PROPERTY: 1})
        worker = replace(services.sync(), recent=Recent(WINDOW, CAP))
        assert await sync_planning_message(rescheduled.body, as_delivered(rescheduled), worker) == "create"
        assert world.calendar.calls == [("create", "anna@contoso.com")]  # no lookup: nothing was created before

    async def test_an_ingested_event_that_waited_in_a_backlog_is_applied_even_when_forgotten(self) -> None:
        world = FakeWorld()
        services, _ = ingesting(world)
        await ingest(services, burst("task/1", 1))
        [(_, message)] = world.queue.sent
        due = message.scheduled_enqueue_time
        world.advance(30)  # behind a long backlog: the memory has forgotten the entity since
        worker = replace(services.sync(), recent=Recent(WINDOW, CAP))
        delivery = Delivery(message.message_id, 1, message.session_id, message.application_properties, due)
        assert await sync_planning_message(message.body, delivery, worker) == "create"
