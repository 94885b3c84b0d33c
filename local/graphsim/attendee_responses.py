"""Attendees answering on demand (under /_sim, no auth): the organizer's event shows the answer as Graph does, in
``attendees[].status`` {response, time} and, for a counter-proposal, ``attendees[].proposedNewTime`` {start, end},
with a new changeKey, and the organizer's calendar subscriptions get an ``updated`` notification like any change.

``POST /_sim/outlook/{mailbox}/events/{id}/responses`` {"attendee": email, "response": "accepted" |
"tentativelyAccepted" | "declined" | "none" | "notResponded", "proposedNewTime": {"start": dateTimeTimeZone,
"end": dateTimeTimeZone} (optional)} → the event as Graph renders it.
As in Outlook, only a tentative or declining answer proposes a time, only while the organizer allows new time
proposals (``allowNewTimeProposals``), and only an attendee of the meeting answers it.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import events as ev_mod
from . import zones
from .control_rooms import _body, _guard
from .errors import GraphError
from .state import SimState

__all__ = ["RESPONSES", "build_routes", "respond"]

RESPONSES = frozenset({"none", "notResponded", "accepted", "tentativelyAccepted", "declined"})
_PROPOSING = frozenset({"tentativelyAccepted", "declined"})


def respond(state: SimState, mailbox: str, event_id: str, attendee: str, response: str,
            proposed: dict[str, Any] | None = None) -> dict[str, Any]:
    """Set ``attendee``'s answer on the organizer's event; notifies like any other change."""
    if response not in RESPONSES:
        raise GraphError(400, "BadRequest", f"response must be one of {sorted(RESPONSES)}.")
    with state._lock:
        ev = state.get_event(mailbox, event_id)
        if ev.organizer_override is not None:
            raise GraphError(400, "BadRequest", "Answers are given to the organizer's event, not a room's copy.")
        slot = _slot(proposed) if proposed is not None else None
        if slot is not None and (response not in _PROPOSING or not ev.props.get("allowNewTimeProposals", True)):
            raise GraphError(400, "BadRequest", "A new time is proposed only with tentativelyAccepted or declined, "
                                                "and only while the organizer allows new time proposals.")
        attendees = copy.deepcopy(ev.props.get("attendees") or [])
        wanted = attendee.strip().lower()
        matches = [a for a in attendees if str((a.get("emailAddress") or {}).get("address", "")).lower() == wanted]
        if not matches:
            raise GraphError(404, "ErrorItemNotFound", f"'{attendee}' is not an attendee of the event.")
        now = datetime.now(UTC)
        for found in matches:
            found["status"] = {"response": response, "time": ev_mod.fmt_ts(now)}
            found.pop("proposedNewTime", None)
            if slot is not None:
                found["proposedNewTime"] = slot
        ev.props["attendees"] = attendees
        ev.modified, ev.change_key = now, ev_mod.new_change_key()
        state._event_changed("updated", ev)
        return state._full(ev)


def _slot(proposed: dict[str, Any]) -> dict[str, Any]:
    """Graph's timeSlot, each end rendered in the zone it was given in (checked like an event's start/end)."""
    if not isinstance(proposed, dict):
        raise GraphError(400, "BadRequest", "proposedNewTime must be {start, end}.")
    out = {}
    for name in ("start", "end"):
        value = proposed.get(name)
        if not isinstance(value, dict) or not value.get("dateTime"):
            raise GraphError(400, "BadRequest", f"proposedNewTime.{name} must be a dateTimeTimeZone.")
        zone = str(value.get("timeZone") or "UTC")
        out[name] = zones.render(zones.to_instant(str(value["dateTime"]), zone), zone)
    if zones.to_instant(out["end"]["dateTime"], out["end"]["timeZone"]) <= \
            zones.to_instant(out["start"]["dateTime"], out["start"]["timeZone"]):
        raise GraphError(400, "BadRequest", "proposedNewTime must end after it starts.")
    return out


def build_routes(state: SimState) -> list[Route]:
    async def post_response(request: Request) -> Response:
        body = await _body(request)
        p = request.path_params
        return JSONResponse(respond(state, p["mailbox"], p["id"], str(body.get("attendee") or ""),
                                    str(body.get("response") or ""), body.get("proposedNewTime")))

    return [Route("/_sim/outlook/{mailbox}/events/{id}/responses", _guard(post_response), methods=["POST"])]
