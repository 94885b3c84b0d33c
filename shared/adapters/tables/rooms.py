"""Table Storage adapters of the room use cases: rooms, reservation state, own writes, the event log,
the outbound outbox and the users directory. They share ``TableStores``' service client
(tables ``{prefix}rooms`` ...)."""

from __future__ import annotations

import json
import time
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

from azure.data.tables import UpdateMode

from shared.adapters.tables.stores import TableStores, _delete_scoped, _encode
from shared.app.ports.rooms import DEFAULT_DIRECTORY, DEFAULT_LOG, BackfillJob, DirectoryCursor, OutboxItem, Room
from shared.domain.rooms.outbound_events import ReservationState
from shared.domain.tenants.model import TenantId
from shared.errors import NotFound

__all__ = ["RoomTables"]


def _when(value: object) -> datetime | None:
    return datetime.fromisoformat(str(value)) if value else None


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


class RoomTables:
    def __init__(self, stores: TableStores) -> None:
        self.rooms = TableRoomStore(stores)
        self.reservations = TableReservationStore(stores)
        self.own_writes = TableOwnWrites(stores)
        self.log = TableEventLog(stores)
        self.outbox = TableOutbox(stores)
        self.users = TableUserStore(stores)


class _OrderedKeys:
    """Row keys that sort in publication order: microseconds since the epoch, then a counter."""

    def __init__(self) -> None:
        self._last = 0

    def next(self) -> str:
        now = time.time_ns() // 1000
        self._last = max(now, self._last + 1)
        return f"{self._last:020d}"


class TableRoomStore:
    purge_name = "rooms"

    def __init__(self, stores: TableStores) -> None:
        self._stores = stores

    async def purge(self, tenant_id: TenantId) -> int:
        """The tenant's rooms (their subscriptions lapse at Graph within days)."""
        table = await self._stores.table("rooms")
        return await _delete_scoped(self._stores, table, "Email", tenant_id, "rooms of a tenant", partition="room")

    @staticmethod
    def _room(e: Any) -> Room:  # a TableEntity: a dict with .metadata
        job = json.loads(e["Backfill"]) if e.get("Backfill") else None
        return Room(
            email=e["Email"], activated_at=datetime.fromisoformat(e["ActivatedAt"]),
            subscription_id=e.get("SubscriptionId") or None, client_state=e.get("ClientState") or None,
            expires_at=_when(e.get("ExpiresAt")), delta_link=e.get("DeltaLink") or None,
            failing_since=_when(e.get("FailingSince")), failure=e.get("Failure") or None,
            display_name=e.get("DisplayName") or None, show_subject=bool(e.get("ShowSubject", True)),
            backfill=BackfillJob(**{**job, "finished_at": _when(job.get("finished_at"))}) if job else None,
            etag=e.metadata["etag"],
        )

    async def get(self, email: str) -> Room | None:
        table = await self._stores.table("rooms")
        try:
            with self._stores.errors(f"room {email}"):
                return self._room(await table.get_entity("room", _encode(email.lower())))
        except NotFound:
            return None

    async def save(self, room: Room) -> Room:
        table = await self._stores.table("rooms")
        job = None
        if room.backfill is not None:
            job = json.dumps({**room.backfill.__dict__, "finished_at": _iso(room.backfill.finished_at) or None})
        entity = {
            "PartitionKey": "room", "RowKey": _encode(room.email), "Email": room.email,
            "ActivatedAt": room.activated_at.isoformat(), "SubscriptionId": room.subscription_id or "",
            "ClientState": room.client_state or "", "ExpiresAt": _iso(room.expires_at),
            "DeltaLink": room.delta_link or "", "FailingSince": _iso(room.failing_since),
            "Failure": (room.failure or "")[:2000], "DisplayName": room.display_name or "",
            "ShowSubject": room.show_subject, "Backfill": job or "",
        }
        etag = await self._stores.write_if(table, entity, room.etag, f"room {room.email}")
        return Room(**{**room.__dict__, "etag": etag})

    async def delete(self, email: str) -> None:
        table = await self._stores.table("rooms")
        with suppress(NotFound), self._stores.errors(f"room {email}"):
            await table.delete_entity("room", _encode(email.lower()))

    async def list(self) -> list[Room]:
        table = await self._stores.table("rooms")
        with self._stores.errors("rooms"):
            rooms = [self._room(e) async for e in table.query_entities("PartitionKey eq 'room'")]
        return sorted(rooms, key=lambda r: r.email)


class TableReservationStore:
    purge_name = "reservations"

    def __init__(self, stores: TableStores) -> None:
        self._stores = stores

    async def purge(self, tenant_id: TenantId) -> int:
        table = await self._stores.table("reservations")
        return await _delete_scoped(self._stores, table, "Room", tenant_id, "reservation state of a tenant")

    async def get(self, room: str, event_id: str) -> ReservationState | None:
        table = await self._stores.table("reservations")
        try:
            with self._stores.errors("reservation state"):
                e = await table.get_entity(_encode(room), _encode(event_id))
        except NotFound:
            return None
        return ReservationState(
            room=room, event_id=event_id, ical_uid=e.get("ICalUId") or None, change_key=e.get("ChangeKey") or None,
            content_hash=e.get("ContentHash") or None, published=bool(e.get("Published")),
            ignored=e.get("Ignored") or None, etag=e.metadata["etag"],
        )

    async def save(self, state: ReservationState) -> None:
        # Sessions serialise one room's work, so a plain upsert is enough here.
        table = await self._stores.table("reservations")
        with self._stores.errors("reservation state"):
            await table.upsert_entity({
                "PartitionKey": _encode(state.room), "RowKey": _encode(state.event_id), "Room": state.room,
                "EventId": state.event_id, "ICalUId": state.ical_uid or "", "ChangeKey": state.change_key or "",
                "ContentHash": state.content_hash or "", "Published": state.published, "Ignored": state.ignored or "",
            }, mode=UpdateMode.REPLACE)


class TableOwnWrites:
    """Another tenant's iCalUIds and slot keys are ``tenant_key(tenant, key)`` (``ScopedOwnWrites``); each row
    names its key (``Key``), so a tenant's purge finds its rows."""

    purge_name = "ownwrites"

    def __init__(self, stores: TableStores) -> None:
        self._stores = stores

    async def purge(self, tenant_id: TenantId) -> int:
        table = await self._stores.table("ownwrites")
        return await _delete_scoped(self._stores, table, "Key", tenant_id, "own writes of a tenant", partition="own")

    async def record(self, ical_uid: str, source_key: str) -> None:
        table = await self._stores.table("ownwrites")
        with self._stores.errors("own writes"):
            await table.upsert_entity({"PartitionKey": "own", "RowKey": _encode(ical_uid), "Key": ical_uid,
                                       "SourceKey": source_key, "RecordedAt": datetime.now(UTC).isoformat()},
                                      mode=UpdateMode.REPLACE)

    async def contains(self, ical_uid: str) -> bool:
        table = await self._stores.table("ownwrites")
        try:
            with self._stores.errors("own writes"):
                await table.get_entity("own", _encode(ical_uid))
        except NotFound:
            return False
        return True


class TableEventLog:
    """One partition per log (the default tenant's ``log``, another's led by its id); row keys sort in publication
    order: microseconds since the epoch, then a counter."""

    purge_name = "eventlog"

    def __init__(self, stores: TableStores) -> None:
        self._stores = stores
        self._keys = _OrderedKeys()

    async def purge(self, tenant_id: TenantId) -> int:
        table = await self._stores.table("eventlog")
        return await _delete_scoped(self._stores, table, "PartitionKey", tenant_id, "event log of a tenant")

    async def append(self, events: list[dict[str, Any]], log: str = DEFAULT_LOG) -> None:
        table = await self._stores.table("eventlog")
        with self._stores.errors("event log"):
            for event in events:
                await table.create_entity({"PartitionKey": log, "RowKey": self._keys.next(),
                                           "EventId": event["id"], "Event": json.dumps(event, ensure_ascii=False)})

    async def read(self, since: str | None, limit: int,
                   log: str = DEFAULT_LOG) -> tuple[list[dict[str, Any]], str | None]:
        table = await self._stores.table("eventlog")
        query = "PartitionKey eq @log" + (" and RowKey gt @since" if since else "")
        parameters = {"log": log, **({"since": since} if since else {})}
        items: list[dict[str, Any]] = []
        last = since
        with self._stores.errors("event log"):
            async for e in table.query_entities(query, parameters=parameters, results_per_page=limit):
                items.append(json.loads(e["Event"]))
                last = e["RowKey"]
                if len(items) >= limit:
                    break
        return items, last


class TableOutbox:
    """One partition per stream; rows in publication order, removed once the webhook took them."""

    purge_name = "outbox"

    def __init__(self, stores: TableStores) -> None:
        self._stores = stores
        self._keys = _OrderedKeys()

    async def purge(self, tenant_id: TenantId) -> int:
        table = await self._stores.table("outbox")
        return await _delete_scoped(self._stores, table, "Stream", tenant_id, "outbound streams of a tenant")

    async def add(self, stream: str, events: list[dict[str, Any]]) -> str:
        table = await self._stores.table("outbox")
        keys = [self._keys.next() for _ in events]
        with self._stores.errors("outbox"):
            for key, event in zip(keys, events, strict=True):
                await table.create_entity({"PartitionKey": _encode(stream), "RowKey": key, "Stream": stream,
                                           "Event": json.dumps(event, ensure_ascii=False), "Attempts": 0,
                                           "NotBefore": ""})
        return keys[0]

    async def head(self, stream: str) -> OutboxItem | None:
        table = await self._stores.table("outbox")
        with self._stores.errors("outbox"):
            async for e in table.query_entities("PartitionKey eq @p", parameters={"p": _encode(stream)},
                                                results_per_page=1):
                return OutboxItem(stream=stream, key=e["RowKey"], event=json.loads(e["Event"]),
                                  attempts=int(e.get("Attempts") or 0), not_before=_when(e.get("NotBefore")))
        return None

    async def save(self, item: OutboxItem) -> None:
        table = await self._stores.table("outbox")
        with self._stores.errors("outbox"):
            await table.update_entity({"PartitionKey": _encode(item.stream), "RowKey": item.key,
                                       "Attempts": item.attempts, "NotBefore": _iso(item.not_before)},
                                      mode=UpdateMode.MERGE)

    async def remove(self, item: OutboxItem) -> None:
        table = await self._stores.table("outbox")
        with suppress(NotFound), self._stores.errors("outbox"):
            await table.delete_entity(_encode(item.stream), item.key)


class TableUserStore:
    """Users in partition ``user`` (column ``User``: the key, another tenant's led by its id), each directory's
    cursor in partition ``cursor``."""

    purge_name = "users"

    def __init__(self, stores: TableStores) -> None:
        self._stores = stores

    async def purge(self, tenant_id: TenantId) -> int:
        table = await self._stores.table("users")
        users = await _delete_scoped(self._stores, table, "User", tenant_id, "users of a tenant", partition="user")
        return users + await _delete_scoped(self._stores, table, "RowKey", tenant_id, "directory cursor of a tenant",
                                            partition="cursor")

    async def get(self, user_id: str) -> dict[str, Any] | None:
        table = await self._stores.table("users")
        try:
            with self._stores.errors("users"):
                e = await table.get_entity("user", _encode(user_id))
        except NotFound:
            return None
        return {**json.loads(e["Data"]), "enabled": bool(e.get("Enabled"))}

    async def put(self, user_id: str, row: dict[str, Any] | None) -> None:
        table = await self._stores.table("users")
        if row is None:
            with suppress(NotFound), self._stores.errors("users"):
                await table.delete_entity("user", _encode(user_id))
            return
        data = {k: v for k, v in row.items() if k != "enabled"}
        with self._stores.errors("users"):
            await table.upsert_entity({"PartitionKey": "user", "RowKey": _encode(user_id), "User": user_id,
                                       "Enabled": bool(row["enabled"]), "Data": json.dumps(data, ensure_ascii=False)},
                                      mode=UpdateMode.REPLACE)

    async def cursor(self, directory: str = DEFAULT_DIRECTORY) -> DirectoryCursor:
        table = await self._stores.table("users")
        try:
            with self._stores.errors("directory cursor"):
                e = await table.get_entity("cursor", directory)
        except NotFound:
            return DirectoryCursor()
        return DirectoryCursor(delta_link=e.get("DeltaLink") or None, next_link=e.get("NextLink") or None,
                               round_id=e.get("Round") or None, baseline=bool(e.get("Baseline")),
                               step=int(e.get("Step") or 0), updated_at=_when(e.get("UpdatedAt")))

    async def set_cursor(self, cursor: DirectoryCursor, directory: str = DEFAULT_DIRECTORY) -> None:
        table = await self._stores.table("users")
        with self._stores.errors("directory cursor"):
            await table.upsert_entity({"PartitionKey": "cursor", "RowKey": directory,
                                       "DeltaLink": cursor.delta_link or "", "NextLink": cursor.next_link or "",
                                       "Round": cursor.round_id or "", "Baseline": cursor.baseline, "Step": cursor.step,
                                       "UpdatedAt": _iso(cursor.updated_at)}, mode=UpdateMode.REPLACE)
