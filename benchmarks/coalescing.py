"""Quick measurements behind the coalescing window and host.json's session values, through the local stack.

storm: 50 tasks, each planned then rescheduled 9 times in quick succession: Graph requests per task.
wide: 100 resources × 5 new tasks in one burst: events/s until the queue is drained, and accept → write p50/p99.

    .venv/bin/python -m benchmarks.coalescing storm --window-ms 500
    .venv/bin/python -m benchmarks.coalescing wide --sessions 64 --idle 00:00:00.2
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import local.stack
from local.stack import LocalStack
from shared.domain.tagging import SOURCE_KEY_PROPERTY

SOURCE = "https://planning.example.com/quick"
ROOT = Path(__file__).resolve().parents[1]


def event(subject: str, sequence: int, mailbox: str, hour: int) -> dict[str, Any]:
    base = datetime(2026, 5, 1, 6, tzinfo=UTC)
    return {"specversion": "1.0", "id": str(uuid.uuid4()), "source": SOURCE,
            "type": "task.planned" if sequence == 1 else "task.rescheduled", "subject": subject,
            "time": (base + timedelta(seconds=sequence)).isoformat(), "sequence": str(sequence),
            "data": {"resource": {"email": mailbox}, "start": f"2026-05-04T{hour:02d}:00:00",
                     "end": f"2026-05-04T{hour:02d}:45:00", "timeZone": "Europe/Berlin", "title": f"Job {subject}",
                     "taskType": "Maintenance"}}


def storm(tasks: int = 50, revisions: int = 10, mailboxes: int = 10) -> list[list[dict[str, Any]]]:
    """Round r holds revision r of every task; the rounds are posted back to back."""
    return [[event(f"task/{t}", r, f"bench{t % mailboxes:03d}@contoso.com", 6 + r) for t in range(tasks)]
            for r in range(1, revisions + 1)]


def wide(resources: int = 100, per_resource: int = 5) -> list[list[dict[str, Any]]]:
    events = [event(f"task/{r}-{n}", 1, f"bench{r:03d}@contoso.com", 6 + n)
              for n in range(per_resource) for r in range(resources)]
    return [events[i:i + 100] for i in range(0, len(events), 100)]


def host_json(sessions: int, idle: str) -> Path:
    data = json.loads((ROOT / "host.json").read_text())
    data["extensions"]["serviceBus"].update(maxConcurrentSessions=sessions, sessionIdleTimeout=idle)
    path = Path(tempfile.mkstemp(suffix="-host.json")[1])
    path.write_text(json.dumps(data))
    return path


def run(rounds: list[list[dict[str, Any]]], *, window_ms: int, sessions: int, idle: str,
        latency_ms: int = 100) -> dict[str, Any]:
    users = {m: m for m in {e["data"]["resource"]["email"] for batch in rounds for e in batch}}
    process = local.stack.HostProcess
    local.stack.HostProcess = functools.partial(  # type: ignore[misc]
        process, extra_args=["--host-json", str(host_json(sessions, idle))])
    try:
        with tempfile.TemporaryDirectory() as state_dir:
            stack = LocalStack(state_dir=Path(state_dir), port=0, users=users,
                               settings={"CONNECTOR_COALESCE_WINDOW_MS": str(window_ms)}).start()
            try:
                assert stack.simulator is not None
                stack.simulator.state.set_latency(latency_ms)
                stack.simulator.state.clear_requests()
                accepted: dict[str, datetime] = {}
                started = time.monotonic()
                for batch in rounds:
                    stack.post_events(batch).raise_for_status()
                    accepted.update({e["subject"]: datetime.now(UTC) for e in batch})
                stack.wait_until_drained(timeout=1800)
                elapsed = time.monotonic() - started
                requests = stack.simulator.state.requests()
                latencies = sorted(
                    (datetime.fromisoformat(e["lastModifiedDateTime"]).replace(tzinfo=UTC)
                     - accepted[key.split(" ", 1)[1]]).total_seconds()
                    for mailbox in users for e in stack.calendar(mailbox)
                    for key in [p["value"] for p in e.get("singleValueExtendedProperties", [])
                                if p["id"] == SOURCE_KEY_PROPERTY])
            finally:
                stack.stop()
    finally:
        local.stack.HostProcess = process  # type: ignore[misc]
    events = sum(len(b) for b in rounds)
    tasks = len({e["subject"] for b in rounds for e in b})
    methods = Counter(r["method"] for r in requests if "/users/" in r["path"])
    return {"window_ms": window_ms, "sessions": sessions, "idle": idle, "events": events, "seconds": round(elapsed, 1),
            "events_per_second": round(events / elapsed, 1),
            "graph_requests_per_task": round(sum(methods.values()) / tasks, 2), "by_method": dict(methods),
            "throttled": sum(1 for r in requests if r["status"] == 429),
            "p50_s": round(statistics.median(latencies), 2) if latencies else None,
            "p99_s": round(latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 2) if latencies else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workload", choices=["storm", "wide"])
    parser.add_argument("--window-ms", type=int, default=500)
    parser.add_argument("--sessions", type=int, default=None, help="maxConcurrentSessions (default: host.json's)")
    parser.add_argument("--idle", default=None, help="sessionIdleTimeout (default: host.json's)")
    args = parser.parse_args()
    bus = json.loads((ROOT / "host.json").read_text())["extensions"]["serviceBus"]
    rounds = storm() if args.workload == "storm" else wide()
    print(json.dumps({"workload": args.workload, **run(
        rounds, window_ms=args.window_ms, sessions=args.sessions or bus["maxConcurrentSessions"],
        idle=args.idle or bus["sessionIdleTimeout"])}))


if __name__ == "__main__":
    main()
