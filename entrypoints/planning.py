"""Planning triggers: the ingest endpoint and the sync worker. Thin: decode → one call → encode."""

from __future__ import annotations

import logging

import azure.functions as func

from entrypoints._bindings import delivery
from entrypoints._bindings import to_http_response as _http
from entrypoints._deps import container
from shared.app.messaging import PLANNING_QUEUE
from shared.app.people import appointments
from shared.app.planning import drift, ingest, sync

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
    received, deps = delivery(msg), await container()
    if drift.is_scan(received):  # a drift run's job for one mailbox of a tenant (session drift~{mailbox})
        outcome = await drift.scan_mailbox_message(msg.get_body(), received, deps.drift())
    elif appointments.is_appointment(received):  # appointment.* and its join-link read-backs (people)
        outcome = await appointments.sync_appointment_message(msg.get_body(), received, deps.appointments())
    else:
        outcome = await sync.sync_planning_message(msg.get_body(), received, deps.sync())
    logger.debug("%s message %s: %s", PLANNING_QUEUE, msg.message_id, outcome)
