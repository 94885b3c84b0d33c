"""Graph resources for rooms: /subscriptions, /places/microsoft.graph.room, and the delta routes
(handled in delta.py). The pipeline tries these routes before graph.py's, since ``/users/delta``
would otherwise match ``/users/{u}``.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from . import eventgrid
from . import subscriptions as subs
from .delta import DeltaHandlers
from .directory_tenants import of_callers_tenant, room_mailbox
from .errors import GraphError, json_response
from .graph import Route, _json_body
from .graph import match_route as graph_match_route

PLACES_PAGE = 100  # Graph's default for /places

ROUTES = [
    Route("usersDelta", re.compile(r"/users/delta(?:\(\))?/?", re.I), frozenset({"GET"}), False),
    Route("calendarViewDelta",
          re.compile(r"/users/(?P<u>[^/]+)(?:/calendar)?/calendarView/delta(?:\(\))?/?", re.I),
          frozenset({"GET"}), True),
    Route("subscriptions", re.compile(r"/subscriptions/?"), frozenset({"GET", "POST"}), False),
    Route("subscriptionReauthorize", re.compile(r"/subscriptions/(?P<sid>[^/]+)/reauthorize/?"),
          frozenset({"POST"}), False),
    Route("subscription", re.compile(r"/subscriptions/(?P<sid>[^/]+)/?"),
          frozenset({"GET", "PATCH", "DELETE"}), False),
    Route("places", re.compile(r"/places/(?:microsoft\.)?graph\.room/?", re.I), frozenset({"GET"}),
          False),
]
NAMES = {r.name for r in ROUTES}


def match_route(path: str) -> tuple[Route, dict[str, str]] | None:
    return graph_match_route(path, ROUTES)


class RoomHandlers(DeltaHandlers):
    async def dispatch(self, route: Route, params: dict[str, str], request: Request,
                       base: str) -> Response:
        handler = getattr(self, f"_{route.name}_{request.method.lower()}")
        return await handler(request, params, base)

    @staticmethod
    def _client_id(request: Request) -> str:
        return str(request.state.claims["appid"])

    # -- subscriptions
    async def _subscriptions_post(self, request: Request, p: dict[str, str], base: str) -> Response:
        client_id = self._client_id(request)
        body = _json_body(await request.body())
        parsed = self.state.prepare_subscription(client_id, body)
        # Graph validates both endpoints before it creates anything, and waits for each; an Event Grid
        # partner topic gets no validation request.
        for url in (parsed["notification_url"], parsed["lifecycle_url"]):
            if url and not eventgrid.is_event_grid(url):
                await subs.validate_endpoint(url)
        sub = self.state.subscribe(client_id, body)
        return json_response(201, {"@odata.context": f"{base}/v1.0/$metadata#subscriptions/$entity"}
                             | sub)

    async def _subscriptions_get(self, request: Request, p: dict[str, str], base: str) -> Response:
        return json_response(200, {"@odata.context": f"{base}/v1.0/$metadata#subscriptions",
                                   "value": self.state.list_subscriptions(self._client_id(request))})

    async def _subscription_get(self, request: Request, p: dict[str, str], base: str) -> Response:
        sub = self.state.get_subscription(self._client_id(request), p["sid"])
        return json_response(200, {"@odata.context": f"{base}/v1.0/$metadata#subscriptions/$entity"}
                             | sub)

    async def _subscription_patch(self, request: Request, p: dict[str, str], base: str) -> Response:
        body = _json_body(await request.body())
        sub = self.state.renew_subscription(self._client_id(request), p["sid"], body)
        return json_response(200, {"@odata.context": f"{base}/v1.0/$metadata#subscriptions/$entity"}
                             | sub)

    async def _subscription_delete(self, request: Request, p: dict[str, str], base: str) -> Response:
        self.state.delete_subscription(self._client_id(request), p["sid"])
        return Response(status_code=204)

    async def _subscriptionReauthorize_post(self, request: Request, p: dict[str, str],
                                            base: str) -> Response:
        self.state.reauthorize_subscription(self._client_id(request), p["sid"])
        return Response(status_code=204)

    # -- places
    async def _places_get(self, request: Request, p: dict[str, str], base: str) -> Response:
        qp = request.query_params
        top_raw, skip_raw = qp.get("$top"), qp.get("$skiptoken", "0")
        if top_raw is not None and not top_raw.isdigit():
            raise GraphError(400, "BadRequest", "Invalid $top value.")
        size = max(1, min(int(top_raw) if top_raw else PLACES_PAGE, 1000))
        skip = int(skip_raw) if skip_raw.isdigit() else 0
        rooms = sorted(of_callers_tenant(self.state, request, self.state.rooms(), room_mailbox(self.state)),
                       key=lambda r: r["emailAddress"].lower())
        page = [{"@odata.type": "#microsoft.graph.room"} | r for r in rooms[skip: skip + size]]
        body: dict[str, Any] = {"@odata.context": f"{base}/v1.0/$metadata#places/microsoft.graph.room",
                                "value": page}
        if skip + size < len(rooms):
            body["@odata.nextLink"] = (f"{base}{request.url.path}?$top={size}"
                                       f"&$skiptoken={skip + size}")
        return json_response(200, body)
