"""Operator triggers: per-resource opt-out, the dead-letter list with replay, the doctor and drift repair.
Thin: decode → one call → encode."""

from __future__ import annotations

import logging

import azure.functions as func

from entrypoints._bindings import note_past_due
from entrypoints._bindings import to_http_response as _http
from entrypoints._deps import container
from shared.app.operator import deadletters as manage
from shared.app.operator import doctor, drift

bp = func.Blueprint()
logger = logging.getLogger(__name__)


@bp.function_name("manage_resources")
@bp.route(route="manage/resources", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
async def manage_resources(req: func.HttpRequest) -> func.HttpResponse:
    return _http(await manage.list_resources((await container()).operator()))


@bp.function_name("manage_resource")
@bp.route(route="manage/resources/{email}", methods=["GET", "PUT"], auth_level=func.AuthLevel.ADMIN)
async def manage_resource(req: func.HttpRequest) -> func.HttpResponse:
    email, deps = req.route_params["email"], (await container()).operator()
    if req.method == "PUT":
        return _http(await manage.put_resource(email, req.get_body(), deps))
    return _http(await manage.get_resource(email, deps))


@bp.function_name("manage_deadletters")
@bp.route(route="manage/deadletters", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
async def manage_deadletters(req: func.HttpRequest) -> func.HttpResponse:
    return _http(await manage.list_dead_letters((await container()).operator()))


@bp.function_name("manage_deadletter_replay")
@bp.route(route="manage/deadletters/{id}/replay", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
async def manage_deadletter_replay(req: func.HttpRequest) -> func.HttpResponse:
    return _http(await manage.replay_dead_letter(req.route_params["id"], (await container()).operator()))


@bp.function_name("manage_deadletter")
@bp.route(route="manage/deadletters/{id}", methods=["DELETE"], auth_level=func.AuthLevel.ADMIN)
async def manage_deadletter(req: func.HttpRequest) -> func.HttpResponse:
    return _http(await manage.discard_dead_letter(req.route_params["id"], (await container()).operator()))


@bp.function_name("manage_doctor")
@bp.route(route="manage/doctor", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
async def manage_doctor(req: func.HttpRequest) -> func.HttpResponse:
    return _http(await doctor.doctor_reply((await container()).doctor(), mailbox=req.params.get("mailbox")))


@bp.function_name("manage_drift_run")
@bp.route(route="manage/drift/run", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
async def manage_drift_run(req: func.HttpRequest) -> func.HttpResponse:
    return _http(await drift.request_drift_run((await container()).drift_runs(), mailbox=req.params.get("mailbox"),
                                               source=req.params.get("source")))


@bp.function_name("manage_drift")
@bp.route(route="manage/drift", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
async def manage_drift(req: func.HttpRequest) -> func.HttpResponse:
    return _http(await drift.drift_report((await container()).drift_runs()))


@bp.function_name("drift_timer")
@bp.timer_trigger(arg_name="timer", schedule="%CONNECTOR_DRIFT_SCHEDULE%", use_monitor=True)
async def drift_timer(timer: func.TimerRequest) -> None:
    note_past_due(timer, "drift repair", logger)
    await drift.start_drift_run((await container()).drift_runs(), trigger="timer")
