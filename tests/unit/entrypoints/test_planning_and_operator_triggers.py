"""The planning and operator triggers, called with stub requests and messages: decode, one use case, encode."""

from __future__ import annotations

import json

import entrypoints._deps
import entrypoints.api
import entrypoints.operator
import entrypoints.planning
from shared.app.messaging import ATTEMPT_PROPERTY, PLANNING_QUEUE, OutboundMessage
from shared.errors import Throttled
from tests.support.builders import cloud_event, task_data
from tests.unit.entrypoints.conftest import Stage, message, request, user_function

BATCH = "application/cloudevents-batch+json"


async def post_events(*events: dict) -> object:
    handler = user_function(entrypoints.planning.planning_events)
    return await handler(request("POST", "/api/planning/events", json.dumps(list(events)).encode(),
                                 content_type=BATCH))


class TestPlanning:
    async def test_ingest_queues_the_events_and_answers_202(self, stage: Stage) -> None:
        event = cloud_event("task.planned", "task/1", task_data())
        response = await post_events(event)
        assert response.status_code == 202 and json.loads(response.get_body()) == {"accepted": [event["id"]]}
        assert [queue for queue, _ in stage.world.queue.sent] == [PLANNING_QUEUE]

    async def test_an_unsupported_media_type_is_a_problem(self, stage: Stage) -> None:
        handler = user_function(entrypoints.planning.planning_events)
        response = await handler(request("POST", "/api/planning/events", b"{}", content_type="text/plain"))
        assert (response.status_code, response.mimetype) == (415, "application/problem+json")

    async def test_the_sync_trigger_writes_the_event_of_a_queued_message(self, stage: Stage) -> None:
        await post_events(cloud_event("task.planned", "task/1", task_data()))
        [queued] = stage.world.take(PLANNING_QUEUE)
        await user_function(entrypoints.planning.planning_sync)(message(queued))
        [written] = stage.world.calendar.in_mailbox("anna@contoso.com")
        assert written.content["subject"]

    async def test_a_throttled_message_is_put_back_with_its_attempt(self, stage: Stage) -> None:
        await post_events(cloud_event("task.planned", "task/1", task_data()))
        [queued] = stage.world.take(PLANNING_QUEUE)
        stage.world.calendar.faults.append(("create", Throttled("429", retry_after=30)))
        await user_function(entrypoints.planning.planning_sync)(message(queued, delivery_count=2))
        [copy] = stage.world.take(PLANNING_QUEUE)
        assert copy.session_id == queued.session_id and copy.application_properties[ATTEMPT_PROPERTY] == 2


class TestOperator:
    async def test_a_resource_is_opted_out_and_listed(self, stage: Stage) -> None:
        put = await user_function(entrypoints.operator.manage_resource)(request(
            "PUT", "/api/manage/resources/anna@contoso.com", b'{"active": false}',
            route_params={"email": "anna@contoso.com"}))
        assert put.status_code == 200
        got = await user_function(entrypoints.operator.manage_resource)(request(
            "GET", "/api/manage/resources/anna@contoso.com", route_params={"email": "anna@contoso.com"}))
        assert json.loads(got.get_body())["active"] is False
        listed = await user_function(entrypoints.operator.manage_resources)(request("GET", "/api/manage/resources"))
        assert [r["email"] for r in json.loads(listed.get_body())["value"]] == ["anna@contoso.com"]

    async def test_a_dead_letter_is_listed_replayed_and_discarded(self, stage: Stage) -> None:
        invalid = OutboundMessage(body=b"{}", message_id="m-1", session_id="task/2")  # no CloudEvent
        await user_function(entrypoints.planning.planning_sync)(message(invalid))
        listed = await user_function(entrypoints.operator.manage_deadletters)(request("GET", "/api/manage/deadletters"))
        [record] = json.loads(listed.get_body())["value"]
        replay = await user_function(entrypoints.operator.manage_deadletter_replay)(request(
            "POST", f"/api/manage/deadletters/{record['id']}/replay", route_params={"id": record["id"]}))
        assert replay.status_code == 202 and stage.world.take(PLANNING_QUEUE)
        gone = await user_function(entrypoints.operator.manage_deadletter)(request(
            "DELETE", f"/api/manage/deadletters/{record['id']}", route_params={"id": record["id"]}))
        assert gone.status_code == 404  # replayed: no longer listed

    async def test_the_doctor_refuses_a_mailbox_that_is_no_address(self, stage: Stage) -> None:
        response = await user_function(entrypoints.operator.manage_doctor)(request(
            "GET", "/api/manage/doctor", params={"mailbox": "(nope"}))
        assert (response.status_code, response.mimetype) == (400, "application/problem+json")


class TestHealth:
    def test_liveness_answers_ok_without_asking_for_a_container(self, monkeypatch) -> None:
        async def no_container() -> None:
            raise AssertionError("liveness touches no dependency")

        monkeypatch.setattr(entrypoints._deps, "provider", no_container)
        response = user_function(entrypoints.api.health)(request("GET", "/api/health"))
        body = json.loads(response.get_body())
        assert (response.status_code, response.mimetype, body["status"]) == (200, "application/json", "ok")
        assert body["version"]

    async def test_the_status_lists_every_section(self, stage: Stage) -> None:
        response = await user_function(entrypoints.operator.manage_status)(request("GET", "/api/manage/status"))
        body = json.loads(response.get_body())
        assert response.status_code == 200
        assert {"status", "dependencies", "rooms", "credential", "breakers", "queues"} <= set(body)
        assert set(body["dependencies"]) == {"tableStorage", "queue", "keyVault", "graphToken"}


class TestDocuments:
    def test_the_openapi_document_and_the_schema_are_served(self) -> None:
        openapi = user_function(entrypoints.api.openapi)(request("GET", "/api/openapi.json"))
        assert openapi.status_code == 200 and "paths" in json.loads(openapi.get_body())
        schema = user_function(entrypoints.api.planning_event_schema)(request("GET", "/api/planning-event.schema.json"))
        assert schema.mimetype == "application/schema+json"

    def test_an_unknown_path_is_a_problem(self) -> None:
        response = user_function(entrypoints.api.unrouted_request)(request(
            "GET", "/api/nowhere", route_params={"path": "nowhere"}))
        assert (response.status_code, response.mimetype) == (404, "application/problem+json")


def test_triggers_get_their_dependencies_only_from_the_one_provider() -> None:
    import inspect

    import entrypoints.credentials
    import entrypoints.rooms

    for module in (entrypoints.api, entrypoints.credentials, entrypoints.operator, entrypoints.planning,
                   entrypoints.rooms):
        source = inspect.getsource(module)
        assert "shared.bootstrap" not in source and "shared.adapters" not in source, module.__name__
