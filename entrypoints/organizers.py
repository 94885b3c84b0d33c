"""Watched organizers' operator routes under manage/organizers (their notifications arrive through the rooms'
Graph webhooks and graph-notifications worker). Thin: decode → one call → encode."""

from __future__ import annotations

import azure.functions as func

from entrypoints._bindings import to_http_response as _http
from entrypoints._deps import container
from entrypoints._operator import manage_route
from shared.app.people import organizers

bp = func.Blueprint()


@bp.function_name("manage_organizers")
@manage_route(bp, "manage/organizers", ["GET"])
async def manage_organizers(req: func.HttpRequest) -> func.HttpResponse:
    return _http(await organizers.list_organizers((await container()).organizers()))


@bp.function_name("manage_organizer")
@manage_route(bp, "manage/organizers/{email}", ["PUT", "DELETE"])
async def manage_organizer(req: func.HttpRequest) -> func.HttpResponse:
    email, deps, tenant = req.route_params["email"], (await container()).organizers(), req.params.get("tenant")
    if req.method == "DELETE":
        return _http(await organizers.delete_organizer(email, deps, tenant))
    return _http(await organizers.put_organizer(email, deps, tenant))
