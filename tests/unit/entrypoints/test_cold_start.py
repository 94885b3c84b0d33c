"""The HTTP ingest and the Graph webhook build only what they use: no Graph SDK or identity library is
imported on their path, which keeps a cold start small."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROBE = r"""
import sys
queue_path = sys.argv[1]
from shared.bootstrap import Container
from shared.config import QueueConnection, Settings

container = Container(Settings(synchronize=True, tenant_id="t", client_id="c", client_secret="s",
                               queue=QueueConnection(local_path=queue_path)))
container.ingest(), container.intake()
import function_app
heavy = ("msgraph", "kiota_http", "azure.identity", "azure.keyvault")
print(sorted({name for name in sys.modules if name.startswith(heavy)}))
"""


def test_ingest_and_the_webhook_import_no_graph_sdk(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "queue.sqlite3")], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
