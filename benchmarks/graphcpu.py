"""CPU per Graph request in the connector's own process: calendar writes through ``GraphCalendarGateway`` against
the Graph simulator (local/graphsim, run in a process of its own so its cost is not counted).

    python -m benchmarks.graphcpu [--creates 500] [--mailboxes 25] [--concurrency 8] [--profile FILE] [--top 25]

Prints the process CPU time per create (and per update, find, tagged_events read, delete), the number of modules
imported after the first create and the peak RSS, and with ``--profile`` the top cProfile entries by own time.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from local.processes import stop_process

CONTENT = {"subject": "Boiler service", "body": {"contentType": "html", "content": "<p>Boiler service</p>"},
           "start": {"dateTime": "2026-05-04T08:00:00", "timeZone": "W. Europe Standard Time"},
           "end": {"dateTime": "2026-05-04T09:00:00", "timeZone": "W. Europe Standard Time"},
           "isAllDay": False, "showAs": "busy", "location": {"displayName": "Hall"}, "categories": ["Planning"]}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.graphcpu", description=__doc__.splitlines()[0])
    p.add_argument("--creates", type=int, default=500)
    p.add_argument("--mailboxes", type=int, default=25)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--profile", type=Path, help="write the creates' cProfile statistics here")
    p.add_argument("--top", type=int, default=25, help="cProfile entries to print (by own time)")
    return p.parse_args(argv)


def _start_simulator(state_dir: Path, mailboxes: list[str]) -> tuple[subprocess.Popen[str], str, str, str]:
    seed = state_dir / "seed.json"
    seed.write_text(json.dumps({"users": [{"userPrincipalName": m} for m in mailboxes]}))
    tenant = str(uuid.uuid4())
    process = subprocess.Popen(
        [sys.executable, "-m", "local.graphsim", "--port", "0", "--state-dir", str(state_dir / "sim"),
         "--tenant-id", tenant, "--client-id", "client-1", "--seed", str(seed)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "GRAPHSIM_CLIENT_SECRET": "secret-1"})
    assert process.stdout is not None
    line = process.stdout.readline().split()
    if line[:2] != ["graphsim", "ready"]:
        process.kill()
        raise SystemExit(f"the simulator did not start: {line}")
    return process, line[2], line[3].removeprefix("ca="), tenant


async def _timed(label: str, jobs: list[Callable[[], Awaitable[Any]]], concurrency: int,
                 profile: cProfile.Profile | None = None) -> list[Any]:
    gate = asyncio.Semaphore(concurrency)

    async def one(job: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            return await job()

    cpu, wall = time.process_time(), time.perf_counter()
    if profile is not None:
        profile.enable()
    results = await asyncio.gather(*(one(job) for job in jobs))
    if profile is not None:
        profile.disable()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"{label:<14} {len(jobs):>5} requests  {1000 * cpu / len(jobs):7.2f} ms CPU each  "
          f"({cpu:.2f} s CPU, {wall:.2f} s wall)")
    return results


async def _run(args: argparse.Namespace, base_url: str, ca: str, tenant: str, mailboxes: list[str]) -> None:
    from shared.adapters.graph.calendar import GraphCalendarGateway
    from shared.config import Settings

    settings = Settings(synchronize=True, tenant_id=tenant, client_id="client-1", client_secret="secret-1",
                        graph_endpoint=base_url + "/v1.0", auth_endpoint=base_url, ca_file=ca)
    gateway = GraphCalendarGateway.from_settings(settings)
    try:
        before = len(sys.modules)
        await gateway.create(mailboxes[0], CONTENT, transaction_id="warm-up", source_key="warm-up")
        print(f"modules: {before} before the first create, {len(sys.modules)} after "
              f"({sum(1 for m in sys.modules if m.startswith('msgraph.generated.models'))} msgraph models); "
              f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
        profile = cProfile.Profile() if args.profile else None
        keys = [(mailboxes[i % len(mailboxes)], f"task/{i}") for i in range(args.creates)]
        created = await _timed("create", [
            (lambda m=m, k=k: gateway.create(m, CONTENT, transaction_id=str(uuid.uuid4()), source_key=k))
            for m, k in keys], args.concurrency, profile)
        changed = {**CONTENT, "subject": "Boiler service (moved)"}
        await _timed("update", [(lambda m=m, k=k, e=e: gateway.update(m, e.id, changed, source_key=k))
                                for (m, k), e in zip(keys, created, strict=True)], args.concurrency)
        since = datetime(2026, 1, 1, tzinfo=UTC)
        await _timed("find", [(lambda m=m, k=k: gateway.find(m, k, not_before=since)) for m, k in keys[:100]],
                     args.concurrency)
        start = datetime(2026, 5, 1, tzinfo=UTC)
        await _timed("tagged_events", [(lambda m=m: gateway.tagged_events(m, start=start,
                                                                            end=start + timedelta(days=7)))
                                       for m in mailboxes], args.concurrency)
        await _timed("delete", [(lambda m=m, e=e: gateway.delete(m, e.id))
                                for (m, _), e in zip(keys, created, strict=True)], args.concurrency)
    finally:
        await gateway.close()
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB after every request")
    if profile is not None and args.profile is not None:
        profile.dump_stats(str(args.profile))
        print(f"\ncProfile of the creates, top {args.top} by own time:")
        pstats.Stats(str(args.profile)).sort_stats("tottime").print_stats(args.top)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    mailboxes = [f"user{i}@contoso.com" for i in range(args.mailboxes)]
    with tempfile.TemporaryDirectory() as tmp:
        process, base_url, ca, tenant = _start_simulator(Path(tmp), mailboxes)
        try:
            asyncio.run(_run(args, base_url, ca, tenant, mailboxes))
        finally:
            stop_process(process)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
