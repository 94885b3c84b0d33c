"""The control API under /_sim: set up users and apps, inspect mailboxes and the request log,
script faults, change limits. No Graph auth, since only tests and the demo talk to it."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import control_rooms
from .errors import GraphError
from .state import SimState


def _bad(message: str, status: int = 400) -> Response:
    return JSONResponse({"error": {"code": "BadRequest", "message": message}}, status_code=status)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


def build_routes(state: SimState) -> list[Route]:
    async def reset(request: Request) -> Response:
        state.reset()
        return Response(status_code=204)

    async def put_user(request: Request) -> Response:
        try:
            body = await _body(request)
        except ValueError as exc:
            return _bad(str(exc))
        user = state.add_user(
            request.path_params["upn"], display_name=body.get("displayName"),
            mail=body.get("mail"), id=body.get("id"),
            account_enabled=body.get("accountEnabled", True))
        return JSONResponse(user)

    async def list_users(request: Request) -> Response:
        return JSONResponse({"value": state.users()})

    async def mailbox_events(request: Request) -> Response:
        try:
            return JSONResponse({"value": state.events_of(request.path_params["mailbox"])})
        except GraphError as err:
            return JSONResponse({"error": {"code": err.code, "message": err.message}},
                                status_code=err.status)

    async def add_fault(request: Request) -> Response:
        try:
            body = await _body(request)
            fault_id = state.add_fault(
                int(body["status"]), mailbox=body.get("mailbox"), method=body.get("method"),
                path_contains=body.get("pathContains"), retry_after=body.get("retryAfter"),
                error_code=body.get("errorCode"), message=body.get("message"),
                count=int(body.get("count", 1)), phase=body.get("phase", "before"))
        except (ValueError, KeyError, TypeError) as exc:
            return _bad(f"invalid fault: {exc}")
        return JSONResponse({"id": fault_id}, status_code=201)

    async def list_faults(request: Request) -> Response:
        return JSONResponse({"value": state.faults()})

    async def clear_faults(request: Request) -> Response:
        state.clear_faults()
        return Response(status_code=204)

    async def put_throttle(request: Request) -> Response:
        try:
            body = await _body(request)
            cfg = state.set_throttle(body.get("concurrency"), body.get("budget"),
                                     body.get("windowSeconds"))
        except (ValueError, TypeError) as exc:
            return _bad(str(exc))
        return JSONResponse({"concurrency": cfg.concurrency, "budget": cfg.budget,
                             "windowSeconds": cfg.window_seconds})

    async def get_concurrency(request: Request) -> Response:
        return JSONResponse({"value": state.throttle.concurrency()})

    async def get_tokens(request: Request) -> Response:
        return JSONResponse({"requests": state.token_requests(), "lifetimeSeconds": state.token_lifetime})

    async def put_tokens(request: Request) -> Response:
        try:
            lifetime = (await _body(request)).get("lifetimeSeconds")
            state.set_token_lifetime(None if lifetime is None else int(lifetime))
        except (ValueError, TypeError) as exc:
            return _bad(str(exc))
        return JSONResponse({"requests": state.token_requests(), "lifetimeSeconds": state.token_lifetime})

    async def put_latency(request: Request) -> Response:
        try:
            state.set_latency(int((await _body(request)).get("ms", 0)))
        except (ValueError, TypeError) as exc:
            return _bad(str(exc))
        return JSONResponse({"ms": state.latency_ms})

    async def get_requests(request: Request) -> Response:
        return JSONResponse({"value": state.requests()})

    async def clear_requests(request: Request) -> Response:
        state.clear_requests()
        return Response(status_code=204)

    async def put_app(request: Request) -> Response:
        try:
            body = await _body(request)
            app = state.add_app(request.path_params["client_id"], str(body["clientSecret"]),
                                str(body["tenantId"]), body.get("roles"))
        except (ValueError, KeyError, TypeError) as exc:
            return _bad(f"invalid app: {exc}")
        # The secret is write-only: never echoed.
        return JSONResponse({"clientId": app.client_id, "tenantId": app.tenant_id,
                             "roles": app.roles})

    return [
        Route("/_sim/reset", reset, methods=["POST"]),
        Route("/_sim/users", list_users, methods=["GET"]),
        Route("/_sim/users/{upn}", put_user, methods=["PUT"]),
        Route("/_sim/mailboxes/{mailbox}/events", mailbox_events, methods=["GET"]),
        Route("/_sim/faults", add_fault, methods=["POST"]),
        Route("/_sim/faults", list_faults, methods=["GET"]),
        Route("/_sim/faults", clear_faults, methods=["DELETE"]),
        Route("/_sim/throttle", put_throttle, methods=["PUT"]),
        Route("/_sim/concurrency", get_concurrency, methods=["GET"]),
        Route("/_sim/tokens", get_tokens, methods=["GET"]),
        Route("/_sim/tokens", put_tokens, methods=["PUT"]),
        Route("/_sim/latency", put_latency, methods=["PUT"]),
        Route("/_sim/requests", get_requests, methods=["GET"]),
        Route("/_sim/requests", clear_requests, methods=["DELETE"]),
        Route("/_sim/apps/{client_id}", put_app, methods=["PUT"]),
        *control_rooms.build_routes(state),
    ]
