"""Throughput benchmark: N planning events over M resources through the local stack (HTTP trigger →
queue → worker → msgraph-sdk → throttled HTTPS Graph simulator), and the same workload through a
naive one-event-at-a-time read-then-write client, as a ratio. Prints figures; asserts nothing.

    .venv/bin/python -m benchmarks.throughput --events 2000 --resources 20 --latency-ms 50
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from local.stack import LocalStack
from shared.domain.planning.contract import check_event
from shared.domain.planning.render import desired_state
from shared.domain.tagging import SOURCE_KEY_PROPERTY
from shared.domain.timezones import resolve_time_zone

SOURCE = "https://planning.example.com/bench"
BATCH = 100


@dataclass
class Workload:
    events: list[dict[str, Any]]
    last_event_of_task: dict[str, str]


def workload(n_events: int, n_resources: int, seed: int = 7) -> Workload:
    """Tasks planned, rescheduled (some to the same content), reassigned and unplanned: each event a revision."""
    rng = random.Random(seed)
    mailboxes = [f"bench{i:03d}@contoso.com" for i in range(n_resources)]
    events: list[dict[str, Any]] = []
    state: dict[str, tuple[int, str, int]] = {}  # subject -> (sequence, mailbox, hour)
    base = datetime(2026, 5, 1, 6, tzinfo=UTC)

    def make(subject: str, kind: str, mailbox: str, hour: int) -> dict[str, Any]:
        sequence = state.get(subject, (0, mailbox, hour))[0] + 1
        state[subject] = (sequence, mailbox, hour)
        raw: dict[str, Any] = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": SOURCE,
                               "type": f"task.{kind}", "subject": subject,
                               "time": (base + timedelta(seconds=len(events))).isoformat(), "sequence": str(sequence)}
        if kind != "unplanned":
            raw["data"] = {"resource": {"email": mailbox}, "start": f"2026-05-04T{hour:02d}:00:00",
                           "end": f"2026-05-04T{hour:02d}:45:00", "timeZone": "Europe/Berlin",
                           "title": f"Job {subject}", "taskType": "Maintenance",
                           "customer": {"name": "Customer", "phone": "+49 30 1234",
                                        "address": {"street": "Main 1", "city": "Berlin"}}}
        return raw

    n_tasks = max(1, n_events // 2)
    for t in range(n_tasks):
        events.append(make(f"task/{t}", "planned", rng.choice(mailboxes), rng.randint(6, 18)))
    while len(events) < n_events:
        subject = f"task/{rng.randrange(n_tasks)}"
        _, mailbox, hour = state[subject]
        roll = rng.random()
        if roll < 0.45:
            events.append(make(subject, "rescheduled", mailbox, rng.randint(6, 18)))
        elif roll < 0.65:
            events.append(make(subject, "rescheduled", mailbox, hour))  # unchanged content
        elif roll < 0.90:
            events.append(make(subject, "reassigned", rng.choice(mailboxes), rng.randint(6, 18)))
        else:
            events.append(make(subject, "unplanned", mailbox, hour))
    last = {e["subject"]: e["id"] for e in events}
    return Workload(events, last)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_connector(stack: LocalStack, load: Workload) -> dict[str, float]:
    assert stack.simulator is not None and stack.host is not None
    stack.simulator.state.clear_requests()
    accepted_at: dict[str, datetime] = {}
    started = time.monotonic()
    for i in range(0, len(load.events), BATCH):
        chunk = load.events[i:i + BATCH]
        response = stack.post_events(chunk)
        response.raise_for_status()
        now = datetime.now(UTC)
        accepted_at.update({e["id"]: now for e in chunk})
    stack.wait_until_drained(timeout=3600)
    elapsed = time.monotonic() - started
    latencies = []
    for mailbox in stack.users:
        for event in stack.calendar(mailbox):
            props = event.get("singleValueExtendedProperties", [])
            keys = [p["value"] for p in props if p["id"] == SOURCE_KEY_PROPERTY]
            if not keys:
                continue
            subject = keys[0].split(" ", 1)[1]
            written = datetime.fromisoformat(event["lastModifiedDateTime"]).replace(tzinfo=UTC)
            latencies.append((written - accepted_at[load.last_event_of_task[subject]]).total_seconds())
    graph_requests = len(stack.simulator.state.requests())
    throttled = sum(1 for r in stack.simulator.state.requests() if r["status"] == 429)
    latencies.sort()
    return {
        "seconds": elapsed,
        "events_per_second": len(load.events) / elapsed,
        "graph_requests_per_event": graph_requests / len(load.events),
        "throttled": throttled,
        "p50_ms": 1000 * statistics.median(latencies) if latencies else float("nan"),
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] if latencies else float("nan"),
        "peak_rss_mb": peak_rss_mb(stack.host.proc.pid) if stack.host.proc else float("nan"),
    }


def run_naive(stack: LocalStack, load: Workload) -> dict[str, float]:
    """One event at a time: look the event up in Graph, then write it. No mapping, no batching, no parallelism."""
    assert stack.simulator is not None
    sim = stack.simulator
    sim.state.reset()
    token = httpx.post(f"{sim.auth_endpoint}/{stack.env['CALENDAR_MSGRAPH_TENANT_GUID']}/oauth2/v2.0/token",
                       data={"grant_type": "client_credentials", "client_id": stack.env["CALENDAR_MSGRAPH_CLIENT_ID"],
                             "client_secret": stack.env["CALENDAR_MSGRAPH_CLIENT_SECRET"],
                             "scope": "https://graph.microsoft.com/.default"},
                       verify=str(sim.ca_path)).json()["access_token"]
    zone = resolve_time_zone("Europe/Berlin")
    where: dict[str, str] = {}  # subject -> mailbox, as a naive client would remember
    started = time.monotonic()
    with httpx.Client(base_url=sim.graph_endpoint, verify=str(sim.ca_path), timeout=60,
                      headers={"Authorization": f"Bearer {token}"}) as graph:
        for raw in load.events:
            event = check_event(raw, 0, zone)
            assert not isinstance(event, list)
            key = event.key.value.replace("'", "''")
            desired = desired_state(event, zone)
            mailbox = where.get(event.subject) or (desired.mailbox if desired else None)
            if mailbox is None:
                continue
            lookup = f"singleValueExtendedProperties/Any(ep: ep/id eq '{SOURCE_KEY_PROPERTY}' and ep/value eq '{key}')"
            found = _naive_call(graph, "GET", f"/users/{mailbox}/events",
                                params={"$filter": lookup, "$select": "id"}).json()["value"]
            if found and (desired is None or desired.mailbox != mailbox):
                _naive_call(graph, "DELETE", f"/users/{mailbox}/events/{found[0]['id']}")
                found = []
            if desired is not None:
                body = {**desired.content, "singleValueExtendedProperties": [
                    {"id": SOURCE_KEY_PROPERTY, "value": event.key.value}]}
                if found:
                    _naive_call(graph, "PATCH", f"/users/{desired.mailbox}/events/{found[0]['id']}", json=body)
                else:
                    _naive_call(graph, "POST", f"/users/{desired.mailbox}/events", json=body)
                where[event.subject] = desired.mailbox
            else:
                where.pop(event.subject, None)
    elapsed = time.monotonic() - started
    return {"seconds": elapsed, "events_per_second": len(load.events) / elapsed,
            "graph_requests_per_event": len(sim.state.requests()) / len(load.events)}


def _naive_call(graph: httpx.Client, method: str, url: str, **kwargs: Any) -> httpx.Response:
    while True:
        response = graph.request(method, url, **kwargs)
        if response.status_code == 429:
            time.sleep(float(response.headers.get("retry-after", "1")))
            continue
        response.raise_for_status()
        return response


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--resources", type=int, default=20)
    parser.add_argument("--latency-ms", type=int, default=50, help="simulated Graph latency per request")
    args = parser.parse_args()
    load = workload(args.events, args.resources)
    users = {f"bench{i:03d}@contoso.com": f"Bench {i}" for i in range(args.resources)}
    with tempfile.TemporaryDirectory() as state_dir:
        stack = LocalStack(state_dir=Path(state_dir), port=0, users=users).start()
        try:
            assert stack.simulator is not None
            stack.simulator.state.set_latency(args.latency_ms)
            connector = run_connector(stack, load)
            naive = run_naive(stack, load)
        finally:
            stack.stop()
    report = {"events": args.events, "resources": args.resources, "graph_latency_ms": args.latency_ms,
              "connector": connector, "naive": naive,
              "speedup": connector["events_per_second"] / naive["events_per_second"],
              "graph_requests_ratio": naive["graph_requests_per_event"] / connector["graph_requests_per_event"]}
    print(f"events {args.events} over {args.resources} resources, simulated Graph latency {args.latency_ms} ms")
    print(f"connector: {connector['events_per_second']:.1f} events/s, "
          f"{connector['graph_requests_per_event']:.2f} Graph requests/event, "
          f"accept→write p50 {connector['p50_ms']:.0f} ms, p99 {connector['p99_ms']:.0f} ms, "
          f"429s {connector['throttled']:.0f}, peak RSS {connector['peak_rss_mb']:.0f} MB")
    print(f"naive:     {naive['events_per_second']:.1f} events/s, {naive['graph_requests_per_event']:.2f} "
          "Graph requests/event")
    print(f"ratio:     {report['speedup']:.1f}x events/s, {report['graph_requests_ratio']:.1f}x fewer Graph requests")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
