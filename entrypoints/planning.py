"""Planning triggers: the ingest endpoint and the sync worker. Thin: decode → one call → encode."""

from __future__ import annotations

import logging

import azure.functions as func

from entrypoints._bindings import delivery
from entrypoints._bindings import to_http_response as _http
from entrypoints._deps import container
from shared.app.messaging import PLANNING_QUEUE
from shared.app.planning import ingest, sync

bp = func.Blueprint()
logger = logging.getLogger(__name__)


@bp.function_name("planning_events")
@bp.route(route="planning/events", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
async def planning_events(req: func.HttpRequest) -> func.HttpResponse:
    deps = (await container()).ingest()
    return _http(await ingest.ingest_planning_events(req.get_body(), req.headers.get("content-type"), deps))


@bp.function_name("planning_sync")
@bp.service_bus_queue_trigger(arg_name="msg", queue_name=PLANNING_QUEUE, connection="ServiceBusConnection",
                              is_sessions_enabled=True)
async def planning_sync(msg: func.ServiceBusMessage) -> None:
    outcome = await sync.sync_planning_message(msg.get_body(), delivery(msg), (await container()).sync())
    logger.debug("%s message %s: %s", PLANNING_QUEUE, msg.message_id, outcome)
