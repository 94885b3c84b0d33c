"""The one composition root: builds the adapters from settings and hands each use case its ports.

``current_container()`` gives the worker's container, built from the app settings on first use, once per
event loop; the triggers reach it through ``entrypoints/_deps.py``, which tests replace. Tests build a
``Container`` with fakes for any port. The adapters are ``Lazy`` (``lazy.py``), built by ``adapters.py``
on first use, so a trigger builds only what its use case needs, and no heavy SDK is imported before.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading

from shared.bootstrap.adapters import OrganizerStores, RoomStores
from shared.bootstrap.container import Container, utcnow
from shared.config import Settings
from shared.errors import ConfigurationError

__all__ = ["Container", "OrganizerStores", "RoomStores", "current_container", "utcnow"]

logger = logging.getLogger(__name__)

_by_loop: dict[asyncio.AbstractEventLoop, Container] = {}


async def current_container() -> Container:
    """The worker's container, built from the app settings on first use, once per event loop
    (the SDKs' connections belong to the loop that opened them)."""
    loop = asyncio.get_running_loop()
    container = _by_loop.get(loop)
    if container is None:
        # The SDKs log every HTTP request at INFO: noise that would also be billed as telemetry.
        logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)
        logging.getLogger("azure.identity").setLevel(logging.WARNING)
        try:
            settings = Settings.from_env(os.environ)
            _configure_telemetry(settings)
            container = Container(settings)
        except ConfigurationError as exc:
            logger.critical("configuration error: %s", exc)
            raise
        _by_loop[loop] = container
    return container


def _configure_telemetry(settings: Settings) -> None:
    """The exporters, once per process, on the first container (not at import: ``function_app`` stays light).
    Azure Monitor's setup takes about half a second (imports), which the first request (a cold start) does not
    wait for: it runs on a thread of its own, and spans and metrics begin once it is done (the API's proxies
    then forward to the providers). The local exporters are set up at once, so the first request is traced.
    Telemetry that cannot be set up is logged and left off; the connector works without it."""
    if settings.telemetry.connection_string:
        threading.Thread(target=_configure_exporters, args=(settings,), name="telemetry-setup", daemon=True).start()
    elif settings.telemetry.exporter:
        _configure_exporters(settings)


def _configure_exporters(settings: Settings) -> None:
    from shared.adapters.telemetry import configure_exporters

    try:
        configure_exporters(settings)
    except ConfigurationError as exc:
        logger.error("telemetry not exported: %s", exc)
    except Exception as exc:  # an exporter's own failure; its message might quote the connection string
        logger.error("telemetry not exported: %s while configuring the exporter", type(exc).__name__)
