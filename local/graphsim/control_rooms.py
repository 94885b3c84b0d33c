"""Control API for rooms (under /_sim, no auth): rooms, "Outlook" edits by a person, subscriptions
(and the lifetime Graph grants them) and notifications, users changing in Entra, delta tokens
expiring. Same meaning as the SimState methods of the same names (see the package docstring).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .errors import GraphError
from .state import SimState

Handler = Callable[[Request], Awaitable[Response]]


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    data = json.loads(raw) if raw else {}
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


def _guard(fn: Handler) -> Handler:
    """Answers bad input with 400 and GraphErrors with their own status, in Graph's error shape."""
    async def run(request: Request) -> Response:
        try:
            return await fn(request)
        except GraphError as err:
            return JSONResponse({"error": {"code": err.code, "message": err.message}},
                                status_code=err.status)
        except (ValueError, KeyError, TypeError) as exc:
            return JSONResponse({"error": {"code": "BadRequest", "message": str(exc)}},
                                status_code=400)
    return run


def build_routes(state: SimState) -> list[Route]:
    async def put_room(request: Request) -> Response:
        body = await _body(request)
        props = {k: v for k, v in body.items() if k not in ("displayName",)}
        email = request.path_params["email"]
        return JSONResponse(state.add_room(email, str(body.get("displayName") or email), **props))

    async def list_rooms(request: Request) -> Response:
        return JSONResponse({"value": state.rooms()})

    async def outlook_create(request: Request) -> Response:
        made = state.outlook_create(request.path_params["mailbox"], await _body(request))
        return JSONResponse(made, status_code=201)

    async def outlook_update(request: Request) -> Response:
        p = request.path_params
        return JSONResponse(state.outlook_update(p["mailbox"], p["id"], await _body(request)))

    async def outlook_delete(request: Request) -> Response:
        state.outlook_delete(request.path_params["mailbox"], request.path_params["id"])
        return Response(status_code=204)

    async def list_subscriptions(request: Request) -> Response:
        return JSONResponse({"value": state.subscriptions()})

    async def lifecycle(request: Request) -> Response:
        event = str((await _body(request)).get("lifecycleEvent") or "")
        item = state.send_lifecycle(request.path_params["sid"], event)
        return JSONResponse(item, status_code=202)

    async def expire(request: Request) -> Response:
        state.expire_subscription(request.path_params["sid"])
        return Response(status_code=204)

    async def put_lifetime(request: Request) -> Response:
        body = await _body(request)
        if "maxMinutes" not in body:
            raise ValueError("maxMinutes is required (null: grant what is asked)")
        return JSONResponse(state.set_subscription_lifetime(body["maxMinutes"]))

    async def put_notifications(request: Request) -> Response:
        body = await _body(request)
        return JSONResponse(state.set_notifications(
            paused=body.get("paused"), discard=bool(body.get("discard", False)),
            retry_delays=body.get("retryDelays"), room_update_echoes=body.get("roomUpdateEchoes")))

    async def get_notifications(request: Request) -> Response:
        return JSONResponse({"value": state.notifications(), "pending": state.notifier.pending(),
                             "paused": state.notifier.paused})

    async def list_partner_topics(request: Request) -> Response:
        return JSONResponse({"value": state.partner_topics.list()})

    async def put_partner_topic(request: Request) -> Response:
        body = await _body(request)
        headers = body.get("headers") or {}
        if not isinstance(headers, dict):
            raise ValueError("headers must be an object of strings")
        return JSONResponse(state.subscribe_partner_topic(request.path_params["name"], body.get("endpoint"),
                                                          {str(k): str(v) for k, v in headers.items()}))

    async def patch_user(request: Request) -> Response:
        body = await _body(request)
        user = state.update_user(request.path_params["upn"],
                                 account_enabled=body.get("accountEnabled"),
                                 display_name=body.get("displayName"))
        return JSONResponse(user)

    async def delete_user(request: Request) -> Response:
        permanent = request.query_params.get("permanent", "false").lower() == "true"
        state.delete_user(request.path_params["upn"], permanent=permanent)
        return Response(status_code=204)

    async def expire_delta(request: Request) -> Response:
        return JSONResponse({"expired": state.expire_delta_tokens()})

    return [
        Route("/_sim/rooms", _guard(list_rooms), methods=["GET"]),
        Route("/_sim/rooms/{email}", _guard(put_room), methods=["PUT"]),
        Route("/_sim/outlook/{mailbox}/events", _guard(outlook_create), methods=["POST"]),
        Route("/_sim/outlook/{mailbox}/events/{id}", _guard(outlook_update), methods=["PATCH"]),
        Route("/_sim/outlook/{mailbox}/events/{id}", _guard(outlook_delete), methods=["DELETE"]),
        Route("/_sim/subscriptions", _guard(list_subscriptions), methods=["GET"]),
        Route("/_sim/subscriptions/lifetime", _guard(put_lifetime), methods=["PUT"]),
        Route("/_sim/subscriptions/{sid}/lifecycle", _guard(lifecycle), methods=["POST"]),
        Route("/_sim/subscriptions/{sid}/expire", _guard(expire), methods=["POST"]),
        Route("/_sim/notifications", _guard(put_notifications), methods=["PUT"]),
        Route("/_sim/notifications", _guard(get_notifications), methods=["GET"]),
        Route("/_sim/eventgrid/partnertopics", _guard(list_partner_topics), methods=["GET"]),
        Route("/_sim/eventgrid/partnertopics/{name}", _guard(put_partner_topic), methods=["PUT"]),
        Route("/_sim/users/{upn}", _guard(patch_user), methods=["PATCH"]),
        Route("/_sim/users/{upn}", _guard(delete_user), methods=["DELETE"]),
        Route("/_sim/delta/expire", _guard(expire_delta), methods=["POST"]),
    ]
