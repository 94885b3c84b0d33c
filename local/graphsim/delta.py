"""Delta queries: ``/users/{u}/calendarView/delta`` and ``/users/delta``.

A first round lists everything (paged with ``@odata.nextLink`` ``$skiptoken``) and ends with an
``@odata.deltaLink`` (``$deltatoken``); following it later returns what changed since, deletions
as ``@removed``. Tokens are opaque and server side; unknown or expired ones answer
410 SyncStateNotFound. Query options of the first call are kept in the token, as Graph does.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from . import events as ev_mod
from . import recurrence, zones
from .directory_tenants import of_callers_tenant
from .errors import GraphError, json_response
from .state import SimState

DEFAULT_PAGE = 10
MAX_PAGE = 1000
_EVENT_TYPE = "#microsoft.graph.event"
_USER_DEFAULT = ["businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
                 "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id",
                 "accountEnabled"]


def _page_size(request: Request) -> int:
    top = request.query_params.get("$top")
    size = int(top) if top and top.isdigit() else zones.parse_prefer_int(
        request.headers.getlist("prefer"), "odata.maxpagesize")
    return max(1, min(size or DEFAULT_PAGE, MAX_PAGE))


def _removed(event_id: str) -> dict[str, Any]:
    return {"@odata.type": _EVENT_TYPE, "id": event_id, "@removed": {"reason": "deleted"}}


def render_user(user: dict[str, Any], select: list[str] | None) -> dict[str, Any]:
    full = {"businessPhones": [], "givenName": None, "jobTitle": None, "mobilePhone": None,
            "officeLocation": None, "preferredLanguage": None, "surname": None} | user
    keys = [*select, "id"] if select else _USER_DEFAULT
    return {k: full.get(k) for k in dict.fromkeys(keys)}


class DeltaHandlers:
    def __init__(self, state: SimState) -> None:
        self.state = state

    def _serve(self, request: Request, link: str, context: str, items: list[dict[str, Any]],
               final: dict[str, Any], kind: str) -> Response:
        size = _page_size(request)
        body: dict[str, Any] = {"@odata.context": context, "value": items[:size]}
        if len(items) > size:
            token = self.state.store_delta_state(
                {"kind": f"{kind}-page", "items": items[size:], "final": final, "context": context})
            body["@odata.nextLink"] = f"{link}?$skiptoken={token}"
        else:
            token = self.state.store_delta_state(final)
            body["@odata.deltaLink"] = f"{link}?$deltatoken={token}"
        return json_response(200, body)

    def _next_page(self, request: Request, link: str, kind: str) -> Response:
        data = self.state.load_delta_state(request.query_params["$skiptoken"], f"{kind}-page")
        return self._serve(request, link, data["context"], data["items"], data["final"], kind)

    # -- events
    def _render(self, ev: ev_mod.StoredEvent, zone: str) -> dict[str, Any]:
        body = ev_mod.render(ev, organizer=self.state.organizer_of(ev.mailbox_id), context=None,
                             zone=zone)
        return {"@odata.type": _EVENT_TYPE} | body

    async def _calendarViewDelta_get(self, request: Request, p: dict[str, str], base: str) -> Response:
        user = self.state.find_user(p["u"])
        if user is None:
            raise GraphError(404, "ErrorInvalidUser", f"The requested user '{p['u']}' is invalid.")
        link = f"{base}/v1.0/users/{p['u']}/calendarView/delta"
        qp = request.query_params
        if "$skiptoken" in qp:
            return self._next_page(request, link, "events")
        zone = zones.parse_prefer_timezone(request.headers.getlist("prefer")) or "UTC"
        context = f"{base}/v1.0/$metadata#Collection(event)"
        if "$deltatoken" in qp:
            data = self.state.load_delta_state(qp["$deltatoken"], "events")
            if data["mailbox_id"] != user["id"]:
                raise GraphError(410, "SyncStateNotFound", "The sync state is for another mailbox.")
            items, position = self._changes(data, zone)
        else:
            start_raw = qp.get("startDateTime") or qp.get("startdatetime")
            end_raw = qp.get("endDateTime") or qp.get("enddatetime")
            if not start_raw or not end_raw:
                raise GraphError(400, "ErrorInvalidParameter",
                                 "This request requires a time window specified by the query "
                                 "string parameters StartDateTime and EndDateTime.")
            data = {"kind": "events", "mailbox_id": user["id"],
                    "start": zones.parse_instant(start_raw), "end": zones.parse_instant(end_raw)}
            # Position first: a change made while we list shows up again next round (a replay,
            # which Graph allows), never not at all.
            position = self.state.event_journal_position()
            found = recurrence.expand(self.state.list_events(user["id"]), data["start"], data["end"])
            items = [self._render(e, zone) for e in sorted(found, key=lambda e: (e.start, e.seq))]
        return self._serve(request, link, context, items, data | {"position": position}, "events")

    def _changes(self, data: dict[str, Any], zone: str) -> tuple[list[dict[str, Any]], int]:
        changes, position = self.state.event_changes_since(data["mailbox_id"], data["position"])
        try:
            current = {e.id: e for e in self.state.list_events(data["mailbox_id"])}
        except GraphError:
            current = {}  # the mailbox is gone
        start, end = data["start"], data["end"]
        items: list[dict[str, Any]] = []
        for change in changes:
            ev = current.get(change.event_id)
            gone = ev is None
            shape = ev if ev is not None else change.snapshot
            if shape is not None and shape.props.get("type") == "seriesMaster":
                occurrences = recurrence.occurrences(shape, start, end)
                items += [_removed(o.id) if gone else self._render(o, zone) for o in occurrences]
            elif not gone and recurrence.expand([ev], start, end):
                items.append(self._render(ev, zone))
            else:
                # Deleted, or moved out of the window: Graph reports both as removed.
                items.append(_removed(change.event_id))
        return items, position

    # -- users
    async def _usersDelta_get(self, request: Request, p: dict[str, str], base: str) -> Response:
        link = f"{base}/v1.0/users/delta"
        qp = request.query_params
        if "$skiptoken" in qp:
            return self._next_page(request, link, "users")
        raw_select = qp.get("$select")
        select = [s.strip() for s in raw_select.split(",") if s.strip()] if raw_select else None
        token = qp.get("$deltatoken")
        if token == "latest":
            # Sync from now: no items, just a deltaLink.
            data = {"kind": "users", "select": select, "position": self.state.user_journal_position()}
            items: list[dict[str, Any]] = []
            position = data["position"]
        elif token:
            data = self.state.load_delta_state(token, "users")
            items, position = self._user_changes(data)
        else:
            data = {"kind": "users", "select": select}
            position = self.state.user_journal_position()
            items = [render_user(u, select) for u in self.state.users()]
        items = of_callers_tenant(self.state, request, items)
        context = f"{base}/v1.0/$metadata#users" + (f"({','.join(select)})" if select else "")
        return self._serve(request, link, context, items, data | {"position": position}, "users")

    def _user_changes(self, data: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
        changes, position = self.state.user_changes_since(data["position"])
        current = {u["id"]: u for u in self.state.users()}
        items = []
        for change in changes:
            user = current.get(change.user_id)
            if change.kind == "changed" and user is not None:
                items.append(render_user(user, data["select"]))
            else:
                reason = "deleted" if change.kind == "deleted" else "changed"
                items.append({"id": change.user_id, "@removed": {"reason": reason}})
        return items, position
