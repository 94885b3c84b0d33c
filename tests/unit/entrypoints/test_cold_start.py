"""The HTTP ingest and the Graph webhook build only what they use: no Graph SDK or identity library is
imported on their path, which keeps a cold start small. Accepting a valid event imports neither the Service Bus SDK
(the local queue measures a message with it only near the size limit) nor jsonschema (it only names the violations
of an invalid event), and importing the app loads no PyJWT, cryptography or telemetry exporter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROBE = r"""
import asyncio, json, sys
queue_path = sys.argv[1]
import function_app
at_import = ("jwt", "cryptography", "opentelemetry.exporter", "azure.monitor", "azure.servicebus", "jsonschema")
print(sorted({name for name in sys.modules if name.startswith(at_import)}))
from shared.app.planning.ingest import ingest_planning_events
from shared.bootstrap import Container
from shared.config import QueueConnection, Settings
from tests.fakes.tenants import InMemoryTenantStore  # the registry (a table read every 30 s) stays out of this

container = Container(Settings(synchronize=True, tenant_id="t", client_id="c", client_secret="s",
                               queue=QueueConnection(local_path=queue_path)), tenant_store=InMemoryTenantStore())
event = {"specversion": "1.0", "id": "e1", "source": "https://p.example/x", "type": "task.planned",
         "subject": "task/1", "time": "2026-05-01T06:00:00+00:00",
         "data": {"resource": {"email": "a@contoso.com"}, "start": "2026-05-04T08:00:00",
                  "end": "2026-05-04T09:00:00", "title": "Job"}}

async def accept() -> None:
    reply = await ingest_planning_events(json.dumps(event).encode(), "application/cloudevents+json",
                                         container.ingest())
    assert reply.status == 202, reply.body
    await container.close()

asyncio.run(accept())
container.intake()
heavy = ("msgraph", "kiota_http", "azure.identity", "azure.keyvault", "azure.servicebus", "jsonschema.", "jwt")
print(sorted({name for name in sys.modules if name.startswith(heavy) or name == "jsonschema"}))
"""


def test_ingest_and_the_webhook_import_no_graph_sdk(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "queue.sqlite3")], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines() == ["[]", "[]"]
