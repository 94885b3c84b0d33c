"""Service Bus queue triggers fed from the local queue store by the in-process host."""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import replace
from typing import Any

import httpx
import pytest

from local.funchost import QUEUE_PATH_ENV, LocalFunctionHost
from local.funchost.queue_store import MAX_DELIVERY_COUNT_EXCEEDED, LocalQueueStore
from shared.app.messaging import OutboundMessage

QUEUE = "sample-work"


def message(n: int, session: str, **data: Any) -> OutboundMessage:
    body = json.dumps({"n": n, **data}).encode()
    return OutboundMessage(
        body=body, message_id=f"{session}-{n}", session_id=session, application_properties={"source": "test"}
    )


def store() -> LocalQueueStore:
    return LocalQueueStore(os.environ[QUEUE_PATH_ENV])


def test_messages_are_processed_in_order_within_each_session_one_at_a_time(
    host: LocalFunctionHost, sample: Any, wait_for: Any
) -> None:
    sessions = ["alpha", "beta", "gamma"]
    # Interleaved sends; a little work per message gives sessions the chance to overlap.
    batches = [[message(n, s, sleep=0.01)] for n in range(6) for s in sessions]
    q = store()
    for batch in batches:
        q.send(QUEUE, batch)

    wait_for(lambda: len(sample.processed) == 18)
    for s in sessions:
        assert [e["n"] for e in sample.processed if e["session"] == s] == list(range(6))
    assert sample.overlaps == [], "never two messages of one session in flight"
    assert wait_for(lambda: q.counts(QUEUE)["active"] == 0 and q.counts(QUEUE)["locked"] == 0)


def test_the_function_gets_the_message_metadata(host: LocalFunctionHost, sample: Any, wait_for: Any) -> None:
    store().send(QUEUE, [message(1, "meta")])
    [entry] = wait_for(lambda: sample.processed)
    assert entry == {
        "session": "meta",
        "n": 1,
        "delivery_count": 1,
        "message_id": "meta-1",
        "props": {"source": "test"},
    }


def test_a_failing_message_is_retried_then_dead_lettered_and_can_be_replayed(
    host: LocalFunctionHost, sample: Any, wait_for: Any
) -> None:
    q = store()
    q.send(QUEUE, [message(1, "poison", fail=True), message(2, "poison")])
    wait_for(lambda: [e["n"] for e in sample.processed] == [2])
    assert [e["delivery_count"] for e in sample.attempts if e["n"] == 1] == list(range(1, 11))

    admin = httpx.Client(base_url=host.base_url, headers={"x-functions-key": host.master_key})
    assert httpx.get(f"{host.base_url}/admin/queues/{QUEUE}/deadletters").status_code == 401
    [dead] = admin.get(f"/admin/queues/{QUEUE}/deadletters").json()
    assert dead["messageId"] == "poison-1"
    assert dead["sessionId"] == "poison"
    assert dead["reason"] == MAX_DELIVERY_COUNT_EXCEEDED
    assert "ValueError: message 1 is poison" in dead["description"]
    assert dead["deliveryCount"] == 10
    assert json.loads(dead["body"]) == {"n": 1, "fail": True}
    assert admin.get(f"/admin/queues/{QUEUE}").json()["dead_lettered"] == 1

    replay = admin.post(f"/admin/queues/{QUEUE}/deadletters/{dead['sequenceNumber']}/replay")
    assert replay.json() == {"replayed": True}
    # Back on the queue with a fresh count: delivered again from 1, and dead-lettered again.
    wait_for(lambda: len([e for e in sample.attempts if e["n"] == 1]) == 20)
    wait_for(lambda: admin.get(f"/admin/queues/{QUEUE}").json()["dead_lettered"] == 1)
    missing = admin.post(f"/admin/queues/{QUEUE}/deadletters/999999/replay")
    assert missing.status_code == 404


def test_the_host_sets_the_queue_path_for_the_app_when_it_is_absent(
    start_host: Any, host_env: Any, monkeypatch: Any
) -> None:
    monkeypatch.delenv(QUEUE_PATH_ENV)
    start_host(state_dir=host_env / "elsewhere")
    assert os.environ[QUEUE_PATH_ENV] == str((host_env / "elsewhere" / "queue.sqlite3").resolve())


def test_stopping_the_host_lets_an_in_flight_message_finish(start_host: Any, sample: Any, wait_for: Any) -> None:
    host = start_host()
    q = store()
    q.send(QUEUE, [message(1, "slow", sleep=0.5)])
    wait_for(lambda: sample.attempts)
    host.stop()
    assert [e["n"] for e in sample.processed] == [1]
    assert q.counts(QUEUE) == {"active": 0, "scheduled": 0, "locked": 0, "dead_lettered": 0}


def test_a_message_still_running_after_the_grace_period_is_abandoned(
    start_host: Any, sample: Any, wait_for: Any
) -> None:
    host = start_host(shutdown_grace_seconds=0.2)
    q = store()
    q.send(QUEUE, [message(1, "stuck", sleep=30)])
    wait_for(lambda: sample.attempts)
    host.stop()
    assert sample.processed == []
    assert q.counts(QUEUE)["active"] == 1, "abandoned: available again at once"
    assert q.receive(QUEUE).delivery_count == 2


def test_a_delivery_is_logged_with_the_service_bus_trigger_details(
    host: LocalFunctionHost, sample: Any, wait_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="funchost"):
        store().send(QUEUE, [message(1, "logged")])
        wait_for(lambda: sample.processed)
        wait_for(lambda: "Executed 'Functions.work' (Succeeded" in caplog.text)
    assert "Executing 'Functions.work' (Reason='(null)', Id=" in caplog.text
    assert re.search(r"Trigger Details: MessageId: logged-1, SequenceNumber: \d+, DeliveryCount: 1, "
                     r"EnqueuedTimeUtc: \S+\+00:00, LockedUntilUtc: \S+\+00:00, SessionId: logged\n", caplog.text)
    assert '"n": 1' not in caplog.text, "the payload is not logged"


def test_a_session_receiver_keeps_its_session_until_it_was_idle_for_the_session_idle_timeout(
    start_host: Any, sample: Any, wait_for: Any, tmp_path: Any
) -> None:
    from datetime import UTC, datetime, timedelta

    host_json = tmp_path / "host.json"
    host_json.write_text(json.dumps({"version": "2.0", "extensions": {"serviceBus": {
        "maxConcurrentSessions": 1, "sessionIdleTimeout": "00:00:05"}}}))
    start_host(host_json=host_json)
    q = store()
    later = replace(message(2, "held"), scheduled_enqueue_time=datetime.now(UTC) + timedelta(seconds=0.3))
    q.send(QUEUE, [message(1, "held"), later, message(1, "other")])
    wait_for(lambda: len(sample.processed) == 3)
    # The one slot waits for its session's message due later; the other session gets it only after that.
    assert [(e["session"], e["n"]) for e in sample.processed] == [("held", 1), ("held", 2), ("other", 1)]
