"""Per-mailbox throttling (concurrency and budget) and scripted faults."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from local.graphsim.server import RunningSimulator

from .receiver import wait_until_async as wait_until
from .simdata import ALICE, BOB, event_body

EVENTS = f"/users/{ALICE}/events"


async def test_a_fifth_concurrent_request_to_one_mailbox_is_application_throttled(
        sim: RunningSimulator, graph: httpx.AsyncClient, control: httpx.AsyncClient) -> None:
    # Requests wait until the latency is lifted, so all five are in flight together.
    await control.put("/latency", json={"ms": 600_000})
    tasks = [asyncio.create_task(graph.get(EVENTS)) for _ in range(5)]
    await wait_until(lambda: any(t.done() for t in tasks))
    (rejected,) = [t.result() for t in tasks if t.done()]
    assert rejected.status_code == 429
    assert rejected.json()["error"]["code"] == "ApplicationThrottled"
    assert rejected.json()["error"]["message"] == "Application is over its MailboxConcurrency limit."
    assert int(rejected.headers["Retry-After"]) >= 1
    assert sim.state.throttle.in_flight() == 4
    other_mailbox = asyncio.create_task(graph.get(f"/users/{BOB}/events"))
    await wait_until(lambda: sim.state.throttle.in_flight() == 5)  # Bob's is admitted
    await control.put("/latency", json={"ms": 0})
    statuses = sorted(r.status_code for r in await asyncio.gather(*tasks, other_mailbox))
    assert statuses == [200, 200, 200, 200, 200, 429]


async def test_the_peak_of_concurrent_requests_per_mailbox_counts_refused_ones_too(
        sim: RunningSimulator, graph: httpx.AsyncClient, control: httpx.AsyncClient) -> None:
    alice = sim.state.find_user(ALICE)
    assert alice is not None
    await control.put("/latency", json={"ms": 600_000})
    tasks = [asyncio.create_task(graph.get(EVENTS)) for _ in range(5)]
    await wait_until(lambda: any(t.done() for t in tasks))
    await control.put("/latency", json={"ms": 0})
    await asyncio.gather(*tasks)
    # The fifth was refused, but the client did try five at once: that is what the peak says.
    body = (await control.get("/concurrency")).json()
    assert [(c["mailbox"], c["inFlight"], c["peak"]) for c in body["value"]] == [(alice["id"], 0, 5)]
    assert sim.state.throttle.peak(alice["id"]) == 5 and sim.state.throttle.peak("someone-else") == 0
    await control.post("/reset")
    assert (await control.get("/concurrency")).json() == {"value": []}


async def test_the_concurrency_limit_is_configurable(
        sim: RunningSimulator, graph: httpx.AsyncClient, control: httpx.AsyncClient) -> None:
    put = await control.put("/throttle", json={"concurrency": 1})
    assert put.json() == {"concurrency": 1, "budget": 10000, "windowSeconds": 600.0}
    sim.state.set_latency(600_000)
    first = asyncio.create_task(graph.get(EVENTS))
    await wait_until(lambda: sim.state.throttle.in_flight() == 1)
    second = await graph.get(EVENTS)
    sim.state.set_latency(0)
    assert second.status_code == 429 and (await first).status_code == 200


async def test_an_exhausted_budget_answers_too_many_requests_until_the_window_frees(
        sim: RunningSimulator, graph: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(sim.state, "clock", lambda: now[0])
    sim.state.set_throttle(budget=3, window_seconds=600)
    assert [(await graph.get(EVENTS)).status_code for _ in range(3)] == [200, 200, 200]
    now[0] = 1100.0
    over = await graph.get(EVENTS)
    assert over.status_code == 429
    assert over.json()["error"]["code"] == "TooManyRequests"
    assert over.json()["error"]["message"] == "Please retry again later."
    assert over.headers["Retry-After"] == "500"  # the first three age out at 1600
    assert (await graph.get(f"/users/{BOB}/events")).status_code == 200  # other mailbox
    now[0] = 1600.0
    # The throttled request at 1100 still counts, so only two more fit into the window.
    assert [(await graph.get(EVENTS)).status_code for _ in range(3)] == [200, 200, 429]


async def test_a_scripted_fault_answers_before_the_request_is_processed(
        sim: RunningSimulator, graph: httpx.AsyncClient, control: httpx.AsyncClient) -> None:
    added = await control.post("/faults", json={
        "status": 503, "retryAfter": 7, "method": "POST", "pathContains": "/events", "count": 2})
    assert added.status_code == 201 and added.json()["id"]
    assert (await graph.get(EVENTS)).status_code == 200  # method does not match
    for _ in range(2):
        failed = await graph.post(EVENTS, json=event_body())
        assert failed.status_code == 503 and failed.headers["Retry-After"] == "7"
        assert failed.json()["error"]["code"] == "ServiceNotAvailable"
        assert failed.json()["error"]["innerError"]["request-id"] == failed.headers["request-id"]
    assert sim.state.events_of(ALICE) == []
    assert (await graph.post(EVENTS, json=event_body())).status_code == 201


async def test_an_after_fault_loses_the_response_but_keeps_the_work(
        sim: RunningSimulator, graph: httpx.AsyncClient, control: httpx.AsyncClient) -> None:
    await control.post("/faults", json={"status": 504, "phase": "after", "method": "POST"})
    lost = await graph.post(EVENTS, json=event_body(transactionId="tx-lost"))
    assert lost.status_code == 504
    (stored,) = sim.state.events_of(ALICE)
    retried = await graph.post(EVENTS, json=event_body(transactionId="tx-lost"))
    assert retried.status_code == 201 and retried.json()["id"] == stored["id"]
    assert len(sim.state.events_of(ALICE)) == 1


async def test_a_fault_can_target_one_mailbox_with_a_custom_error(
        graph: httpx.AsyncClient, control: httpx.AsyncClient) -> None:
    await control.post("/faults", json={"status": 403, "mailbox": BOB, "count": 5,
                                        "errorCode": "ErrorAccessDenied",
                                        "message": "Access to OData is disabled."})
    assert (await graph.get(EVENTS)).status_code == 200
    denied = await graph.get(f"/users/{BOB}/events")
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "ErrorAccessDenied"
    assert denied.json()["error"]["message"] == "Access to OData is disabled."
    assert (await control.delete("/faults")).status_code == 204
    assert (await graph.get(f"/users/{BOB}/events")).status_code == 200


async def test_reset_clears_events_faults_and_limits_but_keeps_users(
        sim: RunningSimulator, graph: httpx.AsyncClient, control: httpx.AsyncClient) -> None:
    await graph.post(EVENTS, json=event_body())
    await control.post("/faults", json={"status": 500, "count": 9})
    await control.put("/throttle", json={"concurrency": 1, "budget": 1})
    assert (await control.post("/reset")).status_code == 204
    assert sim.state.events_of(ALICE) == [] and sim.state.faults() == []
    assert sim.state.throttle.config.concurrency == 4
    assert (await graph.get(EVENTS)).status_code == 200
    assert {u["userPrincipalName"] for u in (await control.get("/users")).json()["value"]} >= {
        ALICE, BOB}
