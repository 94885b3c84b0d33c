"""Property: any interleaving, with duplicates and crashes, converges to what the newest event says."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.app.messaging import Delivery
from shared.app.planning.sync import sync_planning_message
from shared.domain.planning.coalesce import Recent
from tests.support.builders import FakeWorld, body, cloud_event, task_data

MAILBOXES = ["anna@contoso.com", "ben@contoso.com", "carla@contoso.com"]
T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def revision(n: int, step: tuple[str, int, int]) -> dict:
    kind, mailbox, hour = step
    subject = "task/42"
    if kind == "unplanned":
        return cloud_event("task.unplanned", subject, sequence=n, time=T0 + timedelta(minutes=n))
    start = f"2026-05-04T{8 + hour:02d}:00:00+02:00"
    end = f"2026-05-04T{9 + hour:02d}:00:00+02:00"
    return cloud_event(f"task.{kind}", subject, task_data(MAILBOXES[mailbox], start, end, title=f"Job {hour}"),
                       sequence=n, time=T0 + timedelta(minutes=n))


steps = st.tuples(st.sampled_from(["planned", "rescheduled", "reassigned", "unplanned"]),
                  st.integers(0, 2), st.integers(0, 3))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    history=st.lists(steps, min_size=1, max_size=6),
    data=st.data(),
)
def test_any_interleaving_with_duplicates_and_crashes_converges_to_the_newest_state(history, data) -> None:
    events = [revision(n + 1, step) for n, step in enumerate(history)]
    # Deliveries: every event at least once, some twice, in any order.
    deliveries = events + data.draw(st.lists(st.sampled_from(events), max_size=4))
    order = data.draw(st.permutations(deliveries))
    crashes = data.draw(st.lists(st.booleans(), min_size=len(order), max_size=len(order)))
    world = FakeWorld()
    services = world.services()

    async def deliver_all() -> None:
        for event, crash in zip(order, crashes, strict=True):
            count = 1
            if crash:
                # The process dies after the Graph write, before the mapping write; then redelivery.
                world.mappings.fail_next_saves = 1
                try:
                    await sync_planning_message(body(event), Delivery(event["id"], count, "task/42"), services.sync())
                except RuntimeError:
                    count += 1
                world.mappings.fail_next_saves = 0  # unused when nothing was to be saved
            await sync_planning_message(body(event), Delivery(event["id"], count, "task/42"), services.sync())

    asyncio.run(deliver_all())
    newest = events[-1]
    held = list(world.calendar.events.values())
    if newest["type"] == "task.unplanned":
        assert held == []
    else:
        assert len(held) == 1, "exactly one calendar holds the task, once"
        assert held[0].mailbox == newest["data"]["resource"]["email"]
        assert held[0].content["subject"] == newest["data"]["title"]
    assert not world.deadletters.records


def calendar_of(world: FakeWorld) -> list[tuple[str, object]]:
    return sorted((e.mailbox, repr(sorted(e.content.items()))) for e in world.calendar.events.values())


WINDOW, CAP = timedelta(milliseconds=500), timedelta(seconds=5)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=st.lists(steps, min_size=1, max_size=8), data=st.data())
def test_debouncing_with_any_interleaving_of_copies_and_any_memory_converges_to_one_by_one(history, data) -> None:
    events = [revision(n + 1, step) for n, step in enumerate(history)]
    stream = data.draw(st.permutations(events + data.draw(st.lists(st.sampled_from(events), max_size=4))))
    one_by_one, debounced = FakeWorld(), FakeWorld()
    # The process that took the session, another one (its own memory), or one that remembers nothing.
    memories = [Recent(WINDOW, CAP), Recent(WINDOW, CAP), None]
    services = debounced.services(coalesce_window_ms=500)
    originals = [(body(e), Delivery(e["id"], 1, "task/42")) for e in stream]
    copies: list[tuple[datetime, bytes, Delivery]] = []

    async def deliver() -> None:
        for raw, delivery in originals:
            await sync_planning_message(raw, delivery, one_by_one.services().sync())
        sent = 0
        for _ in range(500):
            if not originals and not copies:
                return
            # The session's next original, or any copy that is due by then, in any order.
            take_copy = bool(copies) and (not originals or data.draw(st.booleans()))
            debounced.advance(data.draw(st.integers(0, 700)) / 1000)
            if take_copy:
                due, raw, delivery = copies.pop(data.draw(st.integers(0, len(copies) - 1)))
                debounced.now = max(debounced.now, due)
            else:
                raw, delivery = originals.pop(0)
            deps = replace(services.sync(), recent=data.draw(st.sampled_from(memories)))
            await sync_planning_message(raw, delivery, deps)
            for _, copy in debounced.queue.sent[sent:]:
                assert copy.scheduled_enqueue_time is not None
                copies.append((copy.scheduled_enqueue_time, copy.body,
                               Delivery(copy.message_id, 1, "task/42", copy.application_properties)))
            sent = len(debounced.queue.sent)
        raise AssertionError("the copies never settled")

    asyncio.run(deliver())
    assert calendar_of(debounced) == calendar_of(one_by_one)
    assert {k: m.version for k, m in debounced.mappings.rows.items()} == \
        {k: m.version for k, m in one_by_one.mappings.rows.items()}
    assert not debounced.deadletters.records
