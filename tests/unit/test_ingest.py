from __future__ import annotations

import json

import pytest

from shared.app.messaging import source_tag
from shared.app.planning.ingest import MAX_BATCH_EVENTS, ingest_planning_events
from shared.errors import ConfigurationError, RejectedByQueue, TransientError
from tests.support.builders import FakeWorld, cloud_event, task_data

BATCH = "application/cloudevents-batch+json"


@pytest.fixture
def world() -> FakeWorld:
    return FakeWorld()


async def post(world: FakeWorld, payload: object, content_type: str = BATCH, raw: bytes | None = None):
    data = raw if raw is not None else json.dumps(payload).encode()
    return await ingest_planning_events(data, content_type, world.services().ingest())


class TestAccepted:
    async def test_a_batch_is_enqueued_with_session_and_message_ids(self, world: FakeWorld) -> None:
        events = [cloud_event("task.planned", "task/1", task_data()), cloud_event("task.unplanned", "task/2")]
        reply = await post(world, events)
        assert reply.status == 202 and reply.json() == {"accepted": [e["id"] for e in events]}
        tag = source_tag(events[0]["source"])
        assert [(m.message_id, m.session_id) for _, m in world.queue.sent] == [
            (f"{e['id']}~{tag}", f"{e['subject']}~{tag}") for e in events]
        assert json.loads(world.queue.sent[0][1].body) == events[0]

    @pytest.mark.parametrize("content_type", ["application/cloudevents+json", "application/json; charset=utf-8"])
    async def test_a_single_event_is_accepted(self, world: FakeWorld, content_type: str) -> None:
        event = cloud_event("task.unplanned", "task/1")
        reply = await post(world, event, content_type)
        assert reply.status == 202 and len(world.queue.sent) == 1


class TestRefused:
    async def test_one_bad_event_refuses_the_whole_batch_and_lists_every_error(self, world: FakeWorld) -> None:
        events = [cloud_event("task.planned", "task/1", task_data()),
                  cloud_event("task.planned", "task/2", task_data(title=7)),
                  cloud_event("task.exploded", "task/3")]
        reply = await post(world, events)
        assert reply.status == 400 and reply.content_type == "application/problem+json"
        errors = reply.json()["errors"]
        assert {(e["index"], e["path"]) for e in errors} == {(1, "$.data.title"), (2, "$.type")}
        assert world.queue.sent == []

    async def test_malformed_json_is_a_400(self, world: FakeWorld) -> None:
        reply = await post(world, None, raw=b"{not json")
        assert reply.status == 400 and reply.json()["title"] == "Malformed JSON" and world.queue.sent == []

    async def test_wrong_content_type_is_a_415(self, world: FakeWorld) -> None:
        assert (await post(world, [], "text/plain")).status == 415

    async def test_too_many_events_is_a_413(self, world: FakeWorld) -> None:
        events = [cloud_event("task.unplanned", f"task/{i}") for i in range(MAX_BATCH_EVENTS + 1)]
        assert (await post(world, events)).status == 413 and world.queue.sent == []

    async def test_a_body_over_one_mebibyte_is_a_413(self, world: FakeWorld) -> None:
        reply = await post(world, None, raw=b"[" + b" " * (1024 * 1024) + b"]")
        assert reply.status == 413

    async def test_a_repeated_id_in_one_batch_is_refused(self, world: FakeWorld) -> None:
        first = cloud_event("task.unplanned", "task/1")
        second = {**cloud_event("task.unplanned", "task/2"), "id": first["id"]}
        reply = await post(world, [first, second])
        assert reply.status == 400 and reply.json()["errors"][0]["path"] == "$.id"

    async def test_an_empty_batch_is_refused(self, world: FakeWorld) -> None:
        assert (await post(world, [])).status == 400

    async def test_a_queue_outage_is_a_503_and_nothing_is_claimed(self, world: FakeWorld) -> None:
        world.queue.error = TransientError("down")
        reply = await post(world, [cloud_event("task.unplanned", "task/1")])
        assert reply.status == 503


class TestQueueRefusals:
    async def test_a_misconfigured_queue_is_a_503_naming_no_secret(self, world: FakeWorld) -> None:
        world.queue.error = ConfigurationError("ServiceBusConnection", "queue planning-events not found")
        reply = await post(world, [cloud_event("task.unplanned", "task/1")])
        assert reply.status == 503 and "ServiceBusConnection" not in reply.json()["detail"]

    async def test_a_message_the_queue_refuses_is_a_4xx_naming_the_limit(self, world: FakeWorld) -> None:
        world.queue.error = RejectedByQueue("the message is larger than 262144 bytes",
                                            limit="message size at most 262144 bytes")
        reply = await post(world, [cloud_event("task.unplanned", "task/1")])
        assert reply.status == 413 and "262144" in reply.json()["detail"]
