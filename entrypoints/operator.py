"""Operator triggers: per-resource opt-out, the dead-letter list with replay, the doctor, the status, the
mass-deletion breakers and drift repair.
Thin: decode → one call → encode."""

from __future__ import annotations

import logging

import azure.functions as func

from entrypoints._bindings import note_past_due
from entrypoints._bindings import to_http_response as _http
from entrypoints._deps import container
from entrypoints._operator import manage_route
from shared.app.operator import breakers, doctor, drift, status
from shared.app.operator import deadletters as manage

bp = func.Blueprint()
logger = logging.getLogger(__name__)


@bp.function_name("manage_resources")
@manage_route(bp, "manage/resources", ["GET"])
async def manage_resources(req: func.HttpRequest) -> func.HttpResponse:
    return _http(await manage.list_resources((await container()).operator()))


@bp.function_name("manage_resource")
@manage_route(bp, "manage/resources/{email}", ["GET", "PUT"])
async def manage_resource(req: func.HttpRequest) -> func.HttpResponse:
    email, deps = req.route_params["email"], (await container()).operator()
    if req.method == "PUT":
        return _http(await manage.put_resource(email, req.get_body(), deps))
    return _http(await manage.get_resource(email, deps))


@bp.function_name("manage_deadletters")
@manage_route(bp, "manage/deadletters", ["GET"])
async def manage_deadletters(req: func.HttpRequest) -> func.HttpResponse:
    return _http(await manage.list_dead_letters((await container()).operator(), req.params.get("tenant")))


@bp.function_name("manage_deadletter_replay")
@manage_route(bp, "manage/deadletters/{id}/replay", ["POST"])
async def manage_deadletter_replay(req: func.HttpRequest) -> func.HttpResponse:
    return _http(await manage.replay_dead_letter(req.route_params["id"], (await container()).operator()))


@bp.function_name("manage_deadletter")
@manage_route(bp, "manage/deadletters/{id}", ["DELETE"])
async def manage_deadletter(req: func.HttpRequest) -> func.HttpResponse:
    return _http(await manage.discard_dead_letter(req.route_params["id"], (await container()).operator()))


@bp.function_name("manage_doctor")
@manage_route(bp, "manage/doctor", ["GET"])
async def manage_doctor(req: func.HttpRequest) -> func.HttpResponse:
    return _http(await doctor.doctor_reply((await container()).doctor(), mailbox=req.params.get("mailbox"),
                                           tenant=req.params.get("tenant")))


@bp.function_name("manage_status")
@manage_route(bp, "manage/status", ["GET"])
async def manage_status(req: func.HttpRequest) -> func.HttpResponse:
    deps = await container()
    return _http(await status.status_reply(deps.doctor(), deps.breakers(), req.params.get("tenant")))


@bp.function_name("manage_breakers")
@manage_route(bp, "manage/breakers", ["GET"])
async def manage_breakers(req: func.HttpRequest) -> func.HttpResponse:
    return _http(await breakers.list_breakers((await container()).breaker_operator(), req.params.get("tenant")))


@bp.function_name("manage_breaker_release")
@manage_route(bp, "manage/breakers/{source}/release", ["POST"])
async def manage_breaker_release(req: func.HttpRequest) -> func.HttpResponse:
    deps = (await container()).breaker_operator()
    return _http(await breakers.decide_breaker(req.route_params["source"], "release", deps, req.params.get("tenant")))


@bp.function_name("manage_breaker_discard")
@manage_route(bp, "manage/breakers/{source}/discard", ["POST"])
async def manage_breaker_discard(req: func.HttpRequest) -> func.HttpResponse:
    deps = (await container()).breaker_operator()
    return _http(await breakers.decide_breaker(req.route_params["source"], "discard", deps, req.params.get("tenant")))


@bp.function_name("manage_drift_run")
@manage_route(bp, "manage/drift/run", ["POST"])
async def manage_drift_run(req: func.HttpRequest) -> func.HttpResponse:
    return _http(await drift.request_drift_run((await container()).drift_runs(), mailbox=req.params.get("mailbox"),
                                               source=req.params.get("source"), tenant=req.params.get("tenant")))


@bp.function_name("manage_drift")
@manage_route(bp, "manage/drift", ["GET"])
async def manage_drift(req: func.HttpRequest) -> func.HttpResponse:
    return _http(await drift.drift_report((await container()).drift_runs(), req.params.get("tenant")))


@bp.function_name("drift_timer")
@bp.timer_trigger(arg_name="timer", schedule="%CONNECTOR_DRIFT_SCHEDULE%", use_monitor=True)
async def drift_timer(timer: func.TimerRequest) -> None:
    note_past_due(timer, "drift repair", logger)
    await drift.start_drift_runs((await container()).drift_runs(), trigger="timer")
