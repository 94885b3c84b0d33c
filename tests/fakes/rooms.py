"""In-memory room ports with Graph's semantics that matter here (changeKeys, delta rounds, 404s) and the
table stores' (ETags, ordered keys). tests/contract runs the same suites against these and the adapters."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from shared.app.ports.rooms import (
    DEFAULT_DIRECTORY,
    DEFAULT_LOG,
    DeltaPage,
    DirectoryCursor,
    OutboxItem,
    Room,
    SubscriptionInfo,
)
from shared.domain.rooms.outbound_events import ReservationState
from shared.domain.tenants.keys import tenant_key, tenant_of_key
from shared.errors import ConcurrencyConflict, NotFound, PermanentError, TransientError

ANNA = "anna@contoso.com"


@dataclass
class FakeRoomGraph:
    now: Any
    events: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # room → id → event
    changes: dict[str, list[tuple[int, str]]] = field(default_factory=dict)  # room → (seq, event id)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    user_changes: list[tuple[int, str]] = field(default_factory=list)
    rooms: list[dict[str, Any]] = field(default_factory=list)
    gets: int = 0
    expired_links: set[str] = field(default_factory=set)
    page_size: int = 1000
    pages_read: int = 0
    _rest: dict[str, tuple[list[dict[str, Any] | str], str]] = field(default_factory=dict)  # next link → rest
    _seq: itertools.count = field(default_factory=lambda: itertools.count(1))

    def book(self, room: str, event_id: str, *, subject: str = "Team meeting", organizer: str = ANNA,
             start: str = "2026-05-04T08:00:00", end: str = "2026-05-04T09:00:00", ical: str | None = None,
             created: datetime | None = None, **extra: Any) -> dict[str, Any]:
        event = {
            "id": event_id, "iCalUId": ical or f"ical-{event_id}", "changeKey": f"ck-{next(self._seq)}",
            "subject": subject, "start": {"dateTime": start + ".0000000", "timeZone": "UTC"},
            "end": {"dateTime": end + ".0000000", "timeZone": "UTC"}, "isAllDay": False, "type": "singleInstance",
            "organizer": {"emailAddress": {"name": organizer.split("@")[0].title(), "address": organizer}},
            "attendees": [{"type": "resource", "emailAddress": {"address": room}},
                          {"type": "required", "emailAddress": {"address": "ben@contoso.com"}}],
            "createdDateTime": (created or self.now()).isoformat().replace("+00:00", "Z"), **extra,
        }
        self.events.setdefault(room, {})[event_id] = event
        self.changes.setdefault(room, []).append((next(self._seq), event_id))
        return event

    def touch(self, room: str, event_id: str, **changes: Any) -> None:
        event = self.events[room][event_id]
        event.update(changes, changeKey=f"ck-{next(self._seq)}")
        self.changes[room].append((next(self._seq), event_id))

    def remove(self, room: str, event_id: str) -> None:
        del self.events[room][event_id]
        self.changes[room].append((next(self._seq), event_id))

    async def get_event(self, room: str, event_id: str) -> dict[str, Any] | None:
        self.gets += 1
        event = self.events.get(room, {}).get(event_id)
        return dict(event) if event else None

    async def calendar_delta_page(self, room: str, link: str | None, start: datetime, end: datetime) -> DeltaPage:
        if link in self.expired_links:
            raise NotFound("410 SyncStateNotFound")
        if link and link in self._rest:
            return self._page(link)
        since = int(link.rsplit(":", 1)[1]) if link else 0
        log = self.changes.get(room, [])
        touched = list(dict.fromkeys(eid for seq, eid in log if seq > since))
        current = self.events.get(room, {})
        entries = [dict(current[eid]) if eid in current else eid for eid in touched if eid in current or link]
        last = max([seq for seq, _ in log] + [since])
        return self._first(entries, f"delta:{room}:{last}")

    def _first(self, entries: list[dict[str, Any] | str], delta_link: str) -> DeltaPage:
        token = f"next:{next(self._seq)}"
        self._rest[token] = (entries, delta_link)
        return self._page(token)

    def _page(self, token: str) -> DeltaPage:
        """Graph's paging: ``page_size`` items a page; each read of a page hands out a new next link."""
        self.pages_read += 1
        entries, delta_link = self._rest[token]
        here, rest = entries[:self.page_size], entries[self.page_size:]
        events = [e for e in here if isinstance(e, dict)]
        removed = [e for e in here if isinstance(e, str)]
        if not rest:
            return DeltaPage(events, removed, delta_link=delta_link)
        following = f"next:{next(self._seq)}"
        self._rest[following] = (rest, delta_link)
        return DeltaPage(events, removed, next_link=following)

    async def list_rooms(self) -> list[dict[str, Any]]:
        return list(self.rooms)

    def set_user(self, user_id: str, **fields: Any) -> None:
        self.users[user_id] = {"id": user_id, **self.users.get(user_id, {}), **fields}
        self.user_changes.append((next(self._seq), user_id))

    def remove_user(self, user_id: str) -> None:
        self.users.pop(user_id)
        self.user_changes.append((next(self._seq), user_id))

    async def users_delta_page(self, link: str | None) -> DeltaPage:
        if link in self.expired_links:
            raise NotFound("410 SyncStateNotFound")
        if link and link in self._rest:
            return self._page(link)
        since = int(link.rsplit(":", 1)[1]) if link else 0
        touched = list(dict.fromkeys(uid for seq, uid in self.user_changes if seq > since))
        items: list[dict[str, Any] | str] = [
            dict(self.users[u]) if u in self.users else {"id": u, "@removed": {"reason": "deleted"}} for u in touched]
        last = max([s for s, _ in self.user_changes] + [since])
        return self._first(items, f"users:{last}")


@dataclass
class FakeSubscriptions:
    now: Any
    subs: dict[str, dict[str, Any]] = field(default_factory=dict)
    fail_create: Exception | None = None
    calls: list[str] = field(default_factory=list)
    grant: timedelta | None = None  # Graph grants at most this lifetime, whatever is asked for
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def _granted(self, asked: datetime) -> datetime:
        return asked if self.grant is None else min(asked, self.now() + self.grant)

    def shorten(self, lifetime: timedelta) -> None:
        """Graph's view changes: every subscription now expires within ``lifetime``."""
        self.grant = lifetime
        for sub in self.subs.values():
            sub["expires"] = self._granted(sub["expires"])

    async def create(self, room: str, *, notification_url: str, lifecycle_url: str, client_state: str,
                     expires_at: datetime) -> SubscriptionInfo:
        self.calls.append("create")
        if self.fail_create is not None:
            raise self.fail_create
        assert expires_at - self.now() <= timedelta(minutes=10_080)
        sub_id = f"sub-{next(self._ids)}"
        self.subs[sub_id] = {"room": room, "expires": self._granted(expires_at), "clientState": client_state,
                             "notificationUrl": notification_url, "lifecycleUrl": lifecycle_url}
        return SubscriptionInfo(sub_id, self.subs[sub_id]["expires"])

    def _live(self, sub_id: str) -> dict[str, Any]:
        sub = self.subs.get(sub_id)
        if sub is None or sub["expires"] <= self.now():
            raise NotFound("404 subscription")
        return sub

    async def renew(self, subscription_id: str, expires_at: datetime) -> SubscriptionInfo:
        self.calls.append("renew")
        sub = self._live(subscription_id)
        sub["expires"] = self._granted(expires_at)
        return SubscriptionInfo(subscription_id, sub["expires"])

    async def live(self) -> dict[str, datetime]:
        return {sub_id: sub["expires"] for sub_id, sub in self.subs.items() if sub["expires"] > self.now()}

    async def reauthorize(self, subscription_id: str) -> None:
        self._live(subscription_id)

    async def delete(self, subscription_id: str) -> None:
        self.calls.append("delete")
        if self.subs.pop(subscription_id, None) is None:
            raise NotFound("404")


@dataclass
class InMemoryRooms:
    rows: dict[str, Room] = field(default_factory=dict)
    _etags: itertools.count = field(default_factory=lambda: itertools.count(1))
    purge_name: str = "rooms"

    async def purge(self, tenant_id: str) -> int:
        return _purge(self.rows, tenant_id, lambda key: key)

    async def get(self, email: str) -> Room | None:
        return self.rows.get(email.lower())

    async def save(self, room: Room) -> Room:
        current = self.rows.get(room.email)
        if (current is None) != (room.etag is None) or (current and current.etag != room.etag):
            raise ConcurrencyConflict("etag")
        stored = replace(room, etag=f"e{next(self._etags)}")
        self.rows[room.email] = stored
        return stored

    async def delete(self, email: str) -> None:
        self.rows.pop(email.lower(), None)

    async def list(self) -> list[Room]:
        return sorted(self.rows.values(), key=lambda r: r.email)


@dataclass
class InMemoryReservations:
    rows: dict[tuple[str, str], ReservationState] = field(default_factory=dict)
    purge_name: str = "reservations"

    async def purge(self, tenant_id: str) -> int:
        return _purge(self.rows, tenant_id, lambda key: key[0])

    async def get(self, room: str, event_id: str) -> ReservationState | None:
        return self.rows.get((room, event_id))

    async def save(self, state: ReservationState) -> None:
        self.rows[(state.room, state.event_id)] = state


@dataclass
class InMemoryOwnWrites:
    uids: dict[str, str] = field(default_factory=dict)
    purge_name: str = "ownwrites"

    async def purge(self, tenant_id: str) -> int:
        return _purge(self.uids, tenant_id, lambda key: key)

    async def record(self, ical_uid: str, source_key: str) -> None:
        self.uids[ical_uid] = source_key

    async def contains(self, ical_uid: str) -> bool:
        return ical_uid in self.uids


@dataclass
class InMemoryLog:
    items: list[dict[str, Any]] = field(default_factory=list)  # the default tenant's log
    others: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # another tenant's logs, by name
    purge_name: str = "eventlog"

    def _log(self, log: str) -> list[dict[str, Any]]:
        return self.items if log == DEFAULT_LOG else self.others.setdefault(log, [])

    async def purge(self, tenant_id: str) -> int:
        gone = [log for log in self.others if tenant_of_key(log)[0] == tenant_id]
        return sum(len(self.others.pop(log)) for log in gone)

    async def append(self, events: list[dict[str, Any]], log: str = DEFAULT_LOG) -> None:
        self._log(log).extend(events)

    async def read(self, since: str | None, limit: int,
                   log: str = DEFAULT_LOG) -> tuple[list[dict[str, Any]], str | None]:
        start = int(since) if since else 0
        page = self._log(log)[start:start + limit]
        return page, str(start + len(page)).zfill(20)

    def of_type(self, type_: str, tenant: str | None = None) -> list[dict[str, Any]]:
        """The events of ``type_`` in the log of ``tenant`` (None: the default tenant's)."""
        return [e for e in self._log(tenant_key(tenant, DEFAULT_LOG)) if e["type"] == type_]


@dataclass
class InMemoryUsers:
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    position: DirectoryCursor = field(default_factory=DirectoryCursor)  # the default tenant's cursor
    positions: dict[str, DirectoryCursor] = field(default_factory=dict)  # another tenant's, by name
    purge_name: str = "users"

    async def purge(self, tenant_id: str) -> int:
        return _purge(self.rows, tenant_id, lambda key: key) + _purge(self.positions, tenant_id, lambda key: key)

    async def get(self, user_id: str) -> dict[str, Any] | None:
        return self.rows.get(user_id)

    async def put(self, user_id: str, row: dict[str, Any] | None) -> None:
        if row is None:
            self.rows.pop(user_id, None)
        else:
            self.rows[user_id] = row

    async def cursor(self, directory: str = DEFAULT_DIRECTORY) -> DirectoryCursor:
        return self.position if directory == DEFAULT_DIRECTORY else self.positions.get(directory, DirectoryCursor())

    async def set_cursor(self, cursor: DirectoryCursor, directory: str = DEFAULT_DIRECTORY) -> None:
        if directory == DEFAULT_DIRECTORY:
            self.position = cursor
        else:
            self.positions[directory] = cursor


@dataclass
class InMemoryOutbox:
    rows: dict[str, list[OutboxItem]] = field(default_factory=dict)
    _keys: itertools.count = field(default_factory=lambda: itertools.count(1))
    purge_name: str = "outbox"

    async def purge(self, tenant_id: str) -> int:
        gone = [stream for stream in self.rows if tenant_of_key(stream)[0] == tenant_id]
        return sum(len(self.rows.pop(stream)) for stream in gone)

    async def add(self, stream: str, events: list[dict[str, Any]]) -> str:
        items = [OutboxItem(stream, f"{next(self._keys):020d}", event) for event in events]
        self.rows.setdefault(stream, []).extend(items)
        return items[0].key

    async def head(self, stream: str) -> OutboxItem | None:
        rows = self.rows.get(stream)
        return rows[0] if rows else None

    async def save(self, item: OutboxItem) -> None:
        rows = self.rows[item.stream]
        rows[[r.key for r in rows].index(item.key)] = item

    async def remove(self, item: OutboxItem) -> None:
        self.rows[item.stream] = [r for r in self.rows.get(item.stream, []) if r.key != item.key]


@dataclass
class FakeWebhook:
    sent: list[dict[str, Any]] = field(default_factory=list)
    fail_next: int = 0
    refused: set[str] = field(default_factory=set)  # event ids the receiver refuses for good (400)

    async def send(self, event: dict[str, Any]) -> None:
        if event.get("id") in self.refused:
            raise PermanentError("booking-system webhook answered 400")
        if self.fail_next:
            self.fail_next -= 1
            raise TransientError("booking-system webhook answered 503")
        self.sent.append(event)


def _purge(rows: dict[Any, Any], tenant_id: str, scoped: Any) -> int:
    """Remove the rows whose scoped key (``tenant_key``) belongs to the tenant; how many went."""
    gone = [key for key in rows if tenant_of_key(scoped(key))[0] == tenant_id]
    for key in gone:
        del rows[key]
    return len(gone)
