"""End to end: an event deleted by hand in Outlook (the simulator) comes back after a drift run queued through
the operator API, recreated by the sync worker from the last applied planning event."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local.stack import LocalStack
from tests.e2e.conftest import wait_for

pytestmark = pytest.mark.e2e
MAILBOX = "worker02@contoso.com"


def planned(source: str, subject: str) -> dict[str, Any]:
    day = (datetime.now(UTC) + timedelta(days=7)).date().isoformat()  # inside any look-back/forward window
    return {"specversion": "1.0", "id": f"drift-{uuid.uuid4().hex}", "source": source, "type": "task.planned",
            "subject": subject, "time": "2026-05-01T06:00:00Z", "sequence": "1",
            "data": {"resource": {"email": MAILBOX}, "start": f"{day}T08:00:00", "end": f"{day}T09:00:00",
                     "timeZone": "Europe/Berlin", "title": "Drift check"}}


def ours(stack: LocalStack, source: str) -> list[dict[str, Any]]:
    return [e for e in stack.calendar(MAILBOX)
            if any(p["value"].startswith(f"{source} ") for p in e.get("singleValueExtendedProperties") or [])]


class TestDriftRepair:
    def test_an_event_deleted_by_hand_is_back_after_a_drift_run(self, stack: LocalStack) -> None:
        assert stack.simulator is not None
        source = f"https://planning.example.com/drift-{uuid.uuid4().hex[:8]}"  # the stack's tables are shared
        assert stack.post_events([planned(source, "task/drift-1")]).status_code == 202
        stack.wait_until_drained()  # the event written and its mapping stored
        [written] = ours(stack, source)
        stack.simulator.state.outlook_delete(MAILBOX, written["id"])  # deleted by hand in Outlook
        assert ours(stack, source) == []

        response = stack.admin("POST", "/api/manage/drift/run", params={"source": source})
        assert response.status_code == 202, response.text
        run_id = response.json()["runId"]
        [back] = wait_for(lambda: ours(stack, source), message="the event restored")  # type: ignore[misc]
        assert back["id"] != written["id"]
        assert {k: back[k] for k in ("subject", "start", "end")} == {k: written[k] for k in ("subject", "start", "end")}

        def reported() -> dict[str, Any] | None:
            report: dict[str, Any] = stack.admin("GET", "/api/manage/drift").json()
            return report if report["run"]["runId"] == run_id and report["mailboxes"] else None

        report = wait_for(reported, message="the run's report")
        assert report["found"] == {"deleted": 1, "changed": 0, "orphan": 0, "rebuilt": 0}  # type: ignore[index]
        assert report["done"] == {"restored": 1}  # type: ignore[index]
