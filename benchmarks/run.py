"""The benchmark: the workloads of docs/benchmarks.md through the minimal in-memory implementation, the connector
(the local stack) and, where it applies, a naive one-at-a-time client, all against one Graph stand-in with
Outlook-like limits (benchmarks/graphstub.py); one table at the end.

    .venv/bin/python -m benchmarks                      # every workload, default sizes, a few minutes
    .venv/bin/python -m benchmarks --workloads storm --storm-tasks 20 --storm-revisions 10 --systems connector
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from benchmarks import workloads
from benchmarks.graphstub import Limits, RunningStub, start_stub
from benchmarks.systems import Connector, Minimal, System, peak_rss_mb
from shared.domain.planning.contract import check_event
from shared.domain.planning.render import desired_state
from shared.domain.tagging import SOURCE_KEY_PROPERTY
from shared.domain.timezones import resolve_time_zone

ZONE = resolve_time_zone("Europe/Berlin")
WORKLOADS = ("hot", "wide", "steady", "storm", "ingest", "memory")
SYSTEMS = ("minimal", "connector")
BATCH = 100
Figures = dict[str, Any]


# -- helpers -----------------------------------------------------------------------------------------------

def post(client: httpx.Client, events: list[dict[str, Any]]) -> float:
    """One POST (a batch, or a single event); the wall-clock time it was accepted."""
    if len(events) == 1:
        response = client.post("/api/planning/events", content=json.dumps(events[0]),
                               headers={"content-type": "application/cloudevents+json"})
    else:
        response = client.post("/api/planning/events", content=json.dumps(events),
                               headers={"content-type": "application/cloudevents-batch+json"})
    if response.status_code != 202:
        raise RuntimeError(f"POST answered {response.status_code}: {response.text[:300]}")
    return time.time()


def post_batches(system: System, events: list[dict[str, Any]], size: int = BATCH) -> dict[str, float]:
    """Posts in batches; event id -> accepted at."""
    accepted: dict[str, float] = {}
    with system.client() as client:
        for i in range(0, len(events), size):
            chunk = events[i:i + size]
            at = post(client, chunk)
            accepted.update({e["id"]: at for e in chunk})
    return accepted


def expected_starts(stream: workloads.Stream) -> dict[str, str | None]:
    """key -> the start its calendar entry must show (None: no entry)."""
    wanted: dict[str, str | None] = {}
    for subject, raw in stream.last.items():
        event = check_event(raw, 0, ZONE)
        assert not isinstance(event, list), event
        desired = desired_state(event, ZONE)
        wanted[stream.key(subject)] = desired.content["start"]["dateTime"] if desired else None
    return wanted


def converged(stub: RunningStub, stream: workloads.Stream) -> bool:
    wanted = expected_starts(stream)
    found: dict[str, list[str | None]] = {}
    for events in stub.events().values():
        for event in events:
            if event["key"] in wanted:
                found.setdefault(event["key"], []).append(event["start"])
    return all((found.get(key) or [None]) == [start] if start else key not in found for key, start in wanted.items())


def wait_done(system: System, stub: RunningStub, stream: workloads.Stream, timeout: float = 900) -> None:
    """Until every task's calendar entry shows its last event and the system has nothing left to do."""
    deadline = time.monotonic() + timeout
    while not (converged(stub, stream) and system.idle()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{system.name}: {stream.name} did not converge within {timeout} s")
        time.sleep(0.25)


def latencies(stub: RunningStub, stream: workloads.Stream, accepted: dict[str, float]) -> list[float]:
    """Per task: its last calendar write minus when its last event was accepted (seconds)."""
    last_write: dict[str, float] = {}
    for write in stub.writes():
        subject = stream.subject_of(write["key"] or "")
        if subject is not None:
            last_write[subject] = max(last_write.get(subject, 0.0), write["at"])
    return sorted(last_write[s] - accepted[e["id"]] for s, e in stream.last.items() if s in last_write)


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)]


def graph_totals(stub: RunningStub) -> tuple[int, int]:
    boxes = stub.stats()["mailboxes"].values()
    return sum(b["requests"] for b in boxes), sum(b["throttled"] for b in boxes)


# -- workloads ---------------------------------------------------------------------------------------------

def hot(system: System, stub: RunningStub, args: argparse.Namespace) -> Figures:
    stub.reset()
    stream = workloads.new_tasks("hot", workloads.mailboxes("hot", 1), args.hot_tasks)
    post_batches(system, stream.events)
    wait_done(system, stub, stream)
    box = next(iter(stub.stats()["mailboxes"].values()))
    # The most a sliding window of `budget` per `window` can accept from first to last request: budget for every
    # window begun in that span. 1.0: not one more request could have been fitted in.
    span = box["last"] - box["first"]
    share = box["accepted"] / (args.budget * (math.floor(span / args.window) + 1))
    return {"share": share, "throttled": box["throttled"], "accepted": box["accepted"], "seconds": span,
            "requests_per_task": box["requests"] / args.hot_tasks}


def wide(system: System, stub: RunningStub, args: argparse.Namespace) -> Figures:
    stub.reset()
    stream = workloads.new_tasks("wide", workloads.mailboxes("wide", args.wide_mailboxes), args.wide_tasks)
    started = time.time()
    accepted = post_batches(system, stream.events)
    wait_done(system, stub, stream)
    lat = latencies(stub, stream, accepted)
    last_write = max(w["at"] for w in stub.writes())
    return {"events_per_second": len(stream.events) / (last_write - started), "p50": percentile(lat, 0.5),
            "p99": percentile(lat, 0.99), "throttled": graph_totals(stub)[1]}


def steady(system: System, stub: RunningStub, args: argparse.Namespace) -> Figures:
    stub.reset()
    count = int(args.steady_rate * args.steady_seconds)
    boxes = workloads.mailboxes("steady", args.steady_mailboxes)
    stream = workloads.new_tasks("steady", boxes, math.ceil(count / len(boxes)))
    stream.events = stream.events[:count]
    stream.last = {e["subject"]: e for e in stream.events}
    accepted: dict[str, float] = {}
    started = time.monotonic()
    senders = 4  # each event leaves at its own time even when one POST takes longer than the interval
    lanes = [list(enumerate(stream.events))[lane::senders] for lane in range(senders)]

    def send(lane: list[tuple[int, dict[str, Any]]]) -> None:
        with system.client() as client:
            for i, event in lane:
                pause = started + i / args.steady_rate - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                accepted[event["id"]] = post(client, [event])

    with ThreadPoolExecutor(senders) as pool:
        list(pool.map(send, lanes))
    sent_rate = count / (time.monotonic() - started)
    wait_done(system, stub, stream)
    lat = latencies(stub, stream, accepted)
    return {"p50": percentile(lat, 0.5), "p99": percentile(lat, 0.99), "sent_per_second": sent_rate}


def storm(system: System, stub: RunningStub, args: argparse.Namespace) -> Figures:
    stub.reset()
    stream = workloads.storm(args.storm_tasks, args.storm_revisions,
                             workloads.mailboxes("storm", args.storm_mailboxes))
    post_batches(system, stream.events)
    wait_done(system, stub, stream)
    requests, throttled = graph_totals(stub)
    return {"requests_per_task": requests / args.storm_tasks, "throttled": throttled}


def ingest(system: System, stub: RunningStub, args: argparse.Namespace) -> Figures:
    stub.reset()
    boxes = workloads.mailboxes("ingest", 40)
    per_client = args.ingest_events // args.ingest_clients
    stream = workloads.new_tasks("ingest", boxes, math.ceil(per_client * args.ingest_clients / len(boxes)))
    events = stream.events[:per_client * args.ingest_clients]
    shares = [events[c::args.ingest_clients] for c in range(args.ingest_clients)]
    gate = threading.Barrier(args.ingest_clients + 1)
    failures: list[BaseException] = []

    def send(share: list[dict[str, Any]]) -> None:
        try:
            with system.client() as client:
                client.get("/api/health" if system.name == "connector" else "/_bench/idle")  # open the connection
                gate.wait()
                for event in share:
                    post(client, [event])
        except BaseException as error:  # reported below, from the main thread
            failures.append(error)
            raise

    threads = [threading.Thread(target=send, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    gate.wait()
    started = time.monotonic()
    for thread in threads:
        thread.join()
    single_rate = len(events) / (time.monotonic() - started)
    if failures:
        raise failures[0]
    batch = workloads.new_tasks("batch", boxes, math.ceil(args.ingest_batch / len(boxes))).events[:args.ingest_batch]
    with system.client() as client:
        client.get("/api/health" if system.name == "connector" else "/_bench/idle")
        started = time.monotonic()
        post(client, batch)
        batch_seconds = time.monotonic() - started
    system.wait_idle()
    return {"single_per_second": single_rate, "batch_seconds": batch_seconds}


def naive(stub: RunningStub, args: argparse.Namespace) -> Figures:
    """One event at a time: look the event up in Graph, then write it. No mapping, no batching, no parallelism."""
    stub.reset()
    stream = workloads.new_tasks("naive", workloads.mailboxes("naive", args.wide_mailboxes), args.wide_tasks)
    events = stream.events[:args.naive_events]
    where: dict[str, str] = {}  # subject -> mailbox, as a naive client would remember
    token = stub.access_token()
    started = time.monotonic()
    with httpx.Client(base_url=stub.graph_endpoint, verify=str(stub.ca_path), timeout=60,
                      headers={"Authorization": f"Bearer {token}"}) as graph:
        for raw in events:
            event = check_event(raw, 0, ZONE)
            assert not isinstance(event, list)
            key = event.key.value
            desired = desired_state(event, ZONE)
            mailbox = where.get(event.subject) or (desired.mailbox if desired else None)
            if mailbox is None:
                continue
            literal = key.replace("'", "''")
            lookup = (f"singleValueExtendedProperties/Any(ep: ep/id eq '{SOURCE_KEY_PROPERTY}'"
                      f" and ep/value eq '{literal}')")
            found = _naive_call(graph, "GET", f"/users/{mailbox}/events",
                                params={"$filter": lookup, "$select": "id"}).json()["value"]
            if found and (desired is None or desired.mailbox != mailbox):
                _naive_call(graph, "DELETE", f"/users/{mailbox}/events/{found[0]['id']}")
                found = []
            if desired is not None:
                body = {**desired.content, "singleValueExtendedProperties": [{"id": SOURCE_KEY_PROPERTY, "value": key}]}
                if found:
                    _naive_call(graph, "PATCH", f"/users/{desired.mailbox}/events/{found[0]['id']}", json=body)
                else:
                    _naive_call(graph, "POST", f"/users/{desired.mailbox}/events", json=body)
                where[event.subject] = desired.mailbox
            else:
                where.pop(event.subject, None)
    return {"events_per_second": len(events) / (time.monotonic() - started)}


def _naive_call(graph: httpx.Client, method: str, url: str, **kwargs: Any) -> httpx.Response:
    while True:
        response = graph.request(method, url, **kwargs)
        if response.status_code == 429:
            time.sleep(float(response.headers.get("retry-after", "1")))
            continue
        return response.raise_for_status()


RUNS: dict[str, Callable[[System, RunningStub, argparse.Namespace], Figures]] = {
    "hot": hot, "wide": wide, "steady": steady, "storm": storm, "ingest": ingest}


# -- the run -----------------------------------------------------------------------------------------------

def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"machine": machine(), "limits": {"latency_ms": args.latency_ms, "budget": args.budget,
                                                               "window": args.window}}
    with tempfile.TemporaryDirectory() as state:
        stub = start_stub(Path(state) / "stub", Limits(args.latency_ms, 4, args.budget, args.window))
        try:
            for name in args.systems:
                system: System = Minimal(stub) if name == "minimal" else Connector(stub, Path(state) / "stack",
                                                                                     profile=args.profile_host)
                try:
                    figures: dict[str, Any] = {}
                    for workload in args.workloads:
                        if workload in RUNS:
                            print(f"{name}: {workload} ...", flush=True)
                            began = time.monotonic()
                            figures[workload] = RUNS[workload](system, stub, args)
                            print(f"{name}: {workload} {json.dumps(figures[workload])} "
                                  f"({time.monotonic() - began:.0f} s)", flush=True)
                    if "memory" in args.workloads:
                        figures["memory"] = {label: peak_rss_mb(pid) for label, pid in system.processes().items()}
                    unsupported = stub.stats()["unsupported"]
                    if unsupported:
                        print(f"{name}: the stand-in does not serve {sorted(set(unsupported))}", flush=True)
                    results[name] = figures
                finally:
                    system.stop()
            if "wide" in args.workloads and args.naive_events > 0:
                print("naive: wide ...", flush=True)
                results["naive"] = {"wide": naive(stub, args)}
        finally:
            stub.stop()
    return results


def machine() -> dict[str, Any]:
    load = os.getloadavg()
    return {"cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "load_average": [round(x, 1) for x in load]}


def table(results: dict[str, Any], args: argparse.Namespace) -> str:
    def cell(system: str, workload: str, fmt: Callable[[dict[str, Any]], str]) -> str:
        figures = results.get(system, {}).get(workload)
        return fmt(figures) if figures else "–"

    def ratio(system: str) -> str:
        mine, base = results.get(system, {}).get("wide"), results.get("naive", {}).get("wide")
        return f"{mine['events_per_second'] / base['events_per_second']:.1f}×" if mine and base else "–"

    m = results["machine"]
    rows = [
        (f"hot: 1 mailbox, {args.hot_tasks} new tasks: share of the request budget used (429s)", "hot",
         lambda f: f"{f['share']:.2f} ({f['throttled']} throttled)", None),
        (f"wide: {args.wide_mailboxes} mailboxes × {args.wide_tasks} tasks, burst: events/s", "wide",
         lambda f: f"{f['events_per_second']:.1f}", lambda f: f"{f['events_per_second']:.1f}"),
        ("wide: ratio to the naive client", None, None, None),
        ("wide: accept → calendar write p50 / p99", "wide", lambda f: f"{f['p50']:.1f} s / {f['p99']:.1f} s", None),
        (f"steady: {args.steady_rate:g} events/s for {args.steady_seconds:g} s: accept → write p50 / p99", "steady",
         lambda f: f"{f['p50']:.2f} s / {f['p99']:.2f} s", None),
        (f"storm: {args.storm_tasks} tasks × {args.storm_revisions} revisions: Graph requests per task", "storm",
         lambda f: f"{f['requests_per_task']:.1f}", None),
        (f"ingest: single-event POSTs from {args.ingest_clients} keep-alive clients: accepted/s", "ingest",
         lambda f: f"{f['single_per_second']:.0f}", None),
        (f"ingest: one {args.ingest_batch}-event batch: seconds to 202", "ingest",
         lambda f: f"{f['batch_seconds']:.3f}", None),
    ]
    lines = [f"Machine: {m['cores']} cores, Python {m['python']}, {m['platform']}; {m['date']}; "
             f"load average at the end {m['load_average']}",
             f"Graph stand-in: {args.latency_ms:g} ms per answer, 4 concurrent requests per mailbox, "
             f"{args.budget} requests per {args.window:g} s per mailbox", "",
             "| workload | minimal in-memory | connector | naive |", "|---|---|---|---|"]
    for label, workload, fmt, naive_fmt in rows:
        if workload is None:
            lines.append(f"| {label} | {ratio('minimal')} | {ratio('connector')} | 1× |")
            continue
        assert fmt is not None
        naive_cell = cell("naive", workload, naive_fmt) if naive_fmt else ""
        lines.append(f"| {label} | {cell('minimal', workload, fmt)} | {cell('connector', workload, fmt)} | "
                     f"{naive_cell} |")
    for system in ("minimal", "connector"):
        memory = results.get(system, {}).get("memory")
        if memory:
            parts = ", ".join(f"{label} {mb:.0f} MB" for label, mb in memory.items())
            lines.append(f"| peak RSS, {system} | {parts} | | |" if system == "minimal" else
                         f"| peak RSS, {system} | | {parts} | |")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workloads", nargs="+", choices=WORKLOADS, default=list(WORKLOADS))
    p.add_argument("--systems", nargs="+", choices=SYSTEMS, default=list(SYSTEMS))
    p.add_argument("--latency-ms", type=float, default=100.0, help="the stand-in's time per answer")
    p.add_argument("--budget", type=int, default=100, help="requests per mailbox per window")
    p.add_argument("--window", type=float, default=10.0, help="the budget's window, seconds")
    p.add_argument("--hot-tasks", type=int, default=300)
    p.add_argument("--wide-mailboxes", type=int, default=100)
    p.add_argument("--wide-tasks", type=int, default=5, help="tasks per mailbox")
    p.add_argument("--naive-events", type=int, default=50,
                   help="events the naive client writes (its rate is steady; 0 skips it)")
    p.add_argument("--steady-rate", type=float, default=20.0)
    p.add_argument("--steady-seconds", type=float, default=15.0)
    p.add_argument("--steady-mailboxes", type=int, default=20)
    p.add_argument("--storm-tasks", type=int, default=50)
    p.add_argument("--storm-revisions", type=int, default=10, help="planned once, then rescheduled the rest")
    p.add_argument("--storm-mailboxes", type=int, default=10)
    p.add_argument("--ingest-clients", type=int, default=8)
    p.add_argument("--ingest-events", type=int, default=400, help="single-event POSTs in all")
    p.add_argument("--ingest-batch", type=int, default=500)
    p.add_argument("--profile-host", type=Path, help="cProfile the function host's main thread into this file")
    p.add_argument("--json", type=Path, help="also write the figures here")
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    results = run(args)
    print()
    print(table(results, args))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
