"""Graph change and lifecycle notifications: parse, authenticate, turn into queue messages. Pure.

A POST may batch items of several subscriptions. Each item is checked on its own: an item whose
clientState was not minted with our key (forged, or a subscription we never made) is dropped and
counted; the rest become one queue message each, in the mailbox's session (a room's, or a watched
organizer's: the clientState says which). A change's message
id includes its version (the event's etag, else the notification's id), so duplicate detection drops
Graph's repeats of one notification but never a second change of the same event.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from shared.domain.rooms import client_state
from shared.domain.tenants.keys import tenant_queue_id

__all__ = ["Intake", "RoomWork", "parse_collection", "parse_items"]

CHANGE_TYPES = frozenset({"created", "updated", "deleted"})
LIFECYCLE_EVENTS = frozenset({"reauthorizationRequired", "subscriptionRemoved", "missed"})


@dataclass(frozen=True)
class RoomWork:
    """One unit of work for the notification worker (the body of a ``graph-notifications`` message)."""

    kind: str  # "change" | "lifecycle" | "resync" | "backfill" | "directory"
    room: str  # the session: the room mailbox (for "directory", the users directory's own session)
    subscription_id: str | None = None
    change_type: str | None = None
    event_id: str | None = None
    lifecycle_event: str | None = None
    backfill_from: str | None = None
    job_id: str | None = None
    # A continuation of long work: the delta page to read next, which step this is, and the run it belongs to.
    cursor: str | None = None
    step: int | None = None
    chain: str | None = None
    version: str | None = None  # what tells one notified change from the next (see ``_version``)
    calendar: str | None = None  # whose calendar: None a room's, "organizer" a watched organizer's
    tenant: str | None = None  # the calendar's tenant (from its clientState); None: the default tenant

    def to_json(self) -> bytes:
        payload = {k: v for k, v in self.__dict__.items() if v is not None}
        return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8")

    @classmethod
    def from_json(cls, body: bytes) -> RoomWork:
        raw = json.loads(body)
        if not isinstance(raw, dict) or not isinstance(raw.get("kind"), str) or not isinstance(raw.get("room"), str):
            raise ValueError("not a room work item")
        fields: dict[str, Any] = {k: raw.get(k) for k in cls.__dataclass_fields__}
        return cls(**fields)

    @property
    def message_id(self) -> str:
        """Deterministic, so Graph's repeated deliveries of one item are dropped by duplicate detection.

        A continuation is named by its run and step, not its cursor: a step that runs twice (a lost lock)
        gets a different next link from Graph, yet queues the same next step, which the queue drops.
        """
        if self.step:
            named = f"{self.kind}\n{self.room}\n{self.chain}\n{self.step}" + (f"\n{self.tenant}" if self.tenant else "")
            return hashlib.sha256(named.encode()).hexdigest()[:40]
        return hashlib.sha256(self.to_json()).hexdigest()[:40]

    @property
    def session_id(self) -> str:
        """The room's session: its work is serialised (a mailbox address may exceed Service Bus's 128); another
        tenant's is led by its id."""
        return tenant_queue_id(self.tenant, self.room)


@dataclass
class Intake:
    accepted: list[RoomWork] = field(default_factory=list)
    forged: int = 0
    malformed: int = 0


def parse_collection(body: bytes, keys: tuple[bytes, ...], *, lifecycle: bool) -> Intake | None:
    """The accepted work and drop counts; None when the body is not a notification collection."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    items = document.get("value") if isinstance(document, dict) else None
    if not isinstance(items, list):
        return None
    return parse_items(items, keys, lifecycle=lifecycle)


def parse_items(items: list[Any], keys: tuple[bytes, ...], *, lifecycle: bool) -> Intake:
    """Each item checked on its own: authentic ones become work, the rest are counted (forged, malformed).

    ``lifecycle``: every item must be a lifecycle notification (the lifecycle URL); otherwise an item is one
    when it has a ``lifecycleEvent``.
    """
    intake = Intake()
    for item in items:
        if not isinstance(item, dict):
            intake.malformed += 1
            continue
        found = client_state.identify(keys, item.get("clientState"))
        if found is None:
            intake.forged += 1
            continue
        work = _work(item, found.mailbox, lifecycle)
        if work is not None and (found.kind != client_state.ROOM or found.tenant):
            work = replace(work, calendar=None if found.kind == client_state.ROOM else found.kind,
                           tenant=found.tenant)
        if work is None:
            intake.malformed += 1
        else:
            intake.accepted.append(work)
    return intake


def _work(item: dict[str, Any], room: str, lifecycle: bool) -> RoomWork | None:
    subscription_id = item.get("subscriptionId")
    if not isinstance(subscription_id, str) or not subscription_id:
        return None
    event = item.get("lifecycleEvent")
    if lifecycle or event is not None:
        if event not in LIFECYCLE_EVENTS:
            return None
        return RoomWork("lifecycle", room, subscription_id=subscription_id, lifecycle_event=str(event),
                        version=_version(item))
    change_type = item.get("changeType")
    data = item.get("resourceData")
    event_id = (data.get("id") if isinstance(data, dict) else None) or _last_segment(item.get("resource"))
    if change_type not in CHANGE_TYPES or not isinstance(event_id, str) or not event_id:
        return None
    return RoomWork("change", room, subscription_id=subscription_id, change_type=str(change_type), event_id=event_id,
                    version=_version(item))


def _version(item: dict[str, Any]) -> str:
    """The changed resource's etag, else the notification's own id. Without either, nothing tells a
    repeat from a new change, so the item gets a unique version: a repeat then costs one Graph read
    (the worker dedupes on changeKey and content), while dropping a real change would lose it."""
    data = item.get("resourceData")
    etag = data.get("@odata.etag") if isinstance(data, dict) else None
    for candidate in (etag, item.get("id")):
        if isinstance(candidate, str) and candidate:
            return candidate
    return f"unique:{uuid.uuid4().hex}"


def _last_segment(resource: object) -> str | None:
    if not isinstance(resource, str) or "/" not in resource:
        return None
    return resource.rstrip("/").rsplit("/", 1)[1] or None
