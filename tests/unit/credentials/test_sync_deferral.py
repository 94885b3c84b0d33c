"""Issue 6 item 5: without a working credential the worker defers instead of dead-lettering."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from shared.app.messaging import ATTEMPT_PROPERTY, DEFERRAL_PROPERTY, MAX_DELIVERIES, Delivery
from shared.app.planning.sync import sync_planning_message
from shared.bootstrap import Container
from shared.errors import CredentialUnavailable, Forbidden
from tests.support.builders import FakeWorld, body, cloud_event, task_data
from tests.support.credential_fakes import CredentialWorld

REASON = "Entra refused the secret credential (AADSTS7000222: the client secret has expired); create a new one"


@pytest.fixture
def world() -> FakeWorld:
    return FakeWorld()


@pytest.fixture
def creds() -> CredentialWorld:
    return CredentialWorld()


def services(world: FakeWorld, creds: CredentialWorld) -> Container:
    runtime = creds.runtime()
    return Container(runtime.settings, queue=world.queue, mappings=world.mappings, resources=world.resources,
                     deadletters=world.deadletters, calendar=world.calendar, clock=creds.clock, credentials=runtime)


async def deliver(services: Container, event: dict, delivery: Delivery | None = None) -> str:
    delivery = delivery or Delivery(event["id"], 1, event["subject"])
    return await sync_planning_message(body(event), delivery, services.sync())


def redelivery(message) -> Delivery:  # type: ignore[no-untyped-def]
    return Delivery(message.message_id, 1, message.session_id, message.application_properties)


class TestNoWorkingCredential:
    async def test_the_message_is_deferred_not_dead_lettered(self, world: FakeWorld, creds: CredentialWorld) -> None:
        svc = services(world, creds)
        world.calendar.faults.append(("create", CredentialUnavailable(REASON)))
        event = cloud_event("task.planned", "task/1", task_data(), sequence=1)
        assert await deliver(svc, event) == "deferred"
        assert world.deadletters.records == {}
        [(_, message)] = world.queue.sent
        assert message.session_id == "task/1" and message.message_id != event["id"]
        assert message.application_properties[DEFERRAL_PROPERTY] == 1
        assert message.scheduled_enqueue_time is not None
        assert timedelta(seconds=5) <= message.scheduled_enqueue_time - creds.clock() <= timedelta(minutes=1)

    async def test_deferrals_never_run_into_the_delivery_or_reschedule_budget(
            self, world: FakeWorld, creds: CredentialWorld) -> None:
        svc = services(world, creds)
        event = cloud_event("task.planned", "task/1", task_data(), sequence=1)
        delivery = Delivery(event["id"], 1, event["subject"])
        for _ in range(100):
            world.calendar.faults.append(("create", CredentialUnavailable(REASON)))
            assert await deliver(svc, event, delivery) == "deferred"
            delivery = redelivery(world.queue.sent[-1][1])
            creds.clock.advance(seconds=60)
        assert world.deadletters.records == {}
        # The credential works again: the event lands once, as a retry that looks for ours first.
        assert await deliver(svc, event, delivery) != "deferred"
        assert len(world.calendar.events) == 1
        assert ("find", "anna@contoso.com") in world.calendar.calls
        assert creds.state.state.available_at == creds.clock()

    async def test_one_log_line_per_minute_and_the_state_says_paused(
            self, world: FakeWorld, creds: CredentialWorld, caplog: pytest.LogCaptureFixture) -> None:
        svc = services(world, creds)
        with caplog.at_level(logging.ERROR):
            for i in range(30):
                world.calendar.faults.append(("create", CredentialUnavailable(REASON)))
                await deliver(svc, cloud_event("task.planned", f"task/{i}", task_data(), sequence=1))
                creds.clock.advance(seconds=5)
        lines = [r for r in caplog.records if "sync paused" in r.getMessage()]
        assert len(lines) == 3  # 150 s of failures
        assert creds.state.writes == 3
        assert creds.state.state.unavailable_since is not None
        assert "AADSTS7000222" in (creds.state.state.unavailable_reason or "")

    async def test_other_permanent_errors_still_dead_letter(self, world: FakeWorld, creds: CredentialWorld) -> None:
        svc = services(world, creds)
        world.calendar.faults.append(("create", Forbidden("access denied")))
        assert await deliver(svc, cloud_event("task.planned", "task/1", task_data(), sequence=1)) == "dead-lettered"

    async def test_a_plain_transient_error_still_counts_deliveries(
            self, world: FakeWorld, creds: CredentialWorld) -> None:
        from shared.errors import TransientError

        svc = services(world, creds)
        world.calendar.faults.append(("create", TransientError("boom")))
        event = cloud_event("task.planned", "task/1", task_data(), sequence=1)
        assert await deliver(svc, event, Delivery(event["id"], MAX_DELIVERIES, "task/1")) == "dead-lettered"

    def test_a_deferred_copy_counts_as_an_attempt(self) -> None:
        delivery = Delivery("m~3d2", 1, "s", {ATTEMPT_PROPERTY: 2, DEFERRAL_PROPERTY: 2})
        assert delivery.is_retry and delivery.deferrals == 2 and delivery.attempt == 3
