"""Azure Functions entry points (Python v2 model). Each trigger decodes its input, calls one
application function from ``shared`` and encodes the result; no business logic lives here."""

from __future__ import annotations

import json
from importlib import resources

import azure.functions as func

import entrypoints.credentials
import entrypoints.rooms
from entrypoints._http import to_http_response as _http
from shared.app.operator import deadletters as manage
from shared.app.planning import ingest, sync
from shared.app.unrouted import unrouted
from shared.bootstrap import current_services
from shared.schemas import openapi_document

app = func.FunctionApp()
app.register_functions(entrypoints.rooms.bp)
app.register_functions(entrypoints.credentials.bp)


@app.function_name("planning_events")
@app.route(route="planning/events", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
async def planning_events(req: func.HttpRequest) -> func.HttpResponse:
    services = await current_services()
    return _http(await ingest.ingest_planning_events(req.get_body(), req.headers.get("content-type"), services))


@app.function_name("planning_sync")
@app.service_bus_queue_trigger(arg_name="msg", queue_name="planning-events", connection="ServiceBusConnection",
                               is_sessions_enabled=True)
async def planning_sync(msg: func.ServiceBusMessage) -> None:
    delivery = sync.Delivery(
        message_id=msg.message_id,
        delivery_count=msg.delivery_count or 1,
        session_id=msg.session_id,
        application_properties=msg.application_properties or {},
    )
    await sync.sync_planning_message(msg.get_body(), delivery, await current_services())


@app.function_name("manage_resources")
@app.route(route="manage/resources", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
async def manage_resources(req: func.HttpRequest) -> func.HttpResponse:
    return _http(await manage.list_resources(await current_services()))


@app.function_name("manage_resource")
@app.route(route="manage/resources/{email}", methods=["GET", "PUT"], auth_level=func.AuthLevel.ADMIN)
async def manage_resource(req: func.HttpRequest) -> func.HttpResponse:
    email = req.route_params["email"]
    if req.method == "PUT":
        return _http(await manage.put_resource(email, req.get_body(), await current_services()))
    return _http(await manage.get_resource(email, await current_services()))


@app.function_name("manage_deadletters")
@app.route(route="manage/deadletters", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
async def manage_deadletters(req: func.HttpRequest) -> func.HttpResponse:
    return _http(await manage.list_dead_letters(await current_services()))


@app.function_name("manage_deadletter_replay")
@app.route(route="manage/deadletters/{id}/replay", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
async def manage_deadletter_replay(req: func.HttpRequest) -> func.HttpResponse:
    return _http(await manage.replay_dead_letter(req.route_params["id"], await current_services()))


@app.function_name("manage_deadletter")
@app.route(route="manage/deadletters/{id}", methods=["DELETE"], auth_level=func.AuthLevel.ADMIN)
async def manage_deadletter(req: func.HttpRequest) -> func.HttpResponse:
    return _http(await manage.discard_dead_letter(req.route_params["id"], await current_services()))


@app.function_name("openapi")
@app.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def openapi(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(openapi_document(), ensure_ascii=False), mimetype="application/json")


@app.function_name("planning_event_schema")
@app.route(route="planning-event.schema.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def planning_event_schema(req: func.HttpRequest) -> func.HttpResponse:
    document = resources.files("shared.schemas").joinpath("planning-event.schema.json").read_bytes()
    return func.HttpResponse(document, mimetype="application/schema+json")


@app.function_name("unrouted")
@app.route(route="{*path}", auth_level=func.AuthLevel.ANONYMOUS)
def unrouted_request(req: func.HttpRequest) -> func.HttpResponse:
    """Every method, every path: routing tries it only after every other route, so it answers what none takes."""
    return _http(unrouted(req.method, req.route_params.get("path", "")))
