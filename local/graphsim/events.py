"""The event resource: validation of writes and rendering in Graph's JSON shape."""

from __future__ import annotations

import base64
import copy
import html
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from . import recurrence as rec_mod
from . import zones
from .errors import GraphError
from .filters import normalize_prop_id

WRITABLE = {
    "subject", "body", "start", "end", "location", "locations", "attendees", "categories",
    "importance", "sensitivity", "showAs", "isAllDay", "isReminderOn",
    "reminderMinutesBeforeStart", "transactionId", "singleValueExtendedProperties",
    "allowNewTimeProposals", "responseRequested", "hideAttendees", "isOnlineMeeting",
    "onlineMeetingProvider", "recurrence", "originalStartTimeZone", "originalEndTimeZone",
}
# Sent back by clients that round-trip a read event; Graph ignores them on write.
READ_ONLY = {
    "id", "changeKey", "createdDateTime", "lastModifiedDateTime", "iCalUId", "bodyPreview",
    "webLink", "organizer", "responseStatus", "isOrganizer", "type", "seriesMasterId",
    "hasAttachments", "isCancelled", "isDraft", "onlineMeeting", "onlineMeetingUrl",
}
_DEFAULTS: dict[str, Any] = {
    "categories": [], "reminderMinutesBeforeStart": 15, "isReminderOn": True,
    "hasAttachments": False, "hideAttendees": False, "subject": "", "importance": "normal",
    "sensitivity": "normal", "isAllDay": False, "isCancelled": False, "isDraft": False,
    "isOrganizer": True, "responseRequested": True, "seriesMasterId": None, "showAs": "busy",
    "type": "singleInstance", "onlineMeetingUrl": None, "isOnlineMeeting": False,
    "onlineMeetingProvider": "unknown", "onlineMeeting": None, "allowNewTimeProposals": True,
    "recurrence": None, "attendees": [],
    "responseStatus": {"response": "organizer", "time": "0001-01-01T00:00:00Z"},
    "body": {"contentType": "text", "content": ""},
}
_EMPTY_LOCATION = {"displayName": "", "locationType": "default", "uniqueIdType": "unknown",
                   "address": {}, "coordinates": {}}


def _b64(n: int, urlsafe: bool = False) -> str:
    raw = secrets.token_bytes(n)
    return (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(raw).decode()


def new_event_id() -> str:
    # Exchange REST ids are ~150 chars of url-safe base64 starting "AAMk"; clients must treat them
    # as opaque and URL-encode them, so we produce the same alphabet including '-', '_' and '='.
    return "AAMkA" + _b64(106, urlsafe=True)


def new_change_key() -> str:
    return _b64(22)


def fmt_ts(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


@dataclass
class StoredEvent:
    id: str
    mailbox_id: str
    seq: int
    created: datetime
    modified: datetime
    change_key: str
    ical_uid: str
    start: datetime  # UTC instant
    end: datetime
    start_zone: str
    end_zone: str
    props: dict[str, Any] = field(default_factory=dict)
    ext_props: dict[str, tuple[str, str]] = field(default_factory=dict)  # norm id -> (id, value)
    transaction_id: str | None = None
    # A room's copy of a booking shows the booker as organizer, not the room mailbox.
    organizer_override: dict[str, Any] | None = None

    def ext_values(self) -> dict[str, str]:
        return {k: v for k, (_, v) in self.ext_props.items()}


def _body_preview(body: dict[str, Any]) -> str:
    text = str(body.get("content") or "")
    if str(body.get("contentType", "")).lower() == "html":
        text = re.sub(r"<(script|style|head)[^>]*>.*?</\1>", " ", text, flags=re.S | re.I)
        text = html.unescape(re.sub(r"<[^>]+>", " ", text))
    return " ".join(text.split())[:255]


def _location(loc: dict[str, Any] | None) -> dict[str, Any]:
    if not loc or not loc.get("displayName"):
        return copy.deepcopy(_EMPTY_LOCATION)
    out = {"locationType": "default", "uniqueId": loc["displayName"], "uniqueIdType": "private"}
    out.update(loc)
    return out


def _attendee(att: dict[str, Any]) -> dict[str, Any]:
    out = {"type": "required", "status": {"response": "none", "time": "0001-01-01T00:00:00Z"}}
    out.update(copy.deepcopy(att))
    if isinstance(out.get("type"), str):
        out["type"] = out["type"][:1].lower() + out["type"][1:]  # SDK enums are lower camel
    return out


def _check_keys(body: dict[str, Any]) -> None:
    for key in body:
        if key.startswith("@odata.") or key in WRITABLE or key in READ_ONLY:
            continue
        raise GraphError(
            400, "RequestBodyRead",
            f"The property '{key}' does not exist on type 'Microsoft.OutlookServices.Event'. Make "
            "sure to only use property names that are defined by the type or mark the type as "
            "open type.",
        )


def _date_time(value: Any, name: str) -> tuple[datetime, str]:
    if not isinstance(value, dict) or not value.get("dateTime"):
        raise GraphError(400, "ErrorInvalidRequest", f"The '{name}' property is not valid.")
    zone = value.get("timeZone") or "UTC"
    return zones.to_instant(str(value["dateTime"]), zone), zone


def _validate_times(ev: StoredEvent) -> None:
    failed = ev.end < ev.start
    if ev.props.get("isAllDay"):
        for instant, zone in ((ev.start, ev.start_zone), (ev.end, ev.end_zone)):
            local = instant.astimezone(zones.resolve_zone(zone))
            failed = failed or (local.hour, local.minute, local.second, local.microsecond) != (0, 0, 0, 0)
        failed = failed or ev.end == ev.start
    if failed:
        # Exchange gives no detail for either case (observed in microsoft-graph-docs#7919).
        raise GraphError(400, "ErrorPropertyValidationFailure", "At least one property failed validation.")


def apply_write(ev: StoredEvent, body: dict[str, Any], now: datetime) -> None:
    """Merge a POST/PATCH body into ``ev`` (validated before anything changes)."""
    _check_keys(body)
    start, start_zone = _date_time(body["start"], "start") if "start" in body else (ev.start, ev.start_zone)
    end, end_zone = _date_time(body["end"], "end") if "end" in body else (ev.end, ev.end_zone)
    ext = body.get("singleValueExtendedProperties") or []
    if not isinstance(ext, list) or any(not isinstance(p, dict) or "id" not in p for p in ext):
        raise GraphError(400, "BadRequest", "Invalid singleValueExtendedProperties.")
    trial = copy.deepcopy(ev)
    trial.start, trial.start_zone, trial.end, trial.end_zone = start, start_zone, end, end_zone
    for key, value in body.items():
        if key not in WRITABLE or key in ("start", "end", "singleValueExtendedProperties"):
            continue
        if key == "transactionId":
            # Graph keeps the first transactionId; it cannot be changed by an update.
            trial.transaction_id = trial.transaction_id or value
        elif key == "location":
            trial.props["location"] = _location(value)
            # Updating location replaces locations, as Graph documents.
            trial.props["locations"] = [
                {k: v for k, v in _location(value).items() if k not in ("uniqueId",)}
                | {"uniqueIdType": "unknown"}
            ] if value and value.get("displayName") else []
        elif key == "locations":
            trial.props["locations"] = [_location(loc) for loc in value or []]
            if "location" not in body and value:
                names = "; ".join(str(loc.get("displayName", "")) for loc in value)
                trial.props["location"] = _location({"displayName": names})
        elif key == "attendees":
            trial.props["attendees"] = [_attendee(a) for a in value or []]
        elif key == "recurrence":
            local = start.astimezone(zones.resolve_zone(start_zone))
            trial.props["recurrence"] = rec_mod.normalize(value, local, start_zone) if value else None
            trial.props["type"] = "seriesMaster" if value else "singleInstance"
        elif key == "body":
            trial.props["body"] = {"contentType": "text", "content": ""} | dict(value or {})
            trial.props["body"]["contentType"] = str(trial.props["body"]["contentType"]).lower()
        else:
            trial.props[key] = copy.deepcopy(value)
    for prop in ext:
        trial.ext_props[normalize_prop_id(prop["id"])] = (prop["id"], str(prop.get("value", "")))
    _validate_times(trial)
    trial.modified = now
    trial.change_key = new_change_key()
    ev.__dict__.update(trial.__dict__)


def create(mailbox_id: str, seq: int, body: dict[str, Any], now: datetime) -> StoredEvent:
    if "start" not in body or "end" not in body:
        raise GraphError(400, "ErrorInvalidRequest", "The event needs both start and end.")
    ev = StoredEvent(
        id=new_event_id(), mailbox_id=mailbox_id, seq=seq, created=now, modified=now,
        change_key="", ical_uid="040000008200E00074C5B7101A82E00800000000"
        + secrets.token_hex(28).upper(),
        start=now, end=now, start_zone="UTC", end_zone="UTC",
        props=copy.deepcopy(_DEFAULTS),
    )
    ev.props["location"] = copy.deepcopy(_EMPTY_LOCATION)
    ev.props["locations"] = []
    apply_write(ev, body, now)
    return ev


def render(
    ev: StoredEvent,
    *,
    organizer: dict[str, Any],
    context: str | None,
    zone: str | None,
    select: set[str] | None = None,
    expand: str | None | bool = False,
    full: bool = False,
) -> dict[str, Any]:
    """Event JSON as Graph returns it.

    ``zone``: render start/end in that zone; None echoes the zones the client wrote.
    ``expand``: False = no extended properties, None = all, str = only that id.
    ``full``: control-API view with extended properties and transactionId always included.
    """
    out: dict[str, Any] = {}
    if context:
        out["@odata.context"] = context
    out["@odata.etag"] = f'W/"{ev.change_key}"'
    out |= {
        "id": ev.id,
        "createdDateTime": fmt_ts(ev.created),
        "lastModifiedDateTime": fmt_ts(ev.modified),
        "changeKey": ev.change_key,
        "iCalUId": ev.ical_uid,
        "originalStartTimeZone": ev.props.get("originalStartTimeZone", ev.start_zone),
        "originalEndTimeZone": ev.props.get("originalEndTimeZone", ev.end_zone),
        "bodyPreview": _body_preview(ev.props.get("body") or {}),
        "webLink": "https://outlook.office365.com/owa/?itemid="
        + quote(ev.id, safe="") + "&exvsurl=1&path=/calendar/item",
    }
    out |= copy.deepcopy(ev.props)
    out["start"] = zones.render(ev.start, zone or ev.start_zone)
    out["end"] = zones.render(ev.end, zone or ev.end_zone)
    out["organizer"] = ev.organizer_override or organizer
    if ev.transaction_id is not None:
        out["transactionId"] = ev.transaction_id
    if full or expand is not False:
        wanted = None if full or expand is None else normalize_prop_id(str(expand))
        out["singleValueExtendedProperties"] = [
            {"id": pid, "value": value}
            for key, (pid, value) in ev.ext_props.items()
            if wanted is None or key == wanted
        ]
    if select and not full:
        keep = {s.strip() for s in select} | {"id", "@odata.etag", "@odata.context"}
        if expand is not False:
            keep.add("singleValueExtendedProperties")
        out = {k: v for k, v in out.items() if k in keep}
    return out
