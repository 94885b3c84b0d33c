"""The mass-deletion breaker through the sync worker and the operator API, over fakes."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest

from shared.app.messaging import PLANNING_QUEUE, Delivery
from shared.app.operator.breakers import decide_breaker, list_breakers
from shared.app.planning.breaker import tripped_sources
from shared.app.planning.sync import sync_planning_message
from shared.domain.planning.breaker import BreakerLimits, DeleteCounts, trip_reason
from tests.support.builders import SOURCE, FakeWorld, body, cloud_event, task_data

OTHER = "https://planning.example.com/other"
# Per-source limit only, unless a test says otherwise.
PER_SOURCE = BreakerLimits(max_deletes=200, window_minutes=10, max_deletes_per_mailbox=0, max_share=0)


@pytest.fixture
def world() -> FakeWorld:
    return FakeWorld()


async def deliver(world: FakeWorld, event: dict, limits: BreakerLimits = PER_SOURCE,
                  properties: dict | None = None) -> str:
    delivery = Delivery(event["id"], 1, event["subject"], application_properties=properties or {})
    return await sync_planning_message(body(event), delivery, world.services(breaker=limits).sync())


def mailbox(n: int, mailboxes: int) -> str:
    return f"person{n % mailboxes}@contoso.com"


async def plan(world: FakeWorld, count: int, *, source: str = SOURCE, mailboxes: int = 25,
               limits: BreakerLimits = PER_SOURCE) -> None:
    for n in range(count):
        await deliver(world, cloud_event("task.planned", f"task/{n}", task_data(resource=mailbox(n, mailboxes)),
                                         sequence=1, source=source), limits)


async def unplan(world: FakeWorld, numbers: range, *, source: str = SOURCE, sequence: int = 2,
                 limits: BreakerLimits = PER_SOURCE) -> list[str]:
    return [await deliver(world, cloud_event("task.unplanned", f"task/{n}", sequence=sequence, source=source),
                          limits) for n in numbers]


def events_of(world: FakeWorld, source: str = SOURCE) -> set[str]:
    return {e.source_key.split(" ", 1)[1] for e in world.calendar.events.values()
            if e.source_key.split(" ", 1)[0] == source}


async def replay_released(world: FakeWorld, limits: BreakerLimits = PER_SOURCE) -> list[str]:
    """Run what a release queued, as the sync worker would receive it."""
    outcomes = []
    for queue, message in list(world.queue.sent):
        assert queue == PLANNING_QUEUE
        delivery = Delivery(message.message_id, 1, message.session_id,
                            application_properties=dict(message.application_properties))
        outcomes.append(await sync_planning_message(message.body, delivery, world.services(breaker=limits).sync()))
    world.queue.sent.clear()
    return outcomes


class TestTripping:
    async def test_250_unplans_delete_the_first_200_and_hold_the_rest(self, world: FakeWorld) -> None:
        await plan(world, 250)
        outcomes = await unplan(world, range(250))
        assert outcomes[:200] == ["remove"] * 200 and outcomes[200:] == ["held"] * 50
        assert events_of(world) == {f"task/{n}" for n in range(200, 250)}  # nothing lost while held
        [state] = await world.breakers.list()
        assert state.tripped and state.deletes == 201 and "limit 200 per source" in state.reason
        assert len(await world.breakers.held(SOURCE)) == 50
        assert await tripped_sources(world.breakers) == [SOURCE]

    async def test_other_sources_and_changes_other_than_deletes_go_on(self, world: FakeWorld) -> None:
        await plan(world, 205)
        await plan(world, 3, source=OTHER)
        await unplan(world, range(205))
        assert await deliver(world, cloud_event("task.rescheduled", "task/204",
                                                task_data(resource=mailbox(204, 25), title="Moved"),
                                                sequence=3)) == "update"
        assert await deliver(world, cloud_event("task.planned", "task/new", task_data(), sequence=1)) == "create"
        assert await unplan(world, range(3), source=OTHER) == ["remove"] * 3
        assert events_of(world, OTHER) == set()

    async def test_a_move_is_not_counted_as_a_delete(self, world: FakeWorld) -> None:
        await plan(world, 210, mailboxes=1)
        for n in range(210):
            outcome = await deliver(world, cloud_event("task.reassigned", f"task/{n}",
                                                       task_data(resource="ben@contoso.com"), sequence=2),
                                    BreakerLimits(max_deletes=200, max_deletes_per_mailbox=50))
            assert outcome == "move"
        assert await world.breakers.list() == []

    async def test_a_redelivered_delete_counts_once_and_is_held_once(self, world: FakeWorld) -> None:
        limits = BreakerLimits(max_deletes=2, max_deletes_per_mailbox=0, max_share=0)
        await plan(world, 4, limits=limits)
        first = cloud_event("task.unplanned", "task/0", sequence=2)
        world.calendar.faults.append(("delete", RuntimeError("connection reset")))
        with pytest.raises(RuntimeError):
            await deliver(world, first, limits)
        assert await deliver(world, first, limits) == "remove"  # the same message again: still one delete
        assert await unplan(world, range(1, 4), limits=limits) == ["remove", "held", "held"]
        again = cloud_event("task.unplanned", "task/3", sequence=2, event_id="evt-again")
        await deliver(world, again, limits)
        await deliver(world, again, limits)
        assert len(await world.breakers.held(SOURCE)) == 3

    async def test_deletes_spread_beyond_the_window_do_not_trip(self, world: FakeWorld) -> None:
        limits = BreakerLimits(max_deletes=10, window_minutes=10, max_deletes_per_mailbox=0, max_share=0)
        await plan(world, 30, limits=limits)
        for start in range(0, 30, 10):
            assert await unplan(world, range(start, start + 10), limits=limits) == ["remove"] * 10
            world.advance(timedelta(minutes=10).total_seconds())
        assert await world.breakers.list() == []

    async def test_the_per_mailbox_limit_trips_the_source(self, world: FakeWorld) -> None:
        limits = BreakerLimits(max_deletes=200, max_deletes_per_mailbox=50, max_share=0)
        await plan(world, 60, mailboxes=1, limits=limits)
        outcomes = await unplan(world, range(60), limits=limits)
        assert outcomes.count("remove") == 50 and outcomes.count("held") == 10
        [state] = await world.breakers.list()
        assert "in mailbox person0@contoso.com" in state.reason and "limit 50 per mailbox" in state.reason

    async def test_a_source_that_unplans_most_of_what_it_had_trips(self, world: FakeWorld) -> None:
        limits = BreakerLimits(max_deletes=200, max_deletes_per_mailbox=0, max_share=0.5, min_population=50)
        await plan(world, 60, limits=limits)
        outcomes = await unplan(world, range(60), limits=limits)
        assert outcomes.count("remove") == 30 and outcomes.count("held") == 30
        [state] = await world.breakers.list()
        assert "of the 60 entities the source had" in state.reason

    async def test_a_small_source_may_unplan_everything(self, world: FakeWorld) -> None:
        limits = BreakerLimits(max_deletes=200, max_deletes_per_mailbox=0, max_share=0.5, min_population=50)
        await plan(world, 40, limits=limits)
        assert await unplan(world, range(40), limits=limits) == ["remove"] * 40


class TestOperatorDecides:
    async def test_release_applies_every_held_delete_once_and_a_replanned_task_stays(self, world: FakeWorld) -> None:
        await plan(world, 250)
        await unplan(world, range(250))
        # The planning system plans task 240 again while its unplan is held: the later event wins.
        assert await deliver(world, cloud_event("task.planned", "task/240", task_data(resource=mailbox(240, 25)),
                                                sequence=3)) == "unchanged"
        deletes_before = sum(1 for name, _ in world.calendar.calls if name == "delete")
        reply = await decide_breaker(quote(SOURCE, safe=""), "release", world.services().breaker_operator())
        assert reply.status == 200 and reply.json()["released"] == 50 and reply.json()["state"] == "closed"
        assert await world.breakers.held(SOURCE) == []
        outcomes = await replay_released(world)
        assert outcomes.count("remove") == 49 and outcomes.count("stale") == 1
        assert sum(1 for name, _ in world.calendar.calls if name == "delete") - deletes_before == 49
        assert events_of(world) == {"task/240"}
        # Released deletes are not counted again, and the window starts afresh.
        assert await tripped_sources(world.breakers) == []
        assert await unplan(world, range(240, 241), sequence=4) == ["remove"]

    async def test_discard_deletes_nothing_and_resets_the_breaker(self, world: FakeWorld) -> None:
        await plan(world, 210)
        await unplan(world, range(210))
        reply = await decide_breaker(SOURCE, "discard", world.services().breaker_operator())
        assert reply.status == 200 and reply.json()["discarded"] == 10
        assert world.queue.sent == [] and await world.breakers.held(SOURCE) == []
        assert events_of(world) == {f"task/{n}" for n in range(200, 210)}  # the calendars keep them
        [state] = await world.breakers.list()
        assert not state.tripped and state.decision == "discarded"
        # A later unplan of a kept task is applied as usual (a new window).
        assert await unplan(world, range(205, 206), sequence=5) == ["remove"]

    async def test_the_list_shows_state_since_reason_and_held(self, world: FakeWorld) -> None:
        await plan(world, 203)
        await unplan(world, range(203))
        [entry] = (await list_breakers(world.services().breaker_operator())).json()["value"]
        assert entry["source"] == SOURCE and entry["state"] == "tripped" and entry["held"] == 3
        assert entry["since"] == world.now.isoformat() and entry["deletes"] == 201 and entry["reason"]

    async def test_an_unknown_source_is_404(self, world: FakeWorld) -> None:
        reply = await decide_breaker(quote(OTHER, safe=""), "release", world.services().breaker_operator())
        assert reply.status == 404


def test_the_rule_is_silent_below_every_limit() -> None:
    limits = BreakerLimits()
    assert trip_reason(DeleteCounts(200, 50), "a@b.c", limits, had=400) is None
    assert trip_reason(DeleteCounts(201, 1), "a@b.c", limits) is not None
    assert trip_reason(DeleteCounts(26, 26), "a@b.c", BreakerLimits(max_deletes_per_mailbox=0), had=49) is None


@pytest.mark.parametrize("segment", ["", "a%20b", "x%00y", "s" * 701])
async def test_a_segment_that_cannot_be_a_source_is_404(world: FakeWorld, segment: str) -> None:
    assert (await decide_breaker(segment, "discard", world.services().breaker_operator())).status == 404
