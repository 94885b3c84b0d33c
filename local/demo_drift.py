"""The README demo's last part: an event deleted by hand in Outlook (the simulator), found by a drift run
queued through the operator API (``POST /api/manage/drift/run?mailbox=``) and recreated by the sync worker."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from local.demo_rooms import wait_for
from shared.domain.tagging import SOURCE_KEY_PROPERTY

if TYPE_CHECKING:
    from local.stack import LocalStack


def _key(event: dict[str, Any]) -> str | None:
    return next((p["value"] for p in event.get("singleValueExtendedProperties") or []
                 if p["id"].lower() == SOURCE_KEY_PROPERTY.lower()), None)


def demo_drift(stack: LocalStack) -> None:
    if stack.simulator is None:
        print("\nDrift repair: skipped (needs the Graph simulator)")
        return
    victim = next(((mailbox, event) for mailbox in stack.users for event in stack.calendar(mailbox)
                   if _key(event) and not event.get("recurrence")), None)
    if victim is None:
        print("\nDrift repair: skipped (no event of the connector's to delete)")
        return
    mailbox, event = victim
    key = _key(event)
    print(f"\nDrift repair: deleting \"{event['subject']}\" from {mailbox} by hand in Outlook ...")
    stack.simulator.state.outlook_delete(mailbox, event["id"])
    response = stack.admin("POST", "/api/manage/drift/run", params={"mailbox": mailbox})
    print(f"  POST /api/manage/drift/run?mailbox={mailbox} -> {response.status_code} {response.text[:120]}")
    response.raise_for_status()
    run_id = response.json()["runId"]
    back = wait_for(lambda: next((e for e in stack.calendar(mailbox) if _key(e) == key), None))
    if back is None:
        print("  the event did not come back within 60 s (see the host's log)")
        return
    print(f"  restored: \"{back['subject']}\" {back['start']['dateTime'][:16]} UTC (new event id ...{back['id'][-8:]})")
    report = wait_for(lambda: (r := stack.admin("GET", "/api/manage/drift").json())["run"]["runId"] == run_id
                   and r["mailboxes"] and r)
    if report:
        print(f"  GET /api/manage/drift -> found {json.dumps(report['found'])}, done {json.dumps(report['done'])}")
