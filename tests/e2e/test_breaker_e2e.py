"""End to end: a burst of unplans trips the mass-deletion breaker; the operator sees it and releases the held
deletes, which then land (local host, local queue, Azurite, Graph simulator)."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from local.stack import LocalStack
from tests.e2e.conftest import wait_for
from tests.e2e.test_planning_e2e import event, post_and_drain, task

pytestmark = pytest.mark.e2e
SOURCE = "https://planning.example.com/e2e-breaker"
MAILBOXES = [f"worker{i:02d}@contoso.com" for i in range(16, 20)]
TASKS = 52  # above the default minimum population (50): unplanning most of them trips the share rule


def ours(stack: LocalStack) -> int:
    return sum(1 for mailbox in MAILBOXES for e in stack.calendar(mailbox)
               if e["subject"].startswith("Breaker job"))


def breaker(stack: LocalStack) -> dict | None:
    response = stack.admin("GET", "/api/manage/breakers")
    assert response.status_code == 200, response.text
    return next((b for b in response.json()["value"] if b["source"] == SOURCE), None)


def test_a_burst_of_unplans_is_held_until_released(stack: LocalStack) -> None:
    post_and_drain(stack, [event("task.planned", f"task/b{n}", task(MAILBOXES[n % 4], 8 + n % 8, f"Breaker job {n}"),
                                 sequence=1, source=SOURCE) for n in range(TASKS)])
    assert ours(stack) == TASKS
    post_and_drain(stack, [event("task.unplanned", f"task/b{n}", sequence=2, source=SOURCE) for n in range(TASKS)])
    state = breaker(stack)
    assert state is not None and state["state"] == "tripped" and state["since"], state
    assert state["held"] > 0 and ours(stack) == state["held"], (state, ours(stack))  # held, not lost

    encoded = quote(SOURCE, safe="")
    assert stack.admin("POST", "/api/manage/breakers/https%3A%2F%2Fnowhere.example.com/release").status_code == 404
    released = stack.admin("POST", f"/api/manage/breakers/{encoded}/release")
    assert released.status_code == 200, released.text
    assert released.json()["released"] == state["held"]
    stack.wait_until_drained()
    wait_for(lambda: ours(stack) == 0, message="released deletes applied")
    after = breaker(stack)
    assert after is not None and after["state"] == "closed" and after["held"] == 0
