"""The Event Grid trigger, served as the Functions host serves it: the extension's webhook
``POST /runtime/webhooks/eventgrid?functionName=<name>`` with the ``eventgrid_extension`` system key."""

from __future__ import annotations

import json
from typing import Any

import httpx

from local.funchost import LocalFunctionHost

WEBHOOK = "/runtime/webhooks/eventgrid"


def cloud_event(n: int, **data: Any) -> dict[str, Any]:
    return {"id": f"evt-{n}", "type": "Microsoft.Graph.EventCreated", "source": "/tenants/t/applications/a",
            "subject": f"Events/E{n}", "time": "2026-05-01T10:00:00Z", "specversion": "1.0",
            "datacontenttype": "application/json", "data": {"n": n, **data}}


def system_key(client: httpx.Client, host: LocalFunctionHost) -> str:
    response = client.get("/admin/host/systemkeys/eventgrid_extension", headers={"x-functions-key": host.master_key})
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "eventgrid_extension"
    return str(body["value"])


def deliver(client: httpx.Client, key: str | None, body: Any, *, function: str = "on_event",
            kind: str = "Notification") -> httpx.Response:
    headers = {"aeg-event-type": kind, "content-type": "application/cloudevents-batch+json"}
    if key is not None:
        headers["x-functions-key"] = key
    return client.post(WEBHOOK, params={"functionName": function}, headers=headers, content=json.dumps(body))


def test_the_admin_api_lists_the_event_grid_trigger(client: httpx.Client, host: LocalFunctionHost) -> None:
    listed = client.get("/admin/functions", headers={"x-functions-key": host.master_key}).json()
    [described] = [f for f in listed if f["name"] == "on_event"]
    assert described["trigger"] == "eventGridTrigger"


def test_notifications_need_the_system_key(client: httpx.Client, host: LocalFunctionHost, sample: Any) -> None:
    assert deliver(client, None, [cloud_event(1)]).status_code == 401
    assert deliver(client, "wrong", [cloud_event(1)]).status_code == 401
    assert deliver(client, host.function_key, [cloud_event(1)]).status_code == 401
    assert sample.events_seen == []
    assert client.get("/admin/host/systemkeys/eventgrid_extension",
                      headers={"x-functions-key": host.function_key}).status_code == 401


def test_each_event_of_a_batch_runs_the_function_once_as_a_cloud_event(
        client: httpx.Client, host: LocalFunctionHost, sample: Any) -> None:
    response = deliver(client, system_key(client, host), [cloud_event(1), cloud_event(2)])
    assert response.status_code == 202
    assert sorted(e["id"] for e in sample.events_seen) == ["evt-1", "evt-2"]
    assert {e["class"] for e in sample.events_seen} == {"CloudEvent"}
    first = next(e for e in sample.events_seen if e["id"] == "evt-1")
    assert (first["type"], first["data"], first["source"]) == (
        "Microsoft.Graph.EventCreated", {"n": 1}, "/tenants/t/applications/a")


def test_a_single_event_and_the_master_key_are_accepted_too(
        client: httpx.Client, host: LocalFunctionHost, sample: Any) -> None:
    response = client.post(WEBHOOK, params={"functionName": "ON_EVENT", "code": host.master_key},
                           headers={"aeg-event-type": "Notification"}, content=json.dumps(cloud_event(3)))
    assert response.status_code == 202 and [e["id"] for e in sample.events_seen] == ["evt-3"]


def test_a_failing_invocation_answers_500_so_event_grid_redelivers(
        client: httpx.Client, host: LocalFunctionHost, sample: Any) -> None:
    response = deliver(client, system_key(client, host), [cloud_event(1), cloud_event(2, fail=True)])
    assert response.status_code == 500
    assert [e["id"] for e in sample.events_seen] == ["evt-1"]


def test_unknown_functions_event_kinds_and_the_validation_handshake(
        client: httpx.Client, host: LocalFunctionHost) -> None:
    key = system_key(client, host)
    assert deliver(client, key, [cloud_event(1)], function="nowhere").status_code == 404
    assert deliver(client, key, [cloud_event(1)], function="greet").status_code == 404, "not an Event Grid trigger"
    assert deliver(client, key, [cloud_event(1)], kind="Other").status_code == 400
    assert deliver(client, key, [cloud_event(1)], kind="Unsubscribe").status_code == 202
    validation = [{"id": "v", "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
                   "data": {"validationCode": "512d38b6"}}]
    answer = deliver(client, key, validation, kind="SubscriptionValidation")
    assert (answer.status_code, answer.json()) == (200, {"validationResponse": "512d38b6"})
    options = client.options(WEBHOOK, params={"functionName": "on_event", "code": key},
                             headers={"WebHook-Request-Origin": "eventgrid.azure.net"})
    assert options.headers["webhook-allowed-origin"] == "eventgrid.azure.net"


def test_the_admin_api_invokes_it_with_an_event(
        client: httpx.Client, host: LocalFunctionHost, sample: Any, wait_for: Any) -> None:
    response = client.post("/admin/functions/on_event", headers={"x-functions-key": host.master_key},
                           json={"input": json.dumps(cloud_event(4))})
    assert response.status_code == 202
    wait_for(lambda: [e["id"] for e in sample.events_seen] == ["evt-4"])
