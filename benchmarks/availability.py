"""Availability benchmark: POST /api/availability for P people and R rooms through the local stack (HTTP trigger
→ msgraph-sdk → HTTPS Graph simulator with a simulated latency per request), a first (cold) request and then N
warm ones. Prints figures; asserts nothing.

    .venv/bin/python -m benchmarks.availability --people 20 --rooms 5 --days 5 --latency-ms 100 --requests 10
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from local.stack import LocalStack

START = datetime(2026, 6, 1, tzinfo=UTC)


def seed_calendars(stack: LocalStack, people: list[str], rooms: list[str], days: int, seed: int = 7) -> None:
    """About four meetings a day for each person and room, a third of them tentative or free."""
    assert stack.simulator is not None
    state, rng = stack.simulator.state, random.Random(seed)
    for room in rooms:
        state.add_room(room, room.split("@")[0])
    for mailbox in people + rooms:
        for day in range(days):
            for _ in range(4):
                start = START + timedelta(days=day, hours=rng.randint(6, 17), minutes=rng.choice([0, 15, 30, 45]))
                state.create_event(mailbox, {
                    "subject": "Meeting", "showAs": rng.choice(["busy", "busy", "tentative", "free"]),
                    "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
                    "end": {"dateTime": (start + timedelta(minutes=rng.choice([30, 60]))).strftime(
                        "%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=20)
    parser.add_argument("--rooms", type=int, default=5)
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument("--latency-ms", type=int, default=100, help="simulated Graph latency per request")
    parser.add_argument("--requests", type=int, default=10)
    args = parser.parse_args()
    people = [f"bench{i:03d}@contoso.com" for i in range(args.people)]
    rooms = [f"room.bench{i:02d}@contoso.com" for i in range(args.rooms)]
    body: dict[str, Any] = {"people": people, "rooms": rooms, "start": START.isoformat(),
                            "end": (START + timedelta(days=args.days)).isoformat(), "timeZone": "Europe/Berlin"}
    with tempfile.TemporaryDirectory() as state_dir:
        stack = LocalStack(state_dir=Path(state_dir), port=0, users={p: p for p in people}).start()
        try:
            assert stack.simulator is not None and stack.host is not None
            seed_calendars(stack, people, rooms, args.days)
            stack.simulator.state.set_latency(args.latency_ms)
            stack.simulator.state.clear_requests()
            timings, slots = [], 0
            with stack.client(headers={"x-functions-key": stack.host.function_key}) as client:
                for _ in range(args.requests + 1):
                    began = time.perf_counter()
                    response = client.post("/api/availability", json=body)
                    timings.append((time.perf_counter() - began) * 1000)
                    response.raise_for_status()
                    slots = len(response.json()["freeSlots"])
            graph_calls = [r for r in stack.simulator.state.requests() if r["path"].endswith("/getSchedule")]
        finally:
            stack.stop()
    warm = timings[1:]
    report = {"people": args.people, "rooms": args.rooms, "days": args.days, "graph_latency_ms": args.latency_ms,
              "cold_ms": round(timings[0]), "warm_p50_ms": round(statistics.median(warm)),
              "warm_max_ms": round(max(warm)), "getschedule_requests_per_answer": len(graph_calls) / len(timings),
              "free_slots": slots}
    print(f"{args.people} people, {args.rooms} rooms, {args.days} days, Graph latency {args.latency_ms} ms: "
          f"cold {report['cold_ms']} ms, warm p50 {report['warm_p50_ms']} ms, max {report['warm_max_ms']} ms, "
          f"{report['getschedule_requests_per_answer']:.0f} getSchedule request(s) per answer")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
