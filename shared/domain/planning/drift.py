"""Drift: what the mapping says against the connector's own events in one calendar. Pure.

``find_drift`` compares, for one mailbox, the live mapping rows (each with the planning event it last
applied) with the events in the calendar that carry the connector's extended property, within a time
window, and classifies what differs:

* ``deleted``: a mapped event whose time falls in the window is missing from the calendar;
* ``changed``: a mapped event's managed fields differ from what the connector wrote;
* ``orphan``: an event carries our property but no mapping points to it;
* ``rebuilt``: like an orphan, but the mailbox has no mapping row at all (Table Storage was lost).

"Changed" compares a fingerprint over the fields Graph returns as written (subject, times, all-day,
show-as, categories, location name); the HTML body is left out because Exchange rewrites it. Reservations
(appointments people attend) follow the people contract: people may edit the text, not the times, so only
their times count.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from shared.domain.planning.model import EntityKey, Mapping, Version
from shared.domain.planning.render import Desired
from shared.domain.timezones import resolve_time_zone

__all__ = ["DRIFT_KINDS", "DriftKind", "Finding", "MappedEntry", "REBUILT_VERSION", "TaggedEvent", "fingerprint",
           "find_drift", "parse_source_key", "rebuilt_mapping", "start_of"]

DriftKind = Literal["deleted", "changed", "orphan", "rebuilt"]
DRIFT_KINDS: tuple[DriftKind, ...] = ("deleted", "changed", "orphan", "rebuilt")

# A rebuilt mapping does not know what was applied: any real event is newer than this.
REBUILT_VERSION = Version(datetime(1970, 1, 1, tzinfo=UTC), None)


@dataclass(frozen=True)
class TaggedEvent:
    """An event in a calendar that carries the connector's source-key property, as Graph lists it."""

    id: str
    source_key: str
    content: dict[str, Any]  # Graph's JSON of the fields the fingerprint reads


@dataclass(frozen=True)
class MappedEntry:
    """A live mapping row of the mailbox, with what its last applied planning event renders to (None: not
    known, as for a rebuilt row or one written before the connector kept it)."""

    mapping: Mapping
    desired: Desired | None
    family: str = "task"


@dataclass(frozen=True)
class Finding:
    kind: DriftKind
    key: EntityKey | None  # None: the event's source key does not parse
    event_id: str
    adopt: bool = False  # an orphan that may become the entity's mapping (no row for its key)


def parse_source_key(value: str) -> EntityKey | None:
    """``"{source} {subject}"`` (``EntityKey.value``) → the key; None when it is not one of ours."""
    source, _, subject = value.partition(" ")
    if not source or not subject or " " in subject:
        return None
    return EntityKey(source, subject)


def rebuilt_mapping(key: EntityKey, mailbox: str, event_id: str) -> Mapping:
    """The row an adopted event gets: no content hash, so the next planning event rewrites it."""
    return Mapping(key, REBUILT_VERSION, mailbox=mailbox, event_id=event_id, content_hash=None, generation=1)


def fingerprint(content: dict[str, Any], *, times_only: bool = False) -> str:
    """A hash of the managed fields as Graph returns them (times as UTC instants, so zones may differ)."""
    fields: dict[str, Any] = {
        "start": _instant(content.get("start")),
        "end": _instant(content.get("end")),
        "isAllDay": bool(content.get("isAllDay")),
    }
    if not times_only:
        fields |= {
            "subject": (content.get("subject") or "").strip(),
            "showAs": (content.get("showAs") or "").lower(),
            "categories": sorted(content.get("categories") or []),
            "location": ((content.get("location") or {}).get("displayName") or "").strip(),
        }
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode("utf-8")).hexdigest()


def start_of(content: dict[str, Any]) -> datetime | None:
    return _parse(content.get("start"))


def find_drift(mailbox: str, mapped: list[MappedEntry], listed: list[TaggedEvent], *,
               window: tuple[datetime, datetime], known_elsewhere: frozenset[EntityKey] = frozenset()) -> list[Finding]:
    """Classify the differences between ``mapped`` (the mailbox's live rows) and ``listed`` (its tagged events in
    ``window``). ``known_elsewhere``: keys of listed events that have a row outside this mailbox (moved, or
    removed: a tombstone), whose events here are orphans to remove, never to adopt."""
    findings: list[Finding] = []
    by_id = {event.id: event for event in listed}
    mapped_ids = {entry.mapping.event_id for entry in mapped}
    mapped_keys = {entry.mapping.key for entry in mapped}
    for entry in mapped:
        row, desired = entry.mapping, entry.desired
        if desired is None or row.event_id is None or desired.mailbox != mailbox.lower():
            continue  # nothing known to compare with
        start = start_of(desired.content)
        if "recurrence" in desired.content or start is None or not window[0] <= start < window[1]:
            continue  # a series, or outside the window the listing covers
        event = by_id.get(row.event_id)
        if event is None:
            findings.append(Finding("deleted", row.key, row.event_id))
        elif fingerprint(event.content, times_only=entry.family == "reservation") != fingerprint(
                desired.content, times_only=entry.family == "reservation"):
            findings.append(Finding("changed", row.key, row.event_id))
    adopted: set[EntityKey] = set()
    for event in listed:
        if event.id in mapped_ids:
            continue
        key = parse_source_key(event.source_key)
        # No row for the key anywhere: the event is the entity's, adopt it (the mapping was lost). A second
        # event with the same key is a duplicate: removed.
        adopt = key is not None and key not in mapped_keys and key not in known_elsewhere and key not in adopted
        if adopt and key is not None:
            adopted.add(key)
        kind: DriftKind = "rebuilt" if adopt and not mapped else "orphan"
        findings.append(Finding(kind, key, event.id, adopt=adopt))
    return findings


def _parse(value: Any) -> datetime | None:
    if not isinstance(value, dict) or not value.get("dateTime"):
        return None
    try:
        wall = datetime.fromisoformat(str(value["dateTime"])[:19])
        zone = resolve_time_zone(str(value.get("timeZone") or "UTC"))
    except ValueError:
        return None
    return wall.replace(tzinfo=zone.zone).astimezone(UTC)


def _instant(value: Any) -> str | None:
    parsed = _parse(value)
    return parsed.isoformat() if parsed else None
