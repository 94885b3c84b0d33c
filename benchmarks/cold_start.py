"""Cold start: ``import function_app`` (time, peak RSS, modules) and then the first ingest of one event through the
composition root (time, peak RSS), each in a fresh interpreter, the median of several runs. Prints figures.

    .venv/bin/python -m benchmarks.cold_start --runs 7
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

PROBE = r"""
import asyncio, json, resource, sys, time
started = time.perf_counter()
import function_app
imported = time.perf_counter() - started
import_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
modules = len(sys.modules)
from entrypoints._deps import container
from shared.app.planning.ingest import ingest_planning_events
event = {"specversion": "1.0", "id": "e1", "source": "https://p.example/x", "type": "task.planned",
         "subject": "task/1", "time": "2026-05-01T06:00:00+00:00",
         "data": {"resource": {"email": "a@contoso.com"}, "start": "2026-05-04T08:00:00",
                  "end": "2026-05-04T09:00:00", "title": "Job"}}
async def first_ingest():
    deps = (await container()).ingest()
    reply = await ingest_planning_events(json.dumps(event).encode(), "application/cloudevents+json", deps)
    assert reply.status == 202, reply.body
started = time.perf_counter()
asyncio.run(first_ingest())
print(json.dumps({"import_s": imported, "import_rss_mb": import_rss, "modules": modules,
                  "first_ingest_s": time.perf_counter() - started,
                  "ingest_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "modules_after_ingest": len(sys.modules)}))
"""
HEAVY = ("msgraph", "kiota", "azure.identity", "azure.keyvault", "azure.servicebus", "jsonschema.",
         "opentelemetry.exporter", "azure.monitor")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cold_start", description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--app-dir", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args(argv)
    runs = []
    with tempfile.TemporaryDirectory() as state:
        env = {"PATH": "/usr/bin:/bin", "CALENDAR_MSGRAPH_SYNCHRONIZE": "true", "CALENDAR_MSGRAPH_TENANT_GUID": "t",
               "CALENDAR_MSGRAPH_CLIENT_ID": "c", "CALENDAR_MSGRAPH_CLIENT_SECRET": "s",
               "CONNECTOR_LOCAL_QUEUE_PATH": str(Path(state) / "queue.sqlite3"),
               "AzureWebJobsStorage": "UseDevelopmentStorage=true"}  # not reached: ingest writes no table
        for _ in range(args.runs):
            done = subprocess.run([sys.executable, "-c", PROBE], cwd=args.app_dir, env=env, capture_output=True,
                                  text=True, timeout=120, check=False)
            if done.returncode != 0:
                print(done.stderr, file=sys.stderr)
                return 1
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    for key in runs[0]:
        print(f"{key}: {statistics.median(r[key] for r in runs):.3f} (median of {len(runs)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
