"""Room triggers: the Graph webhooks, the notification and outbound-delivery workers, the two timers,
the operator API under manage/rooms and the booking system's pull API. Thin: decode → one call → encode."""

from __future__ import annotations

import logging

import azure.functions as func

from entrypoints._http import to_http_response as _http
from shared.app.planning.sync import Delivery
from shared.app.rooms import intake, publisher, registration, worker
from shared.app.rooms import upkeep as timers
from shared.bootstrap import current_services

bp = func.Blueprint()
logger = logging.getLogger(__name__)


def _delivery(msg: func.ServiceBusMessage) -> Delivery:
    return Delivery(message_id=msg.message_id, delivery_count=msg.delivery_count or 1, session_id=msg.session_id,
                    application_properties=msg.application_properties or {})


@bp.function_name("graph_notifications")
@bp.route(route="graph/notifications", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def graph_notifications(req: func.HttpRequest) -> func.HttpResponse:
    reply = await intake.receive_notifications(req.get_body(), req.params.get("validationToken"),
                                               await current_services(), lifecycle=False)
    return _http(reply)


@bp.function_name("graph_lifecycle")
@bp.route(route="graph/lifecycle", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def graph_lifecycle(req: func.HttpRequest) -> func.HttpResponse:
    reply = await intake.receive_notifications(req.get_body(), req.params.get("validationToken"),
                                               await current_services(), lifecycle=True)
    return _http(reply)


@bp.function_name("graph_notification_worker")
@bp.service_bus_queue_trigger(arg_name="msg", queue_name="graph-notifications", connection="ServiceBusConnection",
                              is_sessions_enabled=True)
async def graph_notification_worker(msg: func.ServiceBusMessage) -> None:
    outcome = await worker.run_work(msg.get_body(), _delivery(msg), await current_services())
    logger.info("graph-notifications message %s: %s", msg.message_id, outcome)


@bp.function_name("outbound_delivery")
@bp.service_bus_queue_trigger(arg_name="msg", queue_name="outbound-events", connection="ServiceBusConnection",
                              is_sessions_enabled=True)
async def outbound_delivery(msg: func.ServiceBusMessage) -> None:
    await publisher.deliver(msg.get_body(), _delivery(msg), await current_services())


@bp.function_name("subscription_renewal")
@bp.timer_trigger(arg_name="timer", schedule="%CONNECTOR_SUBSCRIPTION_RENEWAL_SCHEDULE%", use_monitor=True)
async def subscription_renewal(timer: func.TimerRequest) -> None:
    if timer.past_due:
        logger.info("subscription renewal timer is past due")
    await timers.renew_subscriptions(await current_services())


@bp.function_name("users_directory")
@bp.timer_trigger(arg_name="timer", schedule="%CONNECTOR_USERS_DIRECTORY_SCHEDULE%", use_monitor=True)
async def users_directory(timer: func.TimerRequest) -> None:
    if timer.past_due:
        logger.info("users directory timer is past due")
    await timers.sync_users_directory(await current_services())


@bp.function_name("manage_rooms")
@bp.route(route="manage/rooms", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
async def manage_rooms(req: func.HttpRequest) -> func.HttpResponse:
    return _http(await registration.list_rooms(await current_services()))


@bp.function_name("manage_rooms_available")
@bp.route(route="manage/rooms/available", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
async def manage_rooms_available(req: func.HttpRequest) -> func.HttpResponse:
    return _http(await registration.available_rooms(await current_services()))


@bp.function_name("manage_room")
@bp.route(route="manage/rooms/{email}", methods=["PUT", "DELETE"], auth_level=func.AuthLevel.ADMIN)
async def manage_room(req: func.HttpRequest) -> func.HttpResponse:
    email = req.route_params["email"]
    services = await current_services()
    if req.method == "DELETE":
        return _http(await registration.delete_room(email, services))
    return _http(await registration.put_room(email, req.get_body(), services))


@bp.function_name("manage_room_backfill")
@bp.route(route="manage/rooms/{email}/backfill", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
async def manage_room_backfill(req: func.HttpRequest) -> func.HttpResponse:
    return _http(await registration.start_backfill(req.route_params["email"], req.params.get("from"),
                                                   await current_services()))


@bp.function_name("reservations_feed")
@bp.route(route="reservations", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def reservations_feed(req: func.HttpRequest) -> func.HttpResponse:
    return _http(await publisher.pull(req.params.get("since") or None, await current_services()))
