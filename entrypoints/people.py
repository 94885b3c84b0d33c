"""People triggers: connecting a person (start, Entra's callback, a reconnect mail's link), a connection's
status and forgetting it, and the operator's list. Thin: decode → one call → encode."""

from __future__ import annotations

from urllib.parse import parse_qsl

import azure.functions as func

from entrypoints._bindings import to_http_response as _http
from entrypoints._deps import container
from entrypoints._operator import manage_route
from shared.app.people import connect, status

bp = func.Blueprint()


@bp.function_name("connections_start")
@bp.route(route="connections", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
async def connections_start(req: func.HttpRequest) -> func.HttpResponse:
    return _http(await connect.start(req.get_body(), (await container()).people()))


@bp.function_name("connections_callback")
@bp.route(route="connections/callback", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def connections_callback(req: func.HttpRequest) -> func.HttpResponse:
    """Entra posts the code as a form (response_mode=form_post), so it is never in a URL; errors may come as a
    query too."""
    params = dict(req.params)
    if req.method == "POST":
        params.update(parse_qsl(req.get_body().decode("utf-8", "replace"), keep_blank_values=True))
    return _http(await connect.finish(params, (await container()).people()))


@bp.function_name("connections_reconnect")
@bp.route(route="connections/reconnect", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def connections_reconnect(req: func.HttpRequest) -> func.HttpResponse:
    return _http(await connect.reconnect(req.params.get("token", ""), (await container()).people()))


@bp.function_name("connection")
@bp.route(route="connections/{email}", methods=["GET", "DELETE"], auth_level=func.AuthLevel.FUNCTION)
async def connection(req: func.HttpRequest) -> func.HttpResponse:
    email, deps, tenant = req.route_params["email"], (await container()).people(), req.params.get("tenant")
    if req.method == "DELETE":
        return _http(await status.forget(email, deps, tenant))
    return _http(await status.status(email, deps, tenant))


@bp.function_name("manage_connections")
@manage_route(bp, "manage/connections", ["GET"])
async def manage_connections(req: func.HttpRequest) -> func.HttpResponse:
    return _http(await status.list_connections((await container()).people(), req.params.get("tenant")))
