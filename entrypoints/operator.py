"""Operator triggers: per-resource opt-out, the dead-letter list with replay, and the doctor.
Thin: decode → one call → encode."""

from __future__ import annotations

import azure.functions as func

from entrypoints._bindings import to_http_response as _http
from entrypoints._deps import container
from entrypoints._operator import manage_route
from shared.app.operator import deadletters as manage
from shared.app.operator import doctor

bp = func.Blueprint()


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
    return _http(await manage.list_dead_letters((await container()).operator()))


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
    return _http(await doctor.doctor_reply((await container()).doctor(), mailbox=req.params.get("mailbox")))
