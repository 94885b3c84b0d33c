"""Ingest through the local stack: single-event POSTs from keep-alive clients (accepted/s) and one large batch
(seconds to 202), then the peak memory of each process of the stack. Prints figures; asserts nothing.

    .venv/bin/python -m benchmarks.ingest_profile --clients 8 --seconds 10 --batch 500
    .venv/bin/python -m benchmarks.ingest_profile --py-spy profile.txt   # samples the host while it runs

The worker keeps draining the queue meanwhile, as it would on Azure; ``--no-worker`` disables it
(``AzureWebJobs.planning_sync.Disabled``), so the figures show the HTTP path alone.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from local.stack import LocalStack

SOURCE = "https://planning.example.com/ingest-bench"
MAILBOXES = [f"bench{i:03d}@contoso.com" for i in range(20)]


def task_event(n: int) -> dict[str, Any]:
    hour = 6 + n % 12
    return {"specversion": "1.0", "id": str(uuid.uuid4()), "source": SOURCE, "type": "task.planned",
            "subject": f"task/{n}", "time": "2026-05-01T06:00:00+00:00", "sequence": "1",
            "data": {"resource": {"email": MAILBOXES[n % len(MAILBOXES)]}, "start": f"2026-05-04T{hour:02d}:00:00",
                     "end": f"2026-05-04T{hour:02d}:45:00", "timeZone": "Europe/Berlin", "title": f"Job {n}",
                     "taskType": "Maintenance", "customer": {"name": "Customer", "phone": "+49 30 1234",
                                                             "address": {"street": "Main 1", "city": "Berlin"}}}}


async def single_posts(base_url: str, key: str, clients: int, seconds: float) -> tuple[int, float, list[float]]:
    """Each client POSTs one event at a time over its own keep-alive connection until ``seconds`` pass."""
    counter = iter(range(10**9))
    deadline = time.monotonic() + seconds
    latencies: list[float] = []
    headers = {"x-functions-key": key, "content-type": "application/cloudevents+json"}

    async def client() -> int:
        done = 0
        async with httpx.AsyncClient(base_url=base_url, timeout=30, headers=headers) as http:
            while time.monotonic() < deadline:
                started = time.monotonic()
                response = await http.post("/api/planning/events", json=task_event(next(counter)))
                latencies.append(time.monotonic() - started)
                if response.status_code != 202:
                    raise RuntimeError(f"{response.status_code}: {response.text[:200]}")
                done += 1
        return done

    started = time.monotonic()
    accepted = sum(await asyncio.gather(*(client() for _ in range(clients))))
    return accepted, time.monotonic() - started, latencies


def run_single_posts(base_url: str, key: str, clients: int, seconds: float) -> tuple[int, float, list[float]]:
    return asyncio.run(single_posts(base_url, key, clients, seconds))


def batch_post(base_url: str, key: str, size: int, repeats: int) -> list[float]:
    """Seconds from sending a ``size``-event batch to its 202, over a warm keep-alive connection."""
    headers = {"x-functions-key": key, "content-type": "application/cloudevents-batch+json"}
    timings = []
    with httpx.Client(base_url=base_url, timeout=60, headers=headers) as http:
        http.post("/api/planning/events", json=[task_event(i) for i in range(2)])  # warm: connection, imports
        for r in range(repeats):
            body = [task_event(100_000 * (r + 1) + i) for i in range(size)]
            started = time.monotonic()
            response = http.post("/api/planning/events", json=body)
            timings.append(time.monotonic() - started)
            if response.status_code != 202:
                raise RuntimeError(f"{response.status_code}: {response.text[:200]}")
    return timings


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ingest_profile", description=__doc__)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workload", choices=("single", "batch", "both"), default="both")
    parser.add_argument("--no-worker", action="store_true", help="hold the queue: measure the HTTP path alone")
    parser.add_argument("--py-spy", metavar="FILE", help="sample the host with py-spy while the workloads run")
    args = parser.parse_args(argv)
    settings = {"AzureWebJobs.planning_sync.Disabled": "true"} if args.no_worker else {}
    with tempfile.TemporaryDirectory() as state, \
            LocalStack(state_dir=Path(state), port=0, users={m: m for m in MAILBOXES}, settings=settings) as stack:
        assert stack.host is not None and stack.host.proc is not None and stack.azurite is not None
        host_pid, key = stack.host.proc.pid, stack.host.function_key
        spy = None
        if args.py_spy:
            # --gil: only the thread holding the GIL, so waits in threads and selectors do not count as work.
            command = [shutil.which("py-spy") or ".venv/bin/py-spy", "record", "--pid", str(host_pid), "--format",
                       "raw", "--output", args.py_spy, "--rate", "200", "--nonblocking", "--gil"]
            spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)
        if args.workload in ("single", "both"):
            # The clients run in a process of their own: in this one they would compete with the thread that
            # reads the host's log (and with the simulators), and a host whose log pipe is full waits.
            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as clients:
                accepted, elapsed, latencies = clients.submit(
                    run_single_posts, stack.base_url, key, args.clients, args.seconds).result()
            latencies.sort()
            print(f"single-event POSTs, {args.clients} keep-alive clients, {elapsed:.1f} s: "
                  f"{accepted / elapsed:.0f} accepted/s (p50 {1000 * statistics.median(latencies):.1f} ms, "
                  f"p99 {1000 * latencies[int(0.99 * (len(latencies) - 1))]:.1f} ms)")
        if args.workload in ("batch", "both"):
            timings = batch_post(stack.base_url, key, args.batch, args.repeats)
            print(f"one {args.batch}-event batch: {statistics.median(timings):.3f} s to 202 (median of "
                  f"{args.repeats}; min {min(timings):.3f}, max {max(timings):.3f})")
        if spy is not None:
            spy.send_signal(2)
            spy.wait(30)
        processes = {"function host": host_pid, "Azurite": stack.azurite.process.pid,
                     "launcher (Graph and Key Vault simulators, booking receiver)": os.getpid()}
        for name, pid in processes.items():
            print(f"peak RSS {name}: {peak_rss_mb(pid):.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
