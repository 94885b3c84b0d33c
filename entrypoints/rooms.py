"""Room triggers: the Graph webhooks and the Event Grid trigger, the notification and outbound-delivery workers,
the two timers, the operator API under manage/rooms and the booking system's pull API. Thin: decode → one call →
encode."""

from __future__ import annotations

import logging

import azure.functions as func

from entrypoints._bindings import delivery, event_type_and_data, note_past_due
from entrypoints._bindings import to_http_response as _http
from entrypoints._deps import container
from entrypoints._operator import manage_route
from shared.app.messaging import GRAPH_QUEUE, OUTBOUND_QUEUE
from shared.app.rooms import intake, publisher, registration, upkeep, worker

bp = func.Blueprint()
logger = logging.getLogger(__name__)


@bp.function_name("graph_notifications")
@bp.route(route="graph/notifications", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def graph_notifications(req: func.HttpRequest) -> func.HttpResponse:
    return _http(await intake.receive_notifications(req.get_body(), req.params.get("validationToken"),
                                                    (await container()).intake(), lifecycle=False))


@bp.function_name("graph_lifecycle")
@bp.route(route="graph/lifecycle", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def graph_lifecycle(req: func.HttpRequest) -> func.HttpResponse:
    return _http(await intake.receive_notifications(req.get_body(), req.params.get("validationToken"),
                                                    (await container()).intake(), lifecycle=True))


@bp.function_name("graph_notification_worker")
@bp.service_bus_queue_trigger(arg_name="msg", queue_name=GRAPH_QUEUE, connection="ServiceBusConnection",
                              is_sessions_enabled=True)
async def graph_notification_worker(msg: func.ServiceBusMessage) -> None:
    outcome = await worker.run_work(msg.get_body(), delivery(msg), (await container()).worker())
    logger.info("%s message %s: %s", GRAPH_QUEUE, msg.message_id, outcome)


@bp.function_name("outbound_delivery")
@bp.service_bus_queue_trigger(arg_name="msg", queue_name=OUTBOUND_QUEUE, connection="ServiceBusConnection",
                              is_sessions_enabled=True)
async def outbound_delivery(msg: func.ServiceBusMessage) -> None:
    outcome = await publisher.deliver(msg.get_body(), delivery(msg), (await container()).publisher())
    logger.debug("%s message %s: %s", OUTBOUND_QUEUE, msg.message_id, outcome)


@bp.function_name("subscription_renewal")
@bp.timer_trigger(arg_name="timer", schedule="%CONNECTOR_SUBSCRIPTION_RENEWAL_SCHEDULE%", use_monitor=True)
async def subscription_renewal(timer: func.TimerRequest) -> None:
    note_past_due(timer, "subscription renewal", logger)
    await upkeep.renew_subscriptions((await container()).upkeep())


@bp.function_name("users_directory")
@bp.timer_trigger(arg_name="timer", schedule="%CONNECTOR_USERS_DIRECTORY_SCHEDULE%", use_monitor=True)
async def users_directory(timer: func.TimerRequest) -> None:
    note_past_due(timer, "users directory", logger)
    await upkeep.sync_every_directory((await container()).upkeep())


@bp.function_name("manage_rooms")
@manage_route(bp, "manage/rooms", ["GET"])
async def manage_rooms(req: func.HttpRequest) -> func.HttpResponse:
    return _http(await registration.list_rooms((await container()).registration()))


@bp.function_name("manage_rooms_available")
@manage_route(bp, "manage/rooms/available", ["GET"])
async def manage_rooms_available(req: func.HttpRequest) -> func.HttpResponse:
    return _http(await registration.available_rooms((await container()).registration()))


@bp.function_name("manage_room")
@manage_route(bp, "manage/rooms/{email}", ["PUT", "DELETE"])
async def manage_room(req: func.HttpRequest) -> func.HttpResponse:
    email, deps, tenant = req.route_params["email"], (await container()).registration(), req.params.get("tenant")
    if req.method == "DELETE":
        return _http(await registration.delete_room(email, deps, tenant))
    return _http(await registration.put_room(email, req.get_body(), deps, tenant))


@bp.function_name("manage_room_backfill")
@manage_route(bp, "manage/rooms/{email}/backfill", ["POST"])
async def manage_room_backfill(req: func.HttpRequest) -> func.HttpResponse:
    return _http(await registration.start_backfill(req.route_params["email"], req.params.get("from"),
                                                   (await container()).registration(), req.params.get("tenant")))


@bp.function_name("reservations_feed")
@bp.route(route="reservations", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def reservations_feed(req: func.HttpRequest) -> func.HttpResponse:
    return _http(await publisher.pull_of(req.params.get("tenant"), req.params.get("since") or None,
                                         (await container()).publisher()))


@bp.function_name("graph_event_grid")
@bp.event_grid_trigger(arg_name="event")
async def graph_event_grid(event: func.CloudEvent) -> None:
    """Graph's notifications through Event Grid (CONNECTOR_GRAPH_NOTIFICATION_DELIVERY=eventGrid); an exception
    fails the invocation and Event Grid redelivers."""
    event_type, data = event_type_and_data(event)
    accepted = await intake.receive_cloud_event(event_type, data, (await container()).intake())
    logger.info("Event Grid event %s (%s): %d queued", event.id, event_type, accepted)
