"""End to end, health: liveness without a key, the status with the master key (every section, the queues'
figures while events flow and once they are drained), and no status without the key."""

from __future__ import annotations

import itertools

import pytest

from local.stack import LocalStack
from shared.app.messaging import PLANNING_QUEUE, QUEUES
from tests.e2e.conftest import wait_for

pytestmark = pytest.mark.e2e
SOURCE = "https://planning.example.com/health-e2e"
_ids = itertools.count(1)


def task_event(n: int) -> dict:
    return {"specversion": "1.0", "id": f"health-{next(_ids)}", "source": SOURCE, "type": "task.planned",
            "subject": f"task/health-{n}", "time": "2026-05-01T06:00:00Z", "sequence": "1",
            "data": {"resource": {"email": "anna.berger@contoso.com"}, "start": f"2026-07-{1 + n:02d}T08:00:00",
                     "end": f"2026-07-{1 + n:02d}T09:00:00", "timeZone": "Europe/Berlin", "title": f"Job {n}"}}


def status(stack: LocalStack) -> dict:
    response = stack.admin("GET", "/api/manage/status")
    assert response.status_code == 200, response.text
    return response.json()


def figures(document: dict) -> dict[str, dict]:
    return {q["queue"]: q for q in document["queues"]["value"]}


def test_liveness_needs_no_key(stack: LocalStack) -> None:
    with stack.client() as client:
        response = client.get("/api/health")
    assert response.status_code == 200 and response.json()["status"] == "ok"


def test_the_status_needs_an_operator_token(stack: LocalStack) -> None:
    assert stack.host is not None
    with stack.client() as client:
        assert client.get("/api/manage/status").status_code == 401
        with_function_key = client.get("/api/manage/status", headers={"x-functions-key": stack.host.function_key})
    assert with_function_key.status_code == 401


def test_the_status_shows_every_section_and_the_queues_after_posting_events(stack: LocalStack) -> None:
    response = stack.post_events([task_event(n) for n in range(5)])
    assert response.status_code == 202, response.text
    during = status(stack)
    assert set(during["dependencies"]) == {"tableStorage", "queue", "keyVault", "graphToken"}
    assert {name: e["state"] for name, e in during["dependencies"].items()
            if name != "keyVault"} == {"tableStorage": "ok", "queue": "ok", "graphToken": "ok"}
    assert during["dependencies"]["queue"]["kind"] == "local"
    assert {"rooms", "credential", "breakers"} <= set(during) and during["credential"]["state"] == "ok"
    assert list(figures(during)) == list(QUEUES)
    for queue in figures(during).values():
        assert min(queue["active"], queue["scheduled"], queue["deadLettered"]) >= 0
        assert (queue["oldestAgeSeconds"] is None) == (queue["active"] == 0)
        assert queue["oldestAgeSeconds"] is None or queue["oldestAgeSeconds"] >= 0

    def drained() -> dict | None:
        document = status(stack)
        planning = figures(document)[PLANNING_QUEUE]
        return document if (planning["active"], planning["scheduled"]) == (0, 0) else None

    after = wait_for(drained, message="the planning queue drained in the status")
    assert isinstance(after, dict) and figures(after)[PLANNING_QUEUE]["oldestAgeSeconds"] is None
    assert stack.queue_counts()["dead_lettered"] == figures(after)[PLANNING_QUEUE]["deadLettered"]

