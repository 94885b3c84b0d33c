"""The HTTP side of the host: HTTP triggers under the route prefix, and the admin API."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import unquote

import azure.functions as func
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from local.funchost.queue_store import LocalQueueStore

from .disabled import is_disabled
from .indexing import EventGridFunction, HttpFunction, IndexedFunction
from .invoke import call_function, event_grid_event
from .keys import EVENTGRID_EXTENSION, HostKeys

__all__ = ["HOST_VERSION", "build_http_app"]

log = logging.getLogger("funchost")
HOST_VERSION = "4.0.0-funchost"
EVENTGRID_WEBHOOK = "/runtime/webhooks/eventgrid"


def _request_path(request: Request) -> str:
    """The path as Kestrel hands it to routing: percent-decoded except ``%2F``, so an encoded slash stays
    inside one segment (``/api/items/a%2Fb`` binds ``a%2Fb`` to ``{id}``)."""
    raw = request.scope.get("raw_path")
    if not raw:
        return request.url.path
    return "%2F".join(unquote(part) for part in re.split("%2[fF]", raw.decode("latin-1").split("?", 1)[0]))


def _presented_key(request: Request) -> str | None:
    return request.headers.get("x-functions-key") or request.query_params.get("code")


def _to_response(result: Any) -> Response:
    if isinstance(result, func.HttpResponse):
        response = Response(content=result.get_body(), status_code=result.status_code)
        user_headers = [(k, v) for k, v in result.headers.items() if k.lower() != "content-length"]
        if not any(k.lower() == "content-type" for k, _ in user_headers):
            user_headers.append(("content-type", f"{result.mimetype}; charset={result.charset}"))
        for name, value in user_headers:
            response.headers.append(name, value)
        return response
    if result is None:
        return Response(status_code=204)
    if isinstance(result, str | bytes):
        return Response(content=result, media_type="text/plain")
    raise TypeError(f"an HTTP function returned {type(result).__name__}, not func.HttpResponse")


def _match(functions: Sequence[HttpFunction], path: str, method: str) -> tuple[HttpFunction, dict[str, str]] | None:
    # The most specific template wins (more literal segments, then fewer parameters), as in
    # ASP.NET routing, so "items/special" beats "items/{id}" whatever the declaration order.
    found = []
    for fn in functions:
        params = fn.route.match(path)
        if params is not None and (fn.methods is None or method in fn.methods):
            found.append((fn.route.specificity, fn, params))
    if not found:
        return None
    _, fn, params = max(found, key=lambda item: item[0])
    return fn, params


def build_http_app(
    *,
    functions: Sequence[IndexedFunction],
    keys: HostKeys,
    route_prefix: str,
    store: Callable[[], LocalQueueStore],
    run_now: Callable[[IndexedFunction, str], None],
    base_url: Callable[[], str],
) -> Starlette:
    """An ASGI app serving the functions' routes and the host's admin API."""
    http_functions = [f for f in functions if isinstance(f, HttpFunction)]
    disabled = {f.name for f in http_functions if is_disabled(f.name)}
    by_name = {f.name.lower(): f for f in functions}
    prefix = "/" + route_prefix.strip("/") if route_prefix.strip("/") else ""
    started = time.monotonic()

    async def invoke_http(request: Request, path: str) -> Response:
        matched = _match(http_functions, path, request.method)
        if matched is None:
            return Response(status_code=404)
        fn, route_params = matched
        presented = _presented_key(request)
        if fn.name in disabled and not keys.is_master(presented):
            return Response(status_code=404)
        if not keys.allows(fn.auth_level, presented):
            return Response(status_code=401)
        req = func.HttpRequest(
            method=request.method,
            url=str(request.url),
            headers=dict(request.headers),
            params=dict(request.query_params),
            route_params=route_params,
            body=await request.body(),
        )
        try:
            return _to_response(await call_function(fn, req))  # logs Executing/Executed, as the host does
        except Exception:
            # Logged with its stack; the caller only sees a bare 500, as on Azure.
            log.exception("Function '%s' failed", fn.name)
            return Response(status_code=500)

    async def event_grid_webhook(request: Request) -> Response:
        """The Event Grid extension's endpoint, as the WebJobs extension serves it (HttpRequestProcessor):
        the system key; ``aeg-event-type`` Notification runs the function once per event (202 when all succeed,
        500 when one fails, so Event Grid redelivers), SubscriptionValidation answers the handshake."""
        if not keys.allows_extension(EVENTGRID_EXTENSION, _presented_key(request)):
            return Response(status_code=401)
        if request.method == "OPTIONS":  # the CloudEvents webhook abuse-protection handshake
            origin = request.headers.get("webhook-request-origin")
            return Response(status_code=200, headers={"WebHook-Allowed-Origin": origin} if origin else None)
        if request.method != "POST":
            return Response(status_code=405)
        name = request.query_params.get("functionName") or ""
        fn = by_name.get(name.lower())
        if not isinstance(fn, EventGridFunction):
            return Response(f"cannot find function: '{name}'", status_code=404, media_type="text/plain")
        kind = (request.headers.get("aeg-event-type") or "").lower()
        try:
            body = json.loads(await request.body())
        except ValueError:
            return Response(status_code=400)
        if kind == "subscriptionvalidation":
            first = body[0] if isinstance(body, list) and body else body
            data = first.get("data") if isinstance(first, dict) else None
            data = json.loads(data) if isinstance(data, str) else data
            code = data.get("validationCode") if isinstance(data, dict) else None
            return JSONResponse({"validationResponse": code})
        if kind == "unsubscribe":
            return Response(status_code=202)
        if kind != "notification":
            return Response(status_code=400)
        events = body if isinstance(body, list) else [body]
        if not all(isinstance(e, dict) for e in events):
            return Response(status_code=400)
        results = await asyncio.gather(*(call_function(fn, event_grid_event(e)) for e in events),
                                       return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        for failure in failed:
            log.error("Function '%s' failed", fn.name, exc_info=failure)
        return Response(status_code=500 if failed else 202)

    def describe(fn: IndexedFunction) -> dict[str, Any]:
        info = fn.describe()
        if isinstance(fn, HttpFunction):
            info["invokeUrlTemplate"] = f"{base_url()}{prefix}/{fn.route.template.strip('/')}"
        return info

    async def admin(request: Request, parts: list[str]) -> Response:
        if not keys.is_master(_presented_key(request)):
            return Response(status_code=401)
        method = request.method
        if parts == ["host", "status"] and method == "GET":
            uptime = int((time.monotonic() - started) * 1000)
            status = {"id": "funchost", "state": "Running", "version": HOST_VERSION}
            return JSONResponse(status | {"processUptime": uptime})
        if len(parts) == 3 and parts[:2] == ["host", "systemkeys"] and method == "GET":
            # GET /admin/host/systemkeys/{name}, as Azure's host answers it.
            value = keys.system_keys.get(parts[2])
            if value is None:
                return Response(status_code=404)
            return JSONResponse({"name": parts[2], "value": value})
        if parts == ["functions"] and method == "GET":
            return JSONResponse([describe(f) for f in functions])
        if len(parts) == 2 and parts[0] == "functions":
            fn = by_name.get(parts[1].lower())
            if fn is None:
                return Response(status_code=404)
            if method == "GET":
                return JSONResponse(describe(fn))
            if method == "POST":
                return await _invoke_now(request, fn)
        if len(parts) >= 2 and parts[0] == "queues":
            return _queue_admin(request, parts[1], parts[2:])
        return Response(status_code=404)

    async def _invoke_now(request: Request, fn: IndexedFunction) -> Response:
        if isinstance(fn, HttpFunction):
            return JSONResponse({"error": "HTTP functions are invoked through their route."}, 400)
        raw = await request.body()
        try:
            payload = json.loads(raw) if raw.strip() else {}
        except ValueError:
            return JSONResponse({"error": 'The body must be JSON like {"input": ""}.'}, 400)
        value = payload.get("input", "") if isinstance(payload, dict) else ""
        run_now(fn, value if isinstance(value, str) else json.dumps(value))
        return Response(status_code=202)

    def _queue_admin(request: Request, queue: str, rest: list[str]) -> Response:
        if not rest and request.method == "GET":
            return JSONResponse(store().counts(queue))
        if rest == ["deadletters"] and request.method == "GET":
            return JSONResponse([_dead_letter_json(d) for d in store().dead_letters(queue)])
        is_replay = len(rest) == 3 and rest[0] == "deadletters" and rest[2] == "replay"
        if is_replay and request.method == "POST" and rest[1].isdigit():
            replayed = store().replay_dead_letter(queue, int(rest[1]))
            return JSONResponse({"replayed": replayed}, 200 if replayed else 404)
        return Response(status_code=404)

    async def endpoint(request: Request) -> Response:
        path = _request_path(request)
        if path == "/admin" or path.startswith("/admin/"):
            return await admin(request, [p for p in path.split("/")[2:] if p])
        if path.rstrip("/").lower() == EVENTGRID_WEBHOOK:
            return await event_grid_webhook(request)
        if prefix and not (path == prefix or path.startswith(prefix + "/")):
            return Response(status_code=404)
        return await invoke_http(request, path[len(prefix) :])

    async def every_request(scope: Scope, receive: Receive, send: Send) -> None:
        # Every path and method reaches ``endpoint`` (a route pattern would miss paths with a line break
        # and answer Starlette's own text/plain 404, which the Functions host never does).
        if scope["type"] != "http":
            return
        response = await endpoint(Request(scope, receive))
        await response(scope, receive, send)

    app = Starlette()
    app.router.default = every_request
    return app


def _dead_letter_json(dead: Any) -> dict[str, Any]:
    return {
        "sequenceNumber": dead.sequence_number,
        "messageId": dead.message_id,
        "sessionId": dead.session_id,
        "reason": dead.reason,
        "description": dead.description,
        "deadLetteredAt": dead.dead_lettered_at.isoformat(),
        "deliveryCount": dead.delivery_count,
        "body": dead.body.decode("utf-8", errors="replace"),
    }
