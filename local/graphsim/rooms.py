"""SimState methods for rooms: the room list behind /places, the room's auto-accept, and
"Outlook" changes made by a person.

Auto-accept as Exchange does it for a room with the default booking policy: when an organizer's
event lists a room as a resource attendee, the room's calendar gets its own copy (own id and
changeKey, the organizer's iCalUId, the booker as organizer, the room as location). Updates of the
organizer's event update the copy; deleting it (a cancellation) or dropping the room deletes the
copy. Extended properties and transactionId are not copied: Graph doesn't document that they are
(facts.md 3.6), so clients must recognise their own bookings by iCalUId.
"""

from __future__ import annotations

import copy
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from . import events as ev_mod
from .errors import GraphError

_PLACE_DEFAULTS: dict[str, Any] = {
    "capacity": None, "building": None, "floorNumber": None, "floorLabel": None,
    "bookingType": "standard", "isWheelchairAccessible": False, "tags": [], "nickname": None,
    "label": None, "phone": None, "address": None, "geoCoordinates": None,
    "audioDeviceName": None, "videoDeviceName": None, "displayDeviceName": None,
}
_PROPS = {"capacity": "capacity", "building": "building", "floor_number": "floorNumber",
          "floor_label": "floorLabel", "booking_type": "bookingType",
          "is_wheelchair_accessible": "isWheelchairAccessible", "tags": "tags",
          "nickname": "nickname", "label": "label", "phone": "phone", "address": "address"}


class RoomsMixin:
    _lock: threading.RLock
    _events: dict[str, dict[str, ev_mod.StoredEvent]]
    _seq: Any

    def _init_rooms(self) -> None:
        self._rooms: dict[str, dict[str, Any]] = {}  # lower-case email -> place JSON
        self.room_update_echoes = 2

    # -- the room list
    def add_room(self, email: str, display_name: str, **props: Any) -> dict[str, Any]:
        """A room: a place for /places and a mailbox (an Entra user, disabled as resource
        accounts are). ``props`` in snake_case or Graph's camelCase: capacity, building,
        floor_number, booking_type, is_wheelchair_accessible, ..."""
        with self._lock:
            existing = self._rooms.get(email.lower())
            place = dict(_PLACE_DEFAULTS) | (existing or {}) | {
                "id": existing["id"] if existing else str(uuid.uuid4()),
                "emailAddress": email, "displayName": display_name,
            }
            for key, value in props.items():
                if key in _PROPS or key in _PROPS.values():
                    place[_PROPS.get(key, key)] = value
            place["nickname"] = place["nickname"] or display_name
            self._rooms[email.lower()] = place
            self.add_user(email, display_name=display_name,  # type: ignore[attr-defined]
                          account_enabled=False)
            return dict(place)

    def rooms(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(p) for p in self._rooms.values()]

    def _room_mailbox_ids(self) -> dict[str, str]:
        out = {}
        for email in self._rooms:
            user = self.find_user(email)  # type: ignore[attr-defined]
            if user is not None:
                out[email] = user["id"]
        return out

    # -- "Outlook": a person changing a calendar, seen by the connector like another app's write
    def outlook_create(self, mailbox: str, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            ev = self.create_event(mailbox, body)  # type: ignore[attr-defined]
            return self._full(ev)

    def outlook_update(self, mailbox: str, event_id: str, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            ev = self.update_event(mailbox, event_id, body)  # type: ignore[attr-defined]
            return self._full(ev)

    def outlook_delete(self, mailbox: str, event_id: str) -> None:
        self.delete_event(mailbox, event_id)  # type: ignore[attr-defined]

    def _full(self, ev: ev_mod.StoredEvent) -> dict[str, Any]:
        return ev_mod.render(ev, organizer=self.organizer_of(ev.mailbox_id),  # type: ignore[attr-defined]
                             context=None, zone="UTC", full=True)

    # -- auto-accept
    def _booked_rooms(self, ev: ev_mod.StoredEvent) -> dict[str, str]:
        """Rooms (email -> mailbox id) the event books, other than its own mailbox."""
        rooms = self._room_mailbox_ids()
        out = {}
        for att in ev.props.get("attendees") or []:
            address = str((att.get("emailAddress") or {}).get("address") or "").lower()
            if str(att.get("type", "")).lower() == "resource" and address in rooms \
                    and rooms[address] != ev.mailbox_id:
                out[address] = rooms[address]
        return out

    def _room_copies(self, ev: ev_mod.StoredEvent) -> dict[str, ev_mod.StoredEvent]:
        """Existing copies of an organizer's event, by room mailbox id."""
        out = {}
        for mailbox_id in self._room_mailbox_ids().values():
            for other in self._events.get(mailbox_id, {}).values():
                if other.ical_uid == ev.ical_uid and other.organizer_override is not None:
                    out[mailbox_id] = other
        return out

    def _sync_room_copies(self, kind: str, ev: ev_mod.StoredEvent) -> None:
        """Called under the lock after an organizer's event changed."""
        if ev.organizer_override is not None:
            return  # a room's copy never books further rooms
        wanted = {} if kind == "deleted" else self._booked_rooms(ev)
        copies = self._room_copies(ev)
        for email, mailbox_id in wanted.items():
            existing = copies.pop(mailbox_id, None)
            if existing is None:
                made = self._make_copy(ev, email, mailbox_id)
                self._events.setdefault(mailbox_id, {})[made.id] = made
                self._event_changed("created", made,  # type: ignore[attr-defined]
                                    echoes=self.room_update_echoes)
            else:
                self._fill_copy(existing, ev, email)
                self._event_changed("updated", existing)  # type: ignore[attr-defined]
        for mailbox_id, stale in copies.items():
            del self._events[mailbox_id][stale.id]
            self._event_changed("deleted", stale)  # type: ignore[attr-defined]

    def _make_copy(self, ev: ev_mod.StoredEvent, email: str, mailbox_id: str) -> ev_mod.StoredEvent:
        now = datetime.now(UTC)
        made = ev_mod.StoredEvent(
            id=ev_mod.new_event_id(), mailbox_id=mailbox_id, seq=next(self._seq), created=now,
            modified=now, change_key="", ical_uid=ev.ical_uid, start=ev.start, end=ev.end,
            start_zone=ev.start_zone, end_zone=ev.end_zone,
            organizer_override=self.organizer_of(ev.mailbox_id),  # type: ignore[attr-defined]
        )
        self._fill_copy(made, ev, email)
        return made

    def _fill_copy(self, target: ev_mod.StoredEvent, source: ev_mod.StoredEvent, email: str) -> None:
        room = self._rooms[email]
        location = {"displayName": room["displayName"], "locationType": "conferenceRoom",
                    "uniqueId": room["emailAddress"], "uniqueIdType": "directory",
                    "locationEmailAddress": room["emailAddress"], "address": {}, "coordinates": {}}
        now = datetime.now(UTC)
        target.props = copy.deepcopy(source.props) | {
            "isOrganizer": False, "location": location, "locations": [dict(location)],
            "responseStatus": {"response": "accepted", "time": ev_mod.fmt_ts(now)},
        }
        target.start, target.end = source.start, source.end
        target.start_zone, target.end_zone = source.start_zone, source.end_zone
        target.organizer_override = self.organizer_of(source.mailbox_id)  # type: ignore[attr-defined]
        target.modified = now
        target.change_key = ev_mod.new_change_key()


def check_room_email(email: str) -> str:
    if "@" not in email:
        raise GraphError(400, "BadRequest", f"'{email}' is not an email address.")
    return email
