"""Handlers for the Graph resources under /v1.0 (users, events, calendarView).

Handlers raise :class:`GraphError`; the pipeline in ``pipeline.py`` does auth, throttling, faults
and headers around them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from . import events as ev_mod
from . import meetings, recurrence, zones
from .directory_tenants import of_callers_tenant
from .errors import GraphError, json_response
from .filters import FilterError, matches_event, parse_event_filter, parse_expand, parse_user_filter
from .state import SimState

DEFAULT_PAGE = 10
MAX_PAGE = 1000
USERS_PAGE = 100  # Graph's default page of /users
_USER_DEFAULT_PROPS = ["businessPhones", "displayName", "givenName", "jobTitle", "mail",
                       "mobilePhone", "officeLocation", "preferredLanguage", "surname",
                       "userPrincipalName", "id"]


@dataclass(frozen=True)
class Route:
    name: str
    pattern: re.Pattern[str]
    methods: frozenset[str]
    mailbox: bool  # Outlook resource: per-mailbox throttling applies


ROUTES = [
    Route("users", re.compile(r"/users/?"), frozenset({"GET"}), False),
    Route("user", re.compile(r"/users/(?P<u>[^/]+)/?"), frozenset({"GET"}), False),
    Route("events", re.compile(r"/users/(?P<u>[^/]+)(?:/calendar)?/events/?", re.I),
          frozenset({"GET", "POST"}), True),
    Route("event", re.compile(r"/users/(?P<u>[^/]+)(?:/calendar)?/events/(?P<id>[^/]+)/?", re.I),
          frozenset({"GET", "PATCH", "DELETE"}), True),
    Route("eventCancel", re.compile(r"/users/(?P<u>[^/]+)(?:/calendar)?/events/(?P<id>[^/]+)/cancel/?", re.I),
          frozenset({"POST"}), True),
    Route("calendarView", re.compile(r"/users/(?P<u>[^/]+)(?:/calendar)?/calendarView/?", re.I),
          frozenset({"GET"}), True),
]


def match_route(path: str, routes: Sequence[Route] | None = None) -> tuple[Route, dict[str, str]] | None:
    """The first of ``routes`` (this module's Graph routes by default) matching ``path``, with its parameters."""
    for route in ROUTES if routes is None else routes:
        m = route.pattern.fullmatch(path)
        if m:
            return route, m.groupdict()
    return None


def _invalid_filter() -> GraphError:
    return GraphError(400, "BadRequest", "Invalid filter clause")


def _json_body(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise GraphError(400, "BadRequest", "Unable to read JSON request payload. Please ensure "
                         "Content-Type header is set and payload is of valid JSON format.")
    return body


def _select(request: Request) -> set[str] | None:
    raw = request.query_params.get("$select")
    return {s.strip() for s in raw.split(",") if s.strip()} if raw else None


def _expand(request: Request) -> str | None | bool:
    try:
        return parse_expand(request.query_params.get("$expand", ""))
    except FilterError as exc:
        raise GraphError(400, "BadRequest", "Invalid expand clause") from exc


def _prefer(request: Request) -> list[str]:
    return request.headers.getlist("prefer")


def _page_size(request: Request) -> int:
    top = request.query_params.get("$top")
    size = int(top) if top and top.isdigit() else zones.parse_prefer_int(
        _prefer(request), "odata.maxpagesize")
    return max(1, min(size or DEFAULT_PAGE, MAX_PAGE))


class GraphHandlers:
    def __init__(self, state: SimState) -> None:
        self.state = state

    async def dispatch(self, route: Route, params: dict[str, str], request: Request,
                       base: str) -> Response:
        handler = getattr(self, f"_{route.name}_{request.method.lower()}")
        return await handler(request, params, base)

    # -- users
    def _render_user(self, user: dict[str, Any], select: set[str] | None) -> dict[str, Any]:
        wanted = select or set(_USER_DEFAULT_PROPS)
        full = {"businessPhones": [], "givenName": None, "jobTitle": None, "mobilePhone": None,
                "officeLocation": None, "preferredLanguage": None, "surname": None} | user
        return {k: full.get(k) for k in [*_USER_DEFAULT_PROPS, "accountEnabled"] if k in wanted}

    async def _user_get(self, request: Request, p: dict[str, str], base: str) -> Response:
        user = self.state.find_user(p["u"])
        if user is None:
            raise GraphError(404, "Request_ResourceNotFound",
                             f"Resource '{p['u']}' does not exist or one of its queried "
                             "reference-property objects are not present.")
        body = {"@odata.context": f"{base}/v1.0/$metadata#users/$entity"}
        return json_response(200, body | self._render_user(user, _select(request)))

    async def _users_get(self, request: Request, p: dict[str, str], base: str) -> Response:
        users = of_callers_tenant(self.state, request, self.state.users())
        raw = request.query_params.get("$filter")
        if raw:
            try:
                clauses = parse_user_filter(raw)
            except FilterError as exc:
                raise _invalid_filter() from exc
            for c in clauses:
                key = "mail" if c.path.lower() == "mail" else "userPrincipalName"
                users = [u for u in users if str(u.get(key) or "").lower() == c.value.lower()]
        select = _select(request)
        top, skip = request.query_params.get("$top", ""), request.query_params.get("$skiptoken", "")
        size = max(1, min(int(top) if top.isdigit() else USERS_PAGE, 999))
        offset = int(skip) if skip.isdigit() else 0
        body: dict[str, Any] = {"@odata.context": f"{base}/v1.0/$metadata#users",
                                "value": [self._render_user(u, select)
                                          for u in users[offset: offset + size]]}
        if offset + size < len(users):
            query = [(k, v) for k, v in request.query_params.multi_items() if k != "$skiptoken"]
            query.append(("$skiptoken", str(offset + size)))
            body["@odata.nextLink"] = f"{base}{request.url.path}?{urlencode(query)}"
        return json_response(200, body)

    # -- events
    def _context(self, mailbox_id: str, base: str, entity: bool) -> str:
        return f"{base}/v1.0/$metadata#users('{mailbox_id}')/events" + ("/$entity" if entity else "")

    def _one(self, ev: ev_mod.StoredEvent, request: Request, base: str, zone: str | None,
             expand: str | None | bool = False) -> dict[str, Any]:
        return ev_mod.render(ev, organizer=self.state.organizer_of(ev.mailbox_id),
                             context=self._context(ev.mailbox_id, base, True), zone=zone,
                             select=_select(request), expand=expand)

    async def _events_post(self, request: Request, p: dict[str, str], base: str) -> Response:
        ev = self.state.create_event(p["u"], _json_body(await request.body()))
        # Create responses echo the client's zones (or Prefer) and never carry extended props.
        zone = zones.parse_prefer_timezone(_prefer(request))
        return json_response(201, self._one(ev, request, base, zone))

    async def _event_get(self, request: Request, p: dict[str, str], base: str) -> Response:
        try:
            ev = self.state.get_event(p["u"], p["id"])
        except GraphError:
            # Occurrences are computed, not stored: look for one among the series masters.
            ev = recurrence.find_occurrence(self.state.list_events(p["u"]), p["id"])
            if ev is None:
                raise
        self.state.meeting_read(ev)
        zone = zones.parse_prefer_timezone(_prefer(request)) or "UTC"
        return json_response(200, self._one(ev, request, base, zone, _expand(request)))

    async def _event_patch(self, request: Request, p: dict[str, str], base: str) -> Response:
        ev = self.state.update_event(p["u"], p["id"], _json_body(await request.body()))
        zone = zones.parse_prefer_timezone(_prefer(request))
        return json_response(200, self._one(ev, request, base, zone))

    async def _eventCancel_post(self, request: Request, p: dict[str, str], base: str) -> Response:
        return await meetings.cancel(self.state, p["u"], p["id"], await request.body())

    async def _event_delete(self, request: Request, p: dict[str, str], base: str) -> Response:
        self.state.delete_event(p["u"], p["id"])
        return Response(status_code=204)

    def _filtered(self, request: Request, items: list[ev_mod.StoredEvent]) -> list[ev_mod.StoredEvent]:
        raw = request.query_params.get("$filter")
        if not raw:
            return items
        try:
            clauses = parse_event_filter(raw)
        except FilterError as exc:
            raise _invalid_filter() from exc
        return [e for e in items if matches_event(clauses, e.ext_values(), e.start, e.end)]

    def _page(self, request: Request, base: str, items: list[ev_mod.StoredEvent],
              mailbox_id: str) -> Response:
        size = _page_size(request)
        skip_raw = request.query_params.get("$skip", "0")
        skip = int(skip_raw) if skip_raw.isdigit() else 0
        zone = zones.parse_prefer_timezone(_prefer(request)) or "UTC"
        expand = _expand(request)
        page = items[skip: skip + size]
        body: dict[str, Any] = {
            "@odata.context": self._context(mailbox_id, base, False),
            "value": [
                ev_mod.render(e, organizer=self.state.organizer_of(e.mailbox_id), context=None,
                              zone=zone, select=_select(request), expand=expand)
                for e in page
            ],
        }
        if skip + size < len(items):
            query = [(k, v) for k, v in request.query_params.multi_items() if k != "$skip"]
            query.append(("$skip", str(skip + size)))
            body["@odata.nextLink"] = f"{base}{request.url.path}?{urlencode(query)}"
        return json_response(200, body)

    async def _events_get(self, request: Request, p: dict[str, str], base: str) -> Response:
        items = self._filtered(request, self.state.list_events(p["u"]))
        order = request.query_params.get("$orderby")
        if order:
            m = re.fullmatch(r"\s*(start|end)/dateTime(?:\s+(asc|desc))?\s*", order, re.I)
            if not m:
                raise GraphError(400, "BadRequest", "Invalid orderby clause")
            key = m.group(1).lower()
            items.sort(key=lambda e: e.start if key == "start" else e.end,
                       reverse=(m.group(2) or "").lower() == "desc")
        mailbox_id = self.state.find_user(p["u"])["id"]  # type: ignore[index]
        return self._page(request, base, items, mailbox_id)

    async def _calendarView_get(self, request: Request, p: dict[str, str], base: str) -> Response:
        items = self.state.list_events(p["u"])
        qp = request.query_params
        start_raw = qp.get("startDateTime") or qp.get("startdatetime")
        end_raw = qp.get("endDateTime") or qp.get("enddatetime")
        if not start_raw or not end_raw:
            raise GraphError(400, "ErrorInvalidParameter",
                             "This request requires a time window specified by the query string "
                             "parameters StartDateTime and EndDateTime.")
        try:
            window_start, window_end = zones.parse_instant(start_raw), zones.parse_instant(end_raw)
        except GraphError as exc:
            raise GraphError(400, "ErrorInvalidParameter",
                             "The value of the parameter 'StartDateTime' or 'EndDateTime' is "
                             "invalid.") from exc
        # Overlap, like Outlook: touching the window edge is not overlapping, except zero-length
        # events that sit at its start.
        # Series masters become their occurrences in the window, as in Graph.
        items = recurrence.expand(items, window_start, window_end)
        items = self._filtered(request, items)
        items.sort(key=lambda e: (e.start, e.seq))
        mailbox_id = self.state.find_user(p["u"])["id"]  # type: ignore[index]
        return self._page(request, base, items, mailbox_id)
