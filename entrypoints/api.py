"""The HTTP API's own documents (OpenAPI, the planning event schema), liveness and the catch-all route."""

from __future__ import annotations

import json
from importlib import resources

import azure.functions as func

from entrypoints._bindings import to_http_response as _http
from shared.app.operator.status import health_reply
from shared.app.unrouted import unrouted
from shared.schemas import openapi_document

bp = func.Blueprint()


@bp.function_name("openapi")
@bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def openapi(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(openapi_document(), ensure_ascii=False), mimetype="application/json")


@bp.function_name("planning_event_schema")
@bp.route(route="planning-event.schema.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def planning_event_schema(req: func.HttpRequest) -> func.HttpResponse:
    document = resources.files("shared.schemas").joinpath("planning-event.schema.json").read_bytes()
    return func.HttpResponse(document, mimetype="application/schema+json")


@bp.function_name("health")
@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    """Liveness: answers without touching any dependency (GET /api/manage/status has them)."""
    return _http(health_reply())


@bp.function_name("unrouted")
@bp.route(route="{*path}", auth_level=func.AuthLevel.ANONYMOUS)
def unrouted_request(req: func.HttpRequest) -> func.HttpResponse:
    """Every method, every path: routing tries it only after every other route, so it answers what none takes."""
    return _http(unrouted(req.method, req.route_params.get("path", "")))
