"""Table Storage adapter of the mass-deletion breaker (``BreakerStore``), shared by every instance.

Table ``{prefix}breakers``:
* partition ``state``, one row per source (RowKey: the source in base64url): tripped, since, reason, epoch;
  written with ETags, so of two instances tripping at once the first trip's state stays.
* partition = the source (base64url): the delete log, one row per delete, RowKey
  ``c~{epoch}~{bucket}~{delete id}`` and ``m~{epoch}~{mailbox hash}~{bucket}~{delete id}``. An insert never
  contends with another instance's (unlike a counter row under ETags), a redelivered delete inserts the same
  key (counted once), and a window is one range query of keys only, bounded by the limit (past it the breaker
  trips and nothing more is logged).
Table ``{prefix}held``: partition = the source, one row per held message with its body (chunked) and delivery.
Another tenant's source is ``tenant_key(tenant, source)`` (``shared.app.planning.tenancy.ScopedBreakers``); every
row names its source (``Source``), so a tenant's purge finds its rows in both tables by that column.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import suppress
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.adapters.tables.stores import _delete_scoped, _encode
from shared.app.ports.breakers import BreakerState, HeldMessage
from shared.domain.planning.breaker import DeleteCounts
from shared.domain.tenants.model import TenantId
from shared.errors import ConcurrencyConflict, NotFound, TransientError

if TYPE_CHECKING:
    from azure.data.tables.aio import TableClient

    from shared.adapters.tables.stores import TableStores

__all__ = ["TableBreakerStore"]

_STATE = "state"
_CHUNK = 30_000  # a string property holds 64 KiB of UTF-16
_ATTEMPTS = 10


def _mailbox_tag(mailbox: str) -> str:
    return hashlib.sha256(mailbox.lower().encode("utf-8")).hexdigest()[:16]


class TableBreakerStore:
    purge_name = "breakers"

    def __init__(self, stores: TableStores) -> None:
        self._stores = stores

    async def purge(self, tenant_id: TenantId) -> int:
        """The tenant's breaker states, delete log and held messages (scans by ``Source``: purges are rare)."""
        removed = await _delete_scoped(self._stores, await self._table(), "Source", tenant_id, "breakers of a tenant")
        return removed + await _delete_scoped(self._stores, await self._table("held"), "Source", tenant_id,
                                              "held deletes of a tenant")

    async def _table(self, suffix: str = "breakers") -> TableClient:
        return await self._stores.table(suffix)

    # -- breaker state

    @staticmethod
    def _state(entity: dict[str, Any]) -> BreakerState:
        def when(name: str) -> datetime | None:
            value = entity.get(name)
            return datetime.fromisoformat(value) if value else None

        return BreakerState(source=entity["Source"], tripped=bool(entity.get("Tripped")), since=when("Since"),
                            reason=entity.get("Reason") or "", deletes=int(entity.get("Deletes") or 0),
                            epoch=int(entity.get("Epoch") or 0), decided_at=when("DecidedAt"),
                            decision=entity.get("Decision") or "")

    async def _read(self, source: str) -> tuple[BreakerState, str] | None:
        table = await self._table()
        try:
            with self._stores.errors("breaker"):
                entity = await table.get_entity(_STATE, _encode(source))
        except NotFound:
            return None
        return self._state(entity), str(entity.metadata["etag"])

    async def get(self, source: str) -> BreakerState | None:
        read = await self._read(source)
        return read[0] if read else None

    async def _write(self, state: BreakerState, etag: str | None) -> None:
        entity = {"PartitionKey": _STATE, "RowKey": _encode(state.source), "Source": state.source,
                  "Tripped": state.tripped, "Since": state.since.isoformat() if state.since else "",
                  "Reason": state.reason[:_CHUNK], "Deletes": state.deletes, "Epoch": state.epoch,
                  "DecidedAt": state.decided_at.isoformat() if state.decided_at else "", "Decision": state.decision}
        table = await self._table()
        await self._stores.write_if(table, entity, etag, "breaker")

    async def trip(self, state: BreakerState) -> BreakerState:
        for _ in range(_ATTEMPTS):
            read = await self._read(state.source)
            if read and read[0].tripped:
                return read[0]
            current = read[0] if read else BreakerState(state.source)
            tripped = replace(current, tripped=True, since=state.since, reason=state.reason, deletes=state.deletes)
            try:
                await self._write(tripped, read[1] if read else None)
                return tripped
            except (ConcurrencyConflict, NotFound):
                continue  # another instance wrote in between: read again
        raise TransientError(f"breaker of {state.source}: too many concurrent writes")

    async def reset(self, source: str, *, decision: str, at: datetime) -> BreakerState:
        for _ in range(_ATTEMPTS):
            read = await self._read(source)
            current = read[0] if read else BreakerState(source)
            closed = replace(current, tripped=False, epoch=current.epoch + 1, decided_at=at, decision=decision)
            try:
                await self._write(closed, read[1] if read else None)
                return closed
            except (ConcurrencyConflict, NotFound):
                continue
        raise TransientError(f"breaker of {source}: too many concurrent writes")

    # -- the delete log

    async def count_delete(self, source: str, mailbox: str, *, delete_id: str, epoch: int, bucket: int,
                           window: int) -> DeleteCounts:
        table = await self._table()
        partition = _encode(source)
        tag = _mailbox_tag(mailbox)
        for row in (f"c~{epoch:08d}~{bucket:010d}~{delete_id}", f"m~{epoch:08d}~{tag}~{bucket:010d}~{delete_id}"):
            with suppress(ConcurrencyConflict), self._stores.errors("delete log", conflict=True):
                # again: counted once. The source names the row for a tenant's purge.
                await table.create_entity({"PartitionKey": partition, "RowKey": row, "Source": source})
        first = bucket - window + 1
        return DeleteCounts(
            source=await self._count(table, partition, f"c~{epoch:08d}~{first:010d}", f"c~{epoch:08d}~{bucket:010d}~~"),
            mailbox=await self._count(table, partition, f"m~{epoch:08d}~{tag}~{first:010d}",
                                      f"m~{epoch:08d}~{tag}~{bucket:010d}~~"),
        )

    async def _count(self, table: TableClient, partition: str, low: str, high: str) -> int:
        count = 0
        with self._stores.errors("delete log"):
            async for _ in table.query_entities("PartitionKey eq @pk and RowKey ge @low and RowKey lt @high",
                                                parameters={"pk": partition, "low": low, "high": high},
                                                select=["RowKey"]):
                count += 1
        return count

    # -- held messages

    async def hold(self, message: HeldMessage) -> None:
        from azure.data.tables import UpdateMode

        chunks = [message.body[i:i + _CHUNK] for i in range(0, len(message.body), _CHUNK)] or [""]
        entity: dict[str, Any] = {
            "PartitionKey": _encode(message.source), "RowKey": message.id, "Source": message.source,
            "MessageId": message.message_id, "SessionId": message.session_id or "", "Subject": message.subject,
            "Mailbox": message.mailbox, "HeldAt": message.held_at.isoformat(),
            "Properties": json.dumps(message.application_properties), "BodyChunks": len(chunks),
            **{f"Body{index}": chunk for index, chunk in enumerate(chunks)},
        }
        table = await self._table("held")
        with self._stores.errors("held message"):
            await table.upsert_entity(entity, mode=UpdateMode.REPLACE)

    @staticmethod
    def _held(entity: dict[str, Any]) -> HeldMessage:
        body = "".join(entity.get(f"Body{i}", "") for i in range(int(entity.get("BodyChunks") or 0)))
        return HeldMessage(source=entity["Source"], id=entity["RowKey"], message_id=entity["MessageId"],
                           session_id=entity.get("SessionId") or None, subject=entity.get("Subject") or "",
                           mailbox=entity.get("Mailbox") or "", body=body,
                           held_at=datetime.fromisoformat(entity["HeldAt"]),
                           application_properties=json.loads(entity.get("Properties") or "{}"))

    async def held(self, source: str) -> list[HeldMessage]:
        table = await self._table("held")
        with self._stores.errors("held messages"):
            messages = [self._held(e) async for e in table.query_entities(
                "PartitionKey eq @pk", parameters={"pk": _encode(source)})]
        return sorted(messages, key=lambda m: (m.held_at, m.id))

    async def count_held(self, source: str) -> int:
        table = await self._table("held")
        count = 0
        with self._stores.errors("held messages"):
            async for _ in table.query_entities("PartitionKey eq @pk", parameters={"pk": _encode(source)},
                                                select=["RowKey"]):
                count += 1
        return count

    async def unhold(self, source: str, message_id: str) -> None:
        table = await self._table("held")
        with suppress(NotFound), self._stores.errors("held message"):  # already gone: done
            await table.delete_entity(_encode(source), message_id)

    async def list(self) -> list[BreakerState]:
        table = await self._table()
        with self._stores.errors("breakers"):
            states = [self._state(e) async for e in table.query_entities("PartitionKey eq 'state'")]
        return sorted(states, key=lambda s: s.source)
