"""The metrics no single event sets: drift found by a scan, a breaker tripped and decided, and the gauges the
subscription timer and the status tell again (dead letters open, each queue's oldest message, the breakers)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.app.messaging import GRAPH_QUEUE, OUTBOUND_QUEUE, PLANNING_QUEUE, Delivery
from shared.app.operator import status
from shared.app.operator.breakers import decide_breaker
from shared.app.operator.gauges import GaugeDeps, refresh_gauges
from shared.app.planning.drift import scan_job, scan_mailbox_message
from shared.app.planning.sync import sync_planning_message
from shared.app.ports.breakers import BreakerState
from shared.app.ports.operator import QueueStats
from shared.app.ports.planning import DeadLetterRecord
from shared.app.rooms.upkeep import renew_subscriptions
from shared.domain.planning.breaker import BreakerLimits
from tests.fakes.breakers import InMemoryBreakerStore
from tests.fakes.planning import InMemoryDeadLetterStore
from tests.fakes.telemetry import RecordedTelemetry
from tests.support.builders import SOURCE, FakeWorld, body, cloud_event, task_data
from tests.support.credential_fakes import CredentialWorld
from tests.unit.credentials import test_doctor
from tests.unit.credentials.test_doctor import services
from tests.unit.operator.test_status import Probes
from tests.unit.rooms.fakes_rooms import RoomWorld

creds = test_doctor.creds  # the doctor's fixture
ANNA = "anna@contoso.com"
LIMITS = BreakerLimits(max_deletes=2, window_minutes=10, max_deletes_per_mailbox=0, max_share=0)


@pytest.fixture
def recorded() -> RecordedTelemetry:
    return RecordedTelemetry()


def values(recorded: RecordedTelemetry, name: str, key: str | None = None) -> dict[Any, Any]:
    """The metric's value by its ``key`` attribute (None: the one series)."""
    return {(attributes.get(key) if key else None): value for attributes, value in recorded.points(name)}


def dead_letter(record_id: str) -> DeadLetterRecord:
    return DeadLetterRecord(record_id, PLANNING_QUEUE, f"m-{record_id}", "task/1", "{}", "why", 3,
                            datetime(2026, 5, 1, tzinfo=UTC))


class Unreadable:
    """A store or probe every read of which fails."""

    async def list(self) -> list[Any]:
        raise ConnectionError("refused the connection")

    async def queue_stats(self) -> list[QueueStats]:
        raise ConnectionError("refused the connection")


class TestDriftFound:
    async def test_a_scan_counts_what_it_found_by_kind(self, recorded: RecordedTelemetry) -> None:
        world = FakeWorld()
        for n in (1, 2):
            event = cloud_event("task.planned", f"task/{n}", task_data(), sequence=1)
            await sync_planning_message(body(event), Delivery(event["id"], 1, event["subject"]),
                                        world.services().sync())
        first, second = (world.mappings.rows[k].event_id for k in sorted(world.mappings.rows, key=str))
        del world.calendar.events[str(first)]
        world.calendar.edit_by_hand(str(second), subject="edited")
        await world.calendar.create(ANNA, {"subject": "lost", "start": {"dateTime": "2026-05-06T08:00:00",
                                                                        "timeZone": "UTC"}},
                                    transaction_id="t", source_key=f"{SOURCE} task/3")
        for _ in range(2):  # two runs add up
            job = scan_job("run-1", ANNA, "report", None)
            await scan_mailbox_message(job.body, Delivery(job.message_id, 1, job.session_id,
                                                          dict(job.application_properties)),
                                       world.services(telemetry=recorded.telemetry).drift())
        assert values(recorded, "connector.drift.found", "kind") == {"deleted": 2, "changed": 2, "orphan": 2}
        assert {a["tenant"] for a, _ in recorded.points("connector.drift.found")} == {recorded.tenant}


class TestBreakerTripped:
    async def test_one_while_tripped_and_zero_once_released_or_discarded(self, recorded: RecordedTelemetry) -> None:
        world = FakeWorld()
        sync = world.services(breaker=LIMITS, telemetry=recorded.telemetry).sync()
        for n in range(4):
            planned = cloud_event("task.planned", f"task/{n}", task_data(), sequence=1)
            await sync_planning_message(body(planned), Delivery(planned["id"], 1, planned["subject"]), sync)
        assert recorded.points("connector.breakers.tripped") == []  # nothing deleted yet: no series
        for n in range(4):
            unplanned = cloud_event("task.unplanned", f"task/{n}", sequence=2)
            await sync_planning_message(body(unplanned), Delivery(unplanned["id"], 1, unplanned["subject"]), sync)
        assert values(recorded, "connector.breakers.tripped", "source") == {SOURCE: 1}
        for decision in ("release", "discard"):
            operator = world.services(telemetry=recorded.telemetry).breaker_operator()
            assert (await decide_breaker(SOURCE, decision, operator)).status == 200
            assert values(recorded, "connector.breakers.tripped", "source") == {SOURCE: 0}
            await world.breakers.trip(BreakerState(SOURCE, tripped=True))


class TestRefreshedGauges:
    async def test_the_subscription_timer_tells_dead_letters_and_breakers(self, recorded: RecordedTelemetry) -> None:
        world = RoomWorld()
        await world.deadletters.add(dead_letter("a"))
        await world.deadletters.add(dead_letter("b"))
        await world.breakers.trip(BreakerState(SOURCE, tripped=True))
        await world.breakers.trip(BreakerState("https://planning.example.com/other", tripped=True))
        await world.breakers.reset("https://planning.example.com/other", decision="released", at=world.now)
        await renew_subscriptions(world.services(telemetry=recorded.telemetry).upkeep())
        assert values(recorded, "connector.deadletters.open") == {None: 2}
        assert values(recorded, "connector.breakers.tripped", "source") == {
            SOURCE: 1, "https://planning.example.com/other": 0}
        await world.deadletters.remove("a")  # replayed
        await renew_subscriptions(world.services(telemetry=recorded.telemetry).upkeep())
        assert values(recorded, "connector.deadletters.open") == {None: 1}

    async def test_reads_that_fail_leave_the_gauges_and_the_timer_goes_on(
            self, recorded: RecordedTelemetry, caplog: pytest.LogCaptureFixture) -> None:
        world = RoomWorld()
        await world.deadletters.add(dead_letter("a"))
        upkeep = world.services(telemetry=recorded.telemetry).upkeep()
        await renew_subscriptions(upkeep)
        assert upkeep.gauges is not None
        broken = replace(upkeep, gauges=replace(upkeep.gauges, deadletters=Unreadable(), health=Unreadable(),
                                                breakers=Unreadable()))
        assert await renew_subscriptions(broken) == {"rooms": 0, "failing": 0, "organizers": 0}
        assert values(recorded, "connector.deadletters.open") == {None: 1}  # the last value told
        assert sum("gauges: could not read" in r.getMessage() for r in caplog.records) == 3

    async def test_queue_ages_are_told_when_known_an_empty_queue_is_zero_and_unknown_is_left(
            self, recorded: RecordedTelemetry) -> None:
        stats = [QueueStats(PLANNING_QUEUE, active=3, dead_lettered=0, scheduled=0, oldest_age_seconds=42.5),
                 QueueStats(GRAPH_QUEUE, active=0, dead_lettered=0, scheduled=1),
                 QueueStats(OUTBOUND_QUEUE, active=7, dead_lettered=0, scheduled=0)]  # Service Bus: no age
        await refresh_gauges(GaugeDeps(deadletters=InMemoryDeadLetterStore(), health=Probes(stats=stats),
                                       breakers=InMemoryBreakerStore(), telemetry=recorded.telemetry))
        assert values(recorded, "connector.queue.oldest_age_seconds", "queue") == {PLANNING_QUEUE: 42.5,
                                                                                  GRAPH_QUEUE: 0}
        assert values(recorded, "connector.deadletters.open") == {None: 0}

    async def test_the_status_tells_what_it_read(self, recorded: RecordedTelemetry, creds: CredentialWorld) -> None:
        world = FakeWorld()
        await world.deadletters.add(dead_letter("a"))
        stats = [QueueStats(PLANNING_QUEUE, active=1, dead_lettered=0, scheduled=0, oldest_age_seconds=900.0)]
        store = InMemoryBreakerStore()
        await store.trip(BreakerState(SOURCE, tripped=True))
        deps = replace(services(world, creds, telemetry=recorded.telemetry).doctor(rooms=False),
                       health=Probes(stats=stats))
        document = await status.status_document(deps, store)
        assert document["queues"]["deadLetters"] == 1
        assert values(recorded, "connector.deadletters.open") == {None: 1}
        assert values(recorded, "connector.queue.oldest_age_seconds", "queue") == {PLANNING_QUEUE: 900.0}
        assert values(recorded, "connector.breakers.tripped", "source") == {SOURCE: 1}
