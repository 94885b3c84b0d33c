"""What happens to every /v1.0 request before and after its handler: request ids, bearer-token
check, per-mailbox budget and concurrency, scripted faults, artificial latency, the request log.

Order matters and follows Graph: a request is counted against the mailbox budget as soon as it
arrives (429s included), then faults/throttling may answer instead of the handler.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

from starlette.requests import Request
from starlette.responses import Response

from . import graph_people, graph_rooms, schedule
from .auth import Signer, TokenError
from .errors import GraphError, error_body, graph_error_response, json_response
from .graph import GraphHandlers, match_route
from .state import Fault, SimState

log = logging.getLogger("graphsim")

_READ_ROLES = {"Calendars.Read", "Calendars.ReadWrite"}
_WRITE_ROLES = {"Calendars.ReadWrite"}
_PLACE_ROLES = {"Place.Read.All", "Place.ReadWrite.All"}
_USER_ROLES = {"User.Read.All", "User.ReadWrite.All", "User.ReadBasic.All", "Directory.Read.All",
               "Directory.ReadWrite.All"}


class GraphPipeline:
    def __init__(self, state: SimState, signer: Signer) -> None:
        self.state = state
        self.signer = signer
        self.handlers = GraphHandlers(state)
        self.room_handlers = graph_rooms.RoomHandlers(state)
        self.people_handlers = graph_people.PeopleHandlers(state)
        self.schedule_handlers = schedule.ScheduleHandlers(state)

    async def handle(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        client_request_id = request.headers.get("client-request-id") or str(uuid.uuid4())
        request.state.ids = (request_id, client_request_id)
        path = request.scope["path"][len("/v1.0"):] or "/"
        entry: dict[str, Any] = {
            "method": request.method, "path": request.scope["path"],
            "query": unquote_plus(request.url.query), "mailbox": None, "status": None,
            "at": datetime.now(UTC).isoformat(), "requestId": request_id,
        }
        try:
            response = await self._handle(request, path, entry)
        except GraphError as err:
            response = graph_error_response(err, request_id, client_request_id)
        except Exception:  # a simulator bug must still answer in Graph's shape
            log.exception("graphsim handler failed for %s %s", request.method, entry["path"])
            response = graph_error_response(
                GraphError(500, "InternalServerError", "graphsim internal error."),
                request_id, client_request_id)
        response.headers["request-id"] = request_id
        response.headers["client-request-id"] = client_request_id
        entry["status"] = response.status_code
        self.state.log_request(entry)
        return response

    def _authenticate(self, request: Request) -> dict[str, Any]:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        challenge = {"WWW-Authenticate": 'Bearer realm="", authorization_uri="'
                     f'{request.url.scheme}://{request.url.netloc}/common/oauth2/authorize", '
                     'client_id="00000003-0000-0000-c000-000000000000"'}
        if scheme.lower() != "bearer" or not token.strip():
            raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty.", challenge)
        try:
            claims = self.signer.verify(token.strip())
        except TokenError as exc:
            raise GraphError(401, "InvalidAuthenticationToken", exc.message, challenge) from exc
        app = self.state.apps.get(str(claims.get("appid")))
        tid = str(claims.get("tid", "")).lower()
        if app is None or (app.tenant_id.lower() != tid and not self.state.tenancy.consented(tid, app.client_id)):
            raise GraphError(401, "InvalidAuthenticationToken",
                             "The application or tenant of this token is unknown.", challenge)
        return claims

    async def _handle(self, request: Request, path: str, entry: dict[str, Any]) -> Response:
        claims = self._authenticate(request)
        request.state.claims = claims
        entry["tid"] = str(claims.get("tid", "")).lower()  # the token's tenant, for isolation checks
        path = graph_people.resolve_me(path, claims)
        # Room routes first: /users/delta would otherwise match /users/{u}.
        found = (graph_rooms.match_route(path) or graph_people.match_route(path) or schedule.match_route(path)
                 or match_route(path))
        if found is None:
            segment = path.strip("/").split("/")[-1] if path.strip("/") else ""
            raise GraphError(400, "BadRequest", f"Resource not found for the segment '{segment}'.")
        route, params = found
        if request.method not in route.methods:
            raise GraphError(405, "Request_BadRequest",
                             "Specified HTTP method is not allowed for the request target.")
        mailbox_id: str | None = None
        if "u" in params:
            user = self.state.find_user(params["u"])
            mailbox_id = user["id"] if user else params["u"].lower()
            entry["mailbox"] = mailbox_id
            if user is not None:  # a token of another tenant never reaches this mailbox (tenants.py)
                self.state.tenancy.check_mailbox(claims, user["id"])
        key = (str(claims["appid"]), mailbox_id or "")

        over_budget = self.state.throttle.count(key) if route.mailbox else None
        fault = self.state.take_fault("before", request.method, request.scope["path"], mailbox_id)
        if fault is not None:
            return self._fault_response(fault, request)
        if over_budget is not None:
            raise GraphError(429, over_budget.code, over_budget.message,
                             {"Retry-After": str(over_budget.retry_after)})
        if route.mailbox:
            busy = self.state.throttle.acquire(key)
            if busy is not None:
                raise GraphError(429, busy.code, busy.message,
                                 {"Retry-After": str(busy.retry_after)})
        try:
            await self._latency()
            # A person's token, or sendMail; getSchedule checks a person's scopes itself (schedule.py).
            if route.name not in schedule.NAMES and graph_people.applies(claims, route.name):
                graph_people.authorize(self.state, claims, route.name, request.method, params)
            else:
                self._authorize(claims, route.name, request.method)
            base = f"{request.url.scheme}://{request.url.netloc}"
            try:
                handlers = (self.room_handlers if route.name in graph_rooms.NAMES
                            else self.people_handlers if route.name in graph_people.NAMES else self.handlers)
                handlers = self.schedule_handlers if route.name in schedule.NAMES else handlers
                response = await handlers.dispatch(route, params, request, base)
            except GraphError as err:
                response = graph_error_response(err, *request.state.ids)
        finally:
            if route.mailbox:
                self.state.throttle.release(key)
        after = self.state.take_fault("after", request.method, request.scope["path"], mailbox_id)
        if after is not None:
            # The work is done but the caller never learns: a lost response.
            return self._fault_response(after, request)
        return response

    def _authorize(self, claims: dict[str, Any], route: str, method: str) -> None:
        roles = set(claims.get("roles") or [])
        if route in schedule.NAMES:
            return  # schedule.py checks the app's roles, or a person's scopes and mailbox
        if route == "places":
            if not roles & _PLACE_ROLES:
                raise GraphError(403, "ErrorAccessDenied",
                                 "Access is denied. Check credentials and try again.")
            return
        if route.startswith("subscription"):
            # Subscriptions only read the calendar, whatever the HTTP method.
            method = "GET"
        if route in ("user", "users", "usersDelta"):
            if not roles & _USER_ROLES:
                raise GraphError(403, "Authorization_RequestDenied",
                                 "Insufficient privileges to complete the operation.")
            return
        needed = _READ_ROLES if method == "GET" else _WRITE_ROLES
        if not roles & needed:
            raise GraphError(403, "ErrorAccessDenied",
                             "Access is denied. Check credentials and try again.")

    async def _latency(self) -> None:
        generation = self.state.latency_generation
        deadline = time.monotonic() + self.state.latency_ms / 1000
        # Sleep in slices so that changing the latency (or reset) releases waiting requests.
        while generation == self.state.latency_generation:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            await asyncio.sleep(min(remaining, 0.02))

    def _fault_response(self, fault: Fault, request: Request) -> Response:
        headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
        body = error_body(fault.error_code, fault.message, *request.state.ids)
        return json_response(fault.status, body, headers)
