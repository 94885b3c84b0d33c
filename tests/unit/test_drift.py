"""Drift repair with fakes: each case found by a scan and repaired by the sync worker through the entity's session."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.app.messaging import PLANNING_QUEUE, Delivery, OutboundMessage, queue_id, source_tag
from shared.app.operator.drift import drift_report, request_drift_run, start_drift_run
from shared.app.planning.drift import DRIFT_PROPERTY, is_scan, scan_job, scan_mailbox_message
from shared.app.planning.sync import sync_planning_message
from shared.config import DriftSettings
from shared.domain.planning.drift import REBUILT_VERSION, fingerprint
from shared.domain.planning.model import EntityKey
from tests.support.builders import SOURCE, FakeWorld, body, cloud_event, task_data

ANNA = "anna@contoso.com"


@pytest.fixture
def world() -> FakeWorld:
    return FakeWorld()


async def deliver(world: FakeWorld, event: dict[str, Any], **settings: Any) -> str:
    services = world.services(**settings)
    return await sync_planning_message(body(event), Delivery(event["id"], 1, event["subject"]), services.sync())


async def scan(world: FakeWorld, mailbox: str = ANNA, mode: str = "restore", **settings: Any) -> str:
    job = scan_job("run-1", mailbox, mode, None)
    return await scan_mailbox_message(job.body, _delivery(job), world.services(**settings).drift())


def _delivery(message: OutboundMessage) -> Delivery:
    return Delivery(message.message_id, 1, message.session_id, dict(message.application_properties))


def queued(world: FakeWorld) -> list[OutboundMessage]:
    return [m for q, m in world.queue.sent if q == PLANNING_QUEUE]


async def pump(world: FakeWorld) -> list[str]:
    """Hand the queued repairs to the sync worker, as the planning trigger does."""
    outcomes = []
    pending, world.queue.sent = queued(world), []
    for message in pending:
        assert not is_scan(_delivery(message))
        outcomes.append(await sync_planning_message(message.body, _delivery(message), world.services().sync()))
    return outcomes


async def planned(world: FakeWorld, subject: str = "task/1", sequence: int = 1, **data: Any) -> str:
    await deliver(world, cloud_event("task.planned", subject, task_data(**data), sequence=sequence))
    mapping = world.mappings.rows[EntityKey(SOURCE, subject)]
    assert mapping.event_id is not None
    return mapping.event_id


class TestDeletedByHand:
    async def test_the_event_is_recreated_by_the_sync_worker_in_the_entitys_session(self, world: FakeWorld) -> None:
        event_id = await planned(world)
        content = dict(world.calendar.events[event_id].content)
        del world.calendar.events[event_id]  # deleted in Outlook

        await scan(world)
        [repair] = queued(world)
        assert repair.application_properties[DRIFT_PROPERTY] == "deleted"
        assert repair.session_id == queue_id("task/1", source_tag(SOURCE))  # the session ingest uses
        assert world.calendar.calls[-1] == ("list", ANNA)  # the scan itself wrote nothing to Graph
        assert world.drift_reports.rows[ANNA].found == {"deleted": 1, "changed": 0, "orphan": 0, "rebuilt": 0}
        assert world.drift_reports.rows[ANNA].done == {"restored": 1}

        assert await pump(world) == ["repair"]
        [back] = world.calendar.in_mailbox(ANNA)
        assert back.content == content and back.id != event_id
        mapping = world.mappings.rows[EntityKey(SOURCE, "task/1")]
        assert mapping.event_id == back.id and mapping.generation == 2

    async def test_a_newer_event_queued_after_the_scan_wins_over_the_repair(self, world: FakeWorld) -> None:
        event_id = await planned(world)
        del world.calendar.events[event_id]
        await scan(world)
        repairs, world.queue.sent = queued(world), []
        await deliver(world, cloud_event("task.unplanned", "task/1", sequence=2))
        world.queue.sent = [(PLANNING_QUEUE, m) for m in repairs]
        assert await pump(world) == ["stale"]
        assert world.calendar.events == {}

    async def test_an_event_outside_the_window_is_not_counted_as_deleted(self, world: FakeWorld) -> None:
        event_id = await planned(world, start="2020-05-04T08:00:00+02:00", end="2020-05-04T09:00:00+02:00")
        del world.calendar.events[event_id]
        await scan(world, days_back=30)
        assert queued(world) == [] and world.drift_reports.rows[ANNA].found["deleted"] == 0


class TestChangedByHand:
    async def test_a_moved_task_is_put_back(self, world: FakeWorld) -> None:
        event_id = await planned(world)
        content = dict(world.calendar.events[event_id].content)
        world.calendar.edit_by_hand(event_id, start={"dateTime": "2026-05-04T11:00:00", "timeZone": "UTC"},
                                    subject="moved")
        await scan(world)
        assert [m.application_properties[DRIFT_PROPERTY] for m in queued(world)] == ["changed"]
        assert await pump(world) == ["repair"]
        assert world.calendar.events[event_id].content == content

    async def test_the_same_time_in_another_zone_is_no_change(self, world: FakeWorld) -> None:
        event_id = await planned(world)  # 08:00 in Berlin (summer) = 06:00 UTC
        world.calendar.edit_by_hand(event_id, start={"dateTime": "2026-05-04T06:00:00.0000000", "timeZone": "UTC"})
        await scan(world)
        assert queued(world) == []

    def test_a_reservation_counts_only_its_times(self) -> None:
        content = {"subject": "Board", "start": {"dateTime": "2026-05-04T08:00:00", "timeZone": "UTC"},
                   "end": {"dateTime": "2026-05-04T09:00:00", "timeZone": "UTC"}}
        retitled = {**content, "subject": "Board (moved to Friday?)"}
        assert fingerprint(content, times_only=True) == fingerprint(retitled, times_only=True)
        assert fingerprint(content) != fingerprint(retitled)


class TestOrphans:
    async def test_an_event_of_ours_without_a_row_is_adopted(self, world: FakeWorld) -> None:
        await planned(world, "task/1")
        created = await world.calendar.create(ANNA, {"subject": "lost", "start": {
            "dateTime": "2026-05-06T08:00:00", "timeZone": "UTC"}}, transaction_id="t", source_key=f"{SOURCE} task/2")
        await scan(world)
        assert queued(world) == []
        adopted = world.mappings.rows[EntityKey(SOURCE, "task/2")]
        assert adopted.event_id == created.id and adopted.version == REBUILT_VERSION
        assert world.drift_reports.rows[ANNA].found["orphan"] == 1
        # The next planning event for it updates the adopted event: no duplicate.
        await deliver(world, cloud_event("task.rescheduled", "task/2", task_data(), sequence=1))
        assert len(world.calendar.in_mailbox(ANNA)) == 2 and created.id in world.calendar.events

    async def test_an_event_of_a_removed_entity_is_removed_through_its_session(self, world: FakeWorld) -> None:
        await planned(world, "task/1")
        await deliver(world, cloud_event("task.unplanned", "task/1", sequence=2))  # a tombstone
        await planned(world, "task/9")
        leftover = await world.calendar.create(ANNA, {"start": {"dateTime": "2026-05-06T08:00:00", "timeZone": "UTC"}},
                                               transaction_id="t", source_key=f"{SOURCE} task/1")
        await scan(world)
        [removal] = queued(world)
        assert removal.application_properties[DRIFT_PROPERTY] == "remove"
        assert removal.session_id == queue_id("task/1", source_tag(SOURCE))
        assert await pump(world) == ["orphan removed"]
        assert leftover.id not in world.calendar.events

    async def test_a_second_event_with_the_same_key_is_removed(self, world: FakeWorld) -> None:
        event_id = await planned(world)
        duplicate = await world.calendar.create(ANNA, dict(world.calendar.events[event_id].content),
                                                transaction_id="other", source_key=f"{SOURCE} task/1")
        await scan(world)
        await pump(world)
        assert list(world.calendar.events) == [event_id] and duplicate.id != event_id


class TestRebuild:
    async def test_an_empty_mapping_table_is_rebuilt_from_the_calendar(self, world: FakeWorld) -> None:
        first, second = await planned(world, "task/1"), await planned(world, "task/2", title="Other")
        world.mappings.rows.clear()  # Table Storage lost
        await scan(world)
        assert queued(world) == []
        assert {k.subject: m.event_id for k, m in world.mappings.rows.items()} == {"task/1": first, "task/2": second}
        assert world.drift_reports.rows[ANNA].found["rebuilt"] == 2
        assert world.drift_reports.rows[ANNA].done == {"adopted": 2}
        # Any real event is newer than a rebuilt row, and rewrites the event in place.
        assert await deliver(world, cloud_event("task.rescheduled", "task/1", task_data(title="New"), sequence=1)) \
            == "update"
        assert world.calendar.events[first].content["subject"] == "New"


class TestReportOnly:
    async def test_report_mode_counts_and_writes_nothing(self, world: FakeWorld) -> None:
        kept = await planned(world, "task/1")
        gone = await planned(world, "task/2")
        del world.calendar.events[gone]
        world.calendar.edit_by_hand(kept, subject="edited")
        rows = dict(world.mappings.rows)
        world.mappings.rows.pop(EntityKey(SOURCE, "task/1"))
        await scan(world, mode="report")
        assert queued(world) == [] and world.calendar.events[kept].content["subject"] == "edited"
        assert world.mappings.rows == {k: v for k, v in rows.items() if k.subject != "task/1"}
        report = world.drift_reports.rows[ANNA]
        assert report.found == {"deleted": 1, "changed": 0, "orphan": 1, "rebuilt": 0}
        assert report.done == {"reported": 2}


class TestRuns:
    async def test_a_run_queues_one_scan_per_mailbox_and_the_report_sums_them(self, world: FakeWorld) -> None:
        await planned(world, "task/1")
        await planned(world, "task/2", resource="ben@contoso.com")
        run = await start_drift_run(world.services().drift_runs(), trigger="timer")
        jobs = queued(world)
        assert [json.loads(j.body)["mailbox"] for j in jobs] == [ANNA, "ben@contoso.com"]
        assert all(is_scan(_delivery(j)) and j.session_id == queue_id("drift", json.loads(j.body)["mailbox"])
                   for j in jobs)
        for job in jobs:
            await scan_mailbox_message(job.body, _delivery(job), world.services().drift())
        report = (await drift_report(world.services().drift_runs())).json()
        assert report["run"]["runId"] == run.run_id and report["run"]["scanned"] == 2
        assert report["run"]["mode"] == "restore" and report["found"]["deleted"] == 0
        assert [m["mailbox"] for m in report["mailboxes"]] == [ANNA, "ben@contoso.com"]

    async def test_the_operator_names_a_mailbox_or_a_source(self, world: FakeWorld) -> None:
        deps = world.services(drift=DriftSettings(mode="report")).drift_runs()
        reply = await request_drift_run(deps, mailbox="Carl@Contoso.com", source=None)
        assert reply.status == 202 and reply.json()["mode"] == "report"
        assert json.loads(queued(world)[0].body) == {"runId": reply.json()["runId"], "mailbox": "carl@contoso.com",
                                                     "mode": "report", "source": None}
        assert (await request_drift_run(deps, mailbox="nobody", source=None)).status == 400
        assert (await request_drift_run(deps, mailbox=ANNA, source=SOURCE)).status == 400

    async def test_the_report_before_any_run_is_empty(self, world: FakeWorld) -> None:
        assert (await drift_report(world.services().drift_runs())).json()["run"] is None
