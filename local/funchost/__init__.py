"""A local Azure Functions host for the Python v2 model, for machines without Core Tools.

    python -m local.funchost [--app function_app] [--port 7071] [--settings local.settings.json]

Serves HTTP triggers under /api with Azure's key checks, feeds Service Bus queue triggers from
the SQLite queue store (queue_store.py; the app writes into its file with
shared.adapters.local_queue), runs NCRONTAB timers, and serves the
host's admin API. See LocalFunctionHost (in-process) and HostProcess (subprocess).
"""

from __future__ import annotations

from .host import LOCK_SECONDS_ENV, MAX_DELIVERY_COUNT_ENV, QUEUE_PATH_ENV, LocalFunctionHost
from .indexing import BUILT_IN_ROUTE_CONFLICT, IndexingError
from .keys import FUNCTION_KEY_ENV, MASTER_KEY_ENV, HostKeys
from .process import HostProcess, HostStartError
from .settings import load_local_settings

__all__ = [
    "BUILT_IN_ROUTE_CONFLICT",
    "FUNCTION_KEY_ENV",
    "HostKeys",
    "HostProcess",
    "HostStartError",
    "IndexingError",
    "LOCK_SECONDS_ENV",
    "LocalFunctionHost",
    "MASTER_KEY_ENV",
    "MAX_DELIVERY_COUNT_ENV",
    "QUEUE_PATH_ENV",
    "load_local_settings",
]
