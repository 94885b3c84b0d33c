"""End to end through the local host: a burst of events for one task costs one Graph write (coalescing)."""

from __future__ import annotations

import pytest

from local.stack import LocalStack
from tests.e2e.test_planning_e2e import event, post_and_drain, task

pytestmark = pytest.mark.e2e
MAILBOX = "worker07@contoso.com"


def test_ten_quick_events_for_one_task_end_in_one_graph_write_of_the_newest_state(stack: LocalStack) -> None:
    assert stack.simulator is not None
    burst = [event("task.planned" if n == 1 else "task.rescheduled", "task/coalesce-1",
                   task(MAILBOX, hour=6 + n, title=f"Revision {n}"), sequence=n) for n in range(1, 11)]
    post_and_drain(stack, burst)
    writes = [r for r in stack.simulator.state.requests()
              if r["method"] in ("POST", "PATCH") and f"/users/{MAILBOX}/" in r["path"]]
    assert len(writes) == 1, writes
    [held] = stack.calendar(MAILBOX)
    assert held["subject"] == "Revision 10"
    assert held["start"]["dateTime"].startswith("2026-05-04T14:00:00")  # 16:00 in Berlin
