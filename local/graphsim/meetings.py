"""SimState methods for meetings with attendees, as Exchange handles them for an organizer's event:

* invitations: each attendee the simulator knows (not a room) gets a copy in their calendar with its own id,
  the organizer's iCalUId, ``isOrganizer`` false and ``responseStatus`` none; updates of the organizer's event
  update the copies, an attendee dropped from the list gets a cancellation;
* rooms (resource attendees) are accepted by the room's booking policy (here: always, as a room with the default
  AutomateProcessing=AutoAccept and no conflicts); the room's own copy is ``rooms.py``'s;
* ``isOnlineMeeting`` with ``teamsForBusiness`` fills ``onlineMeeting`` {joinUrl, conferenceId, tollNumber};
  ``join_url_after_reads`` makes it appear only on a later read of the event (Graph may fill it after the create);
* ``POST .../events/{id}/cancel`` {"Comment"}: only the organizer may (400 ErrorInvalidRequest otherwise, with
  Graph's message); attendees' copies become ``isCancelled`` with the comment in their body, and the organizer's
  event goes to Deleted Items (gone from the calendar); a plain DELETE by the organizer cancels the copies too.

Extended properties and transactionId are not copied to invitations.
"""

from __future__ import annotations

import copy
import json
import secrets
import threading
from datetime import UTC, datetime
from html import escape
from typing import Any

from starlette.responses import Response

from . import events as ev_mod
from .errors import GraphError

_NOT_ORGANIZER = "Your request can't be completed. You need to be an organizer to cancel a meeting."
_NO_RESPONSE = {"response": "none", "time": "0001-01-01T00:00:00Z"}


class MeetingsMixin:
    _lock: threading.RLock
    _events: dict[str, dict[str, ev_mod.StoredEvent]]
    _seq: Any

    def _init_meetings(self) -> None:
        self.join_url_after_reads = 0  # 0: the create's answer carries the join link; n: the n-th read shows it
        self._join_pending: dict[str, int] = {}  # event id -> reads still to come before the link shows
        self._invited: set[str] = set()  # iCalUIds of meetings with invitations out (others skip the scan)

    def _reset_meetings(self) -> None:
        self._init_meetings()

    # -- hooks
    def _meeting_changed(self, kind: str, ev: ev_mod.StoredEvent) -> None:
        """Called under the lock after an event changed (state.py's hook in features.py)."""
        if ev.organizer_override is not None:
            return  # a copy (an invitation, a room's) never invites further
        if kind != "deleted":
            self._online(ev)
            self._accept_rooms(ev)
        self._sync_invitations(kind, ev)

    def meeting_read(self, ev: ev_mod.StoredEvent) -> None:
        """A GET of the event: a join link held back shows once enough reads have come."""
        with self._lock:
            left = self._join_pending.get(ev.id)
            if left is None:
                return
            if left <= 1:
                del self._join_pending[ev.id]
                ev.props["onlineMeeting"] = _online_meeting()
                self._sync_invitations("updated", ev)
            else:
                self._join_pending[ev.id] = left - 1

    def _online(self, ev: ev_mod.StoredEvent) -> None:
        props = ev.props
        if props.get("onlineMeeting") is not None:
            props["isOnlineMeeting"] = True  # once online, it can't be turned off
            return
        if not props.get("isOnlineMeeting") or props.get("onlineMeetingProvider") != "teamsForBusiness":
            return
        if self.join_url_after_reads > 0:
            self._join_pending.setdefault(ev.id, self.join_url_after_reads)
        else:
            props["onlineMeeting"] = _online_meeting()

    def _accept_rooms(self, ev: ev_mod.StoredEvent) -> None:
        rooms = getattr(self, "_rooms", {})
        for attendee in ev.props.get("attendees") or []:
            address = str((attendee.get("emailAddress") or {}).get("address") or "").lower()
            if attendee.get("type") == "resource" and address in rooms \
                    and (attendee.get("status") or {}).get("response") in (None, "none"):
                attendee["status"] = {"response": "accepted", "time": ev_mod.fmt_ts(datetime.now(UTC))}

    # -- invitations
    def _invitees(self, ev: ev_mod.StoredEvent) -> dict[str, str]:
        """Mailbox id -> address of each attendee the simulator knows, rooms and the organizer left out."""
        rooms = getattr(self, "_rooms", {})
        by_address = {str(u.get(k) or "").lower(): u for u in self.users()  # type: ignore[attr-defined]
                      for k in ("mail", "userPrincipalName")}  # Exchange resolves attendees by SMTP address
        out = {}
        for attendee in ev.props.get("attendees") or []:
            address = str((attendee.get("emailAddress") or {}).get("address") or "").lower()
            user = by_address.get(address) if attendee.get("type") != "resource" else None
            if user is not None and address not in rooms and user["id"] != ev.mailbox_id:
                out[user["id"]] = address
        return out

    def _invitations(self, ev: ev_mod.StoredEvent) -> dict[str, ev_mod.StoredEvent]:
        rooms = set(self._room_mailbox_ids().values())  # type: ignore[attr-defined]
        return {mailbox_id: other for mailbox_id, box in self._events.items() if mailbox_id not in rooms
                for other in box.values()
                if other.ical_uid == ev.ical_uid and other.organizer_override is not None}

    def _sync_invitations(self, kind: str, ev: ev_mod.StoredEvent, comment: str | None = None) -> None:
        wanted = {} if kind == "deleted" else self._invitees(ev)
        if not wanted and ev.ical_uid not in self._invited:
            return  # no attendee the simulator knows, now or before
        self._invited.add(ev.ical_uid)
        copies = self._invitations(ev)
        for mailbox_id in wanted:
            existing = copies.pop(mailbox_id, None)
            if existing is not None and existing.props.get("isCancelled"):
                existing = None  # invited again after a cancellation: a new invitation
            target = existing or ev_mod.StoredEvent(
                id=ev_mod.new_event_id(), mailbox_id=mailbox_id, seq=next(self._seq), created=datetime.now(UTC),
                modified=datetime.now(UTC), change_key="", ical_uid=ev.ical_uid, start=ev.start, end=ev.end,
                start_zone=ev.start_zone, end_zone=ev.end_zone)
            response = (existing.props.get("responseStatus") if existing else None) or dict(_NO_RESPONSE)
            target.props = copy.deepcopy(ev.props) | {"isOrganizer": False, "responseStatus": response}
            target.start, target.end, target.start_zone, target.end_zone = ev.start, ev.end, ev.start_zone, ev.end_zone
            self._touch(target, ev)
            if existing is None:
                self._events.setdefault(mailbox_id, {})[target.id] = target
            self._event_changed("created" if existing is None else "updated", target)  # type: ignore[attr-defined]
        for stale in copies.values():
            if not stale.props.get("isCancelled"):
                self._cancel_copy(stale, ev, comment)

    def _touch(self, target: ev_mod.StoredEvent, organizers: ev_mod.StoredEvent) -> None:
        target.organizer_override = self.organizer_of(organizers.mailbox_id)  # type: ignore[attr-defined]
        target.modified = datetime.now(UTC)
        target.change_key = ev_mod.new_change_key()

    def _cancel_copy(self, target: ev_mod.StoredEvent, organizers: ev_mod.StoredEvent, comment: str | None) -> None:
        subject = str(target.props.get("subject") or "")
        target.props["subject"] = subject if subject.startswith("Canceled: ") else f"Canceled: {subject}"
        target.props["isCancelled"] = True
        if comment:
            target.props["body"] = {"contentType": "html",
                                    "content": f"<html><body><p>{escape(comment)}</p></body></html>"}
        self._touch(target, organizers)
        self._event_changed("updated", target)  # type: ignore[attr-defined]

    # -- the cancel action
    def cancel_meeting(self, mailbox: str, event_id: str, comment: str | None) -> None:
        with self._lock:
            ev = self.get_event(mailbox, event_id)  # type: ignore[attr-defined]
            if ev.organizer_override is not None or not ev.props.get("isOrganizer", True):
                raise GraphError(400, "ErrorInvalidRequest", _NOT_ORGANIZER)
            for invitation in self._invitations(ev).values():
                if not invitation.props.get("isCancelled"):
                    self._cancel_copy(invitation, ev, comment)
            self._join_pending.pop(ev.id, None)
            # The organizer's event moves to Deleted Items: gone from the calendar (rooms.py frees the rooms).
            self.delete_event(mailbox, event_id)  # type: ignore[attr-defined]


async def cancel(state: Any, mailbox: str, event_id: str, raw: bytes) -> Response:
    """``POST /users/{u}/events/{id}/cancel`` with ``{"Comment": "..."}`` → 202, as Graph."""
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise GraphError(400, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type "
                         "header is set and payload is of valid JSON format.")
    comment = next((v for k, v in body.items() if k.lower() == "comment"), None)
    if comment is not None and not isinstance(comment, str):
        raise GraphError(400, "BadRequest", "Invalid value for the parameter 'Comment'.")
    state.cancel_meeting(mailbox, event_id, comment)
    return Response(status_code=202)


def _online_meeting() -> dict[str, Any]:
    thread = secrets.token_urlsafe(36).replace("-", "a").replace("_", "b")
    return {
        "joinUrl": f"https://teams.microsoft.com/l/meetup-join/19%3ameeting_{thread}%40thread.v2/0"
                   "?context=%7b%22Tid%22%3a%2272f988bf-86f1-41af-91ab-2d7cd011db47%22%7d",
        "conferenceId": str(secrets.randbelow(900_000_000) + 100_000_000),
        "tollNumber": "+1 425 555 0123",
    }
