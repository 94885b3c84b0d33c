"""Long work runs as bounded steps: a backfill, a resync and a users-directory round over many delta pages
become a chain of continuation messages in one session, each step reading at most a fixed number of pages,
and everything is published exactly once, also when a step runs twice after a lost lock."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from shared.app.messaging import GRAPH_QUEUE, Delivery
from shared.app.rooms import registration, worker
from shared.app.rooms import upkeep as timers
from shared.domain.rooms.notifications import RoomWork
from tests.unit.rooms.fakes_rooms import ROOM, RoomWorld
from tests.unit.rooms.helpers import notify, register, subscription_of

PAGE_SIZE = 2
PAGES_PER_STEP = 2


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> RoomWorld:
    monkeypatch.setattr(worker, "PAGES_PER_STEP", PAGES_PER_STEP)
    monkeypatch.setattr(timers, "USERS_PAGES_PER_STEP", PAGES_PER_STEP)
    world = RoomWorld()
    world.graph.page_size = PAGE_SIZE
    return world


class Drain:
    """Runs graph-notifications messages as the queue delivers them: one at a time per session, in order,
    with duplicate detection by message id; records the pages each invocation read."""

    def __init__(self, world: RoomWorld) -> None:
        self.world = world
        self.seen_ids: set[str] = set()
        self.pages: list[int] = []  # delta pages read by each invocation
        self.outcomes: list[str] = []

    def pending(self) -> list[Any]:
        fresh = []
        for message in self.world.take(GRAPH_QUEUE):
            assert len(message.message_id) <= 128 and message.session_id
            if message.message_id not in self.seen_ids:
                self.seen_ids.add(message.message_id)
                fresh.append(message)
        return fresh

    async def run(self, message: Any, services: Any) -> str:
        before = self.world.graph.pages_read
        delivery = Delivery(message.message_id, 1, message.session_id, message.application_properties)
        outcome = await worker.run_work(message.body, delivery, services.worker())
        self.pages.append(self.world.graph.pages_read - before)
        self.outcomes.append(outcome)
        return outcome

    async def all(self, services: Any) -> list[str]:
        while messages := self.pending():
            for message in messages:
                await self.run(message, services)
        return self.outcomes


async def backfill_started(world: RoomWorld, bookings: list[str]) -> tuple[Any, Drain]:
    """``bookings`` made before the room was registered, then a backfill from April queued."""
    for event_id in bookings:
        world.graph.book(ROOM, event_id, created=world.now - timedelta(days=3))
    services = world.services()
    await register(world, services)
    world.graph.pages_read = 0
    assert (await registration.start_backfill(ROOM, "2026-04-01", services.registration())).status == 202
    return services, Drain(world)


def created_ids(world: RoomWorld) -> list[str]:
    return sorted(e["data"]["graph"]["eventId"] for e in world.log.of_type("reservation.created"))


class TestBackfill:
    async def test_a_backfill_over_many_pages_runs_as_bounded_steps_and_publishes_each_booking_once(
        self, world: RoomWorld
    ) -> None:
        bookings = [f"OLD{n:02d}" for n in range(19)]
        services, drain = await backfill_started(world, bookings)
        outcomes = await drain.all(services)

        assert outcomes == ["backfill continues"] * 4 + ["backfilled"]  # 10 pages, 2 a step
        assert max(drain.pages) == PAGES_PER_STEP and sum(drain.pages) == 10
        assert created_ids(world) == bookings
        job = world.rooms.rows[ROOM].backfill
        assert job is not None and (job.status, job.seen, job.published, job.steps) == ("done", 19, 19, 5)

    async def test_a_step_run_twice_after_a_lost_lock_publishes_and_counts_nothing_twice(
        self, world: RoomWorld
    ) -> None:
        services, drain = await backfill_started(world, [f"OLD{n:02d}" for n in range(12)])
        [first] = drain.pending()
        assert await drain.run(first, services) == "backfill continues"
        [second] = drain.pending()
        # The lock on step 1 lapsed mid-run: a second receiver runs the same message again. Graph hands it
        # a new next link, yet the step after is the same message, which duplicate detection drops.
        assert await drain.run(second, services) == "backfill continues"
        assert await drain.run(second, services) == "backfill continues"
        queued = drain.world.sent_to(GRAPH_QUEUE)
        assert len(queued) == 2 and queued[0].message_id == queued[1].message_id
        assert queued[0].body != queued[1].body, "the cursors differ; only the id makes them one step"
        await drain.all(services)

        assert created_ids(world) == [f"OLD{n:02d}" for n in range(12)]
        job = world.rooms.rows[ROOM].backfill
        assert job is not None and (job.status, job.seen, job.published) == ("done", 12, 12)

    async def test_a_continuation_of_a_replaced_backfill_is_dropped(self, world: RoomWorld) -> None:
        services, drain = await backfill_started(world, [f"OLD{n}" for n in range(8)])
        [first] = drain.pending()
        await drain.run(first, services)
        [stale] = drain.pending()
        await registration.start_backfill(ROOM, "2026-04-20", services.registration())
        assert await drain.run(stale, services) == "backfill superseded"
        await drain.all(services)
        job = world.rooms.rows[ROOM].backfill
        assert job is not None and job.start == "2026-04-20" and job.status == "done"
        assert created_ids(world) == [f"OLD{n}" for n in range(8)]


class TestResync:
    async def test_a_long_resync_continues_in_steps_and_keeps_the_new_delta_link_for_the_end(
        self, world: RoomWorld
    ) -> None:
        services = world.services()
        await register(world, services)
        sub_id, state = subscription_of(world)
        before = world.rooms.rows[ROOM].delta_link
        world.advance(minutes=1)
        gap = [f"GAP{n:02d}" for n in range(11)]
        for event_id in gap:
            world.graph.book(ROOM, event_id)  # Graph dropped these notifications
        await notify(services, {"subscriptionId": sub_id, "clientState": state, "lifecycleEvent": "missed",
                                "tenantId": "t", "subscriptionExpirationDateTime": "2026-05-08T11:00:00Z"},
                     lifecycle=True)
        drain = Drain(world)
        [missed] = drain.pending()
        assert await drain.run(missed, services) == "resync continues"
        assert world.rooms.rows[ROOM].delta_link == before, "the round is not done: its delta link comes last"
        outcomes = await drain.all(services)

        assert outcomes[-1] == "resynced" and outcomes.count("resync continues") == 2
        assert max(drain.pages) == PAGES_PER_STEP
        assert created_ids(world) == gap
        assert world.rooms.rows[ROOM].delta_link != before

    async def test_an_expired_next_link_starts_the_round_over_without_republishing(self, world: RoomWorld) -> None:
        services = world.services()
        await register(world, services)
        world.advance(minutes=1)
        for n in range(9):
            world.graph.book(ROOM, f"GAP{n}")
        await worker.resync(world.rooms.rows[ROOM], services.worker())
        drain = Drain(world)
        [continuation] = drain.pending()
        world.graph.expired_links.add(RoomWork.from_json(continuation.body).cursor or "")
        await drain.run(continuation, services)
        await drain.all(services)
        assert created_ids(world) == [f"GAP{n}" for n in range(9)]
        assert world.rooms.rows[ROOM].delta_link


class TestUsersDirectory:
    def add_users(self, world: RoomWorld, count: int, first: int = 0) -> None:
        for n in range(first, count):
            world.graph.set_user(f"u{n:02d}", userPrincipalName=f"u{n:02d}@contoso.com", accountEnabled=True)

    async def test_the_first_round_reads_the_directory_in_steps_and_publishes_nothing(self, world: RoomWorld) -> None:
        self.add_users(world, 11)
        services = world.services()
        assert await timers.sync_users_directory(services.upkeep()) == {"read": 4, "published": 0}
        drain = Drain(world)
        outcomes = await drain.all(services)

        assert len(outcomes) == 2 and max(drain.pages) == PAGES_PER_STEP
        assert world.log.items == [] and len(world.users.rows) == 11
        position = world.users.position
        assert position.delta_link and position.next_link is None

        world.graph.set_user("u03", accountEnabled=False)
        world.graph.remove_user("u07")
        self.add_users(world, 14, first=11)
        await timers.sync_users_directory(services.upkeep())
        await drain.all(services)
        published = sorted((e["type"], e["subject"]) for e in world.log.items)
        assert published == [("user.created", "user/u11"), ("user.created", "user/u12"),
                             ("user.created", "user/u13"), ("user.deactivated", "user/u03"),
                             ("user.deactivated", "user/u07")]

    async def test_the_timer_leaves_a_moving_round_alone_and_resumes_a_stalled_one(self, world: RoomWorld) -> None:
        self.add_users(world, 11)
        services = world.services()
        await timers.sync_users_directory(services.upkeep())
        drain = Drain(world)
        [continuation] = drain.pending()
        assert await timers.sync_users_directory(services.upkeep()) == {"read": 0, "published": 0}
        assert world.sent_to(GRAPH_QUEUE) == [], "the round's own message carries it on"

        world.advance(minutes=31)  # the continuation was lost (say, dead-lettered): the timer resumes
        assert (await timers.sync_users_directory(services.upkeep()))["read"] == 4
        assert (await drain.run(continuation, services)).startswith("directory step: 0 read"), "stale: dropped"
        await drain.all(services)
        assert len(world.users.rows) == 11 and world.users.position.next_link is None


async def test_a_chain_of_next_links_that_never_ends_is_dead_lettered_and_the_job_fails(
    world: RoomWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    services, drain = await backfill_started(world, [f"OLD{n:02d}" for n in range(19)])
    monkeypatch.setattr(worker, "MAX_STEPS", 3)
    outcomes = await drain.all(services)
    assert outcomes == ["backfill continues"] * 3 + ["dead-lettered"]
    [dead] = world.deadletters.records.values()
    assert dead.queue == GRAPH_QUEUE and "did not end within 3 steps" in dead.reason
    job = world.rooms.rows[ROOM].backfill
    assert job is not None and job.status == "failed" and "within 3 steps" in (job.error or "")
