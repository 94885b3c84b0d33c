"""Graph for people: tokens that act as a person (``scp``, ``idtyp=user``), ``/me``, and ``sendMail``.

* A delegated token acts only as its user: a route naming another user's mailbox answers 403 ErrorAccessDenied
  (as without a shared calendar or delegate access), and the token's ``scp`` must hold the permission the route
  needs (Calendars.Read/ReadWrite, User.Read for oneself, User.ReadBasic.All for others, Mail.Send).
* ``/me/...`` is ``/users/{the token's user}/...``; with an application token Graph answers 400.
* ``POST /users/{u}/sendMail`` (202): application permission Mail.Send (any mailbox) or delegated Mail.Send (one's
  own). Sent mails are kept: ``mails_of(state)``, ``GET /_sim/mails`` ({value: [{from, to, subject, body, at}]}).
"""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route as HttpRoute

from .errors import GraphError
from .graph import Route, _json_body
from .graph import match_route as graph_match_route
from .state import SimState

ROUTES = [Route("sendMail", re.compile(r"/users/(?P<u>[^/]+)/sendMail/?", re.I), frozenset({"POST"}), True)]
NAMES = {r.name for r in ROUTES}
_ME = re.compile(r"/me(?=/|$)", re.I)
_DENIED = ("ErrorAccessDenied", "Access is denied. Check credentials and try again.")
_CALENDAR_READ = {"Calendars.Read", "Calendars.ReadWrite", "Calendars.ReadBasic"}
_CALENDAR_WRITE = {"Calendars.ReadWrite"}


def match_route(path: str) -> tuple[Route, dict[str, str]] | None:
    return graph_match_route(path, ROUTES)


def resolve_me(path: str, claims: dict[str, Any]) -> str:
    """``/me/...`` → ``/users/{oid}/...`` for a delegated token."""
    if not _ME.match(path):
        return path
    if "scp" not in claims:
        raise GraphError(400, "BadRequest", "/me request is only valid with delegated authentication flow.")
    return _ME.sub(f"/users/{claims['oid']}", path, count=1)


def applies(claims: dict[str, Any], route: str) -> bool:
    return "scp" in claims or route in NAMES


def authorize(state: SimState, claims: dict[str, Any], route: str, method: str, params: dict[str, str]) -> None:
    """Raise 403 unless the token may use ``route`` (delegated tokens; sendMail for every token)."""
    if "scp" not in claims:  # an application token on sendMail
        if "Mail.Send" not in set(claims.get("roles") or []):
            raise GraphError(403, *_DENIED)
        return
    scopes = set(str(claims.get("scp", "")).split())
    user = state.find_user(params["u"]) if "u" in params else None
    own = user is not None and user["id"] == claims.get("oid")
    if route in ("user",):
        if not (own and scopes & {"User.Read", "User.ReadWrite"}) and not scopes & {"User.ReadBasic.All",
                                                                                  "User.Read.All"}:
            raise GraphError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
        return
    if route in ("users", "usersDelta"):
        if not scopes & {"User.ReadBasic.All", "User.Read.All"}:
            raise GraphError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
        return
    if route == "places":
        if not scopes & {"Place.Read.All"}:
            raise GraphError(403, *_DENIED)
        return
    if route == "sendMail":
        if not own or "Mail.Send" not in scopes:
            raise GraphError(403, *_DENIED)
        return
    if route.startswith("subscription"):
        if not scopes & _CALENDAR_READ:
            raise GraphError(403, *_DENIED)
        return
    # Calendar routes: only one's own mailbox, reading with any calendar scope, writing with ReadWrite.
    needed = _CALENDAR_READ if method == "GET" else _CALENDAR_WRITE
    if "u" in params and not own:
        raise GraphError(403, *_DENIED)
    if not scopes & needed:
        raise GraphError(403, *_DENIED)


class _Mails:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sent: list[dict[str, Any]] = []


def _mails(state: SimState) -> _Mails:
    found = getattr(state, "mails", None)
    if found is None:
        found = _Mails()
        state.mails = found  # type: ignore[attr-defined]
    return found


def mails_of(state: SimState) -> list[dict[str, Any]]:
    box = _mails(state)
    with box.lock:
        return [dict(m) for m in box.sent]


class PeopleHandlers:
    def __init__(self, state: SimState) -> None:
        self.state = state

    async def dispatch(self, route: Route, params: dict[str, str], request: Request, base: str) -> Response:
        sender = self.state.find_user(params["u"])
        if sender is None:
            raise GraphError(404, "ErrorInvalidUser", f"The requested user '{params['u']}' is invalid.")
        body = _json_body(await request.body())
        message = body.get("message")
        if not isinstance(message, dict):
            raise GraphError(400, "ErrorInvalidRequest", "The message is missing.")
        recipients = [((r or {}).get("emailAddress") or {}).get("address") for r in message.get("toRecipients") or []]
        if not recipients or not all(isinstance(r, str) and "@" in r for r in recipients):
            raise GraphError(400, "ErrorInvalidRecipients", "At least one recipient is not valid.")
        content = message.get("body") or {}
        box = _mails(self.state)
        with box.lock:
            box.sent.append({"from": sender["userPrincipalName"], "to": recipients, "subject": message.get("subject"),
                             "contentType": content.get("contentType"), "body": content.get("content"),
                             "at": datetime.now(UTC).isoformat()})
        return Response(status_code=202)


def build_routes(state: SimState) -> list[HttpRoute]:
    async def list_mails(request: Request) -> Response:
        return JSONResponse({"value": mails_of(state)})

    async def clear_mails(request: Request) -> Response:
        box = _mails(state)
        with box.lock:
            box.sent.clear()
        return Response(status_code=204)

    return [HttpRoute("/_sim/mails", list_mails, methods=["GET"]),
            HttpRoute("/_sim/mails", clear_mails, methods=["DELETE"])]
