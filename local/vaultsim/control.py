"""Control API of the vault simulator under /_sim (no auth: tests and the demo only).

Secret values go in, never out: listings show attributes and tags only.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .state import VaultError, VaultState


def _when(value: Any) -> datetime | None:
    if value is None:
        return None
    return datetime.fromisoformat(str(value))


def build_routes(state: VaultState) -> list[Route]:
    def guarded(fn: Any) -> Any:
        async def handler(request: Request) -> Response:
            try:
                raw = await request.body()
                body = json.loads(raw) if raw else {}
                return await fn(request, body)
            except VaultError as err:
                return JSONResponse(err.body(), status_code=err.status)
            except (ValueError, KeyError, TypeError) as exc:
                return JSONResponse({"error": {"code": "BadParameter", "message": str(exc)}}, status_code=400)
        return handler

    def version_of(request: Request) -> str | None:
        version = request.path_params.get("version", "latest")
        return None if version == "latest" else version

    @guarded
    async def put_secret(request: Request, body: dict[str, Any]) -> Response:
        v = state.set_secret(request.path_params["name"], str(body["value"]), content_type=body.get("contentType"),
                             enabled=bool(body.get("enabled", True)), not_before=_when(body.get("notBefore")),
                             expires_on=_when(body.get("expiresOn")), tags=body.get("tags"))
        return JSONResponse({"name": v.name, "version": v.version}, status_code=201)

    @guarded
    async def list_versions(request: Request, body: dict[str, Any]) -> Response:
        base = f"{request.url.scheme}://{request.url.netloc}"
        return JSONResponse({"value": [v.item(base) for v in state.versions(request.path_params["name"])]})

    @guarded
    async def disable(request: Request, body: dict[str, Any]) -> Response:
        state.disable(request.path_params["name"], version_of(request))
        return Response(status_code=204)

    @guarded
    async def enable(request: Request, body: dict[str, Any]) -> Response:
        state.enable(request.path_params["name"], version_of(request))
        return Response(status_code=204)

    @guarded
    async def expire(request: Request, body: dict[str, Any]) -> Response:
        state.expire(request.path_params["name"], version_of(request))
        return Response(status_code=204)

    @guarded
    async def put_outage(request: Request, body: dict[str, Any]) -> Response:
        state.set_outage(body.get("status"))
        return JSONResponse({"status": state.outage})

    @guarded
    async def put_access(request: Request, body: dict[str, Any]) -> Response:
        state.set_allowed_principals(body.get("principalIds"))
        return JSONResponse({"principalIds": sorted(state.allowed_principals or []) or None})

    @guarded
    async def get_requests(request: Request, body: dict[str, Any]) -> Response:
        return JSONResponse({"value": state.requests()})

    @guarded
    async def reset(request: Request, body: dict[str, Any]) -> Response:
        state.reset()
        return Response(status_code=204)

    one = "/_sim/secrets/{name}/{version}"
    return [
        Route("/_sim/secrets/{name}", put_secret, methods=["PUT"]),
        Route("/_sim/secrets/{name}", list_versions, methods=["GET"]),
        Route(f"{one}/disable", disable, methods=["POST"]),
        Route(f"{one}/enable", enable, methods=["POST"]),
        Route(f"{one}/expire", expire, methods=["POST"]),
        Route("/_sim/outage", put_outage, methods=["PUT"]),
        Route("/_sim/access", put_access, methods=["PUT"]),
        Route("/_sim/requests", get_requests, methods=["GET"]),
        Route("/_sim/reset", reset, methods=["POST"]),
    ]
