"""Table Storage adapters of the people capability. Each store builds its keys in one function (``_key``), so
the tenant can join every key in one place.

* ``{prefix}connections``: one row per person (``ConnectionStore``), written with ETags; the sealed token
  cache is chunked (a property holds 64 KiB).
* ``{prefix}connectattempts``: one row per connect flow (``ConnectAttempts``), claimed once by a conditional
  write.
* ``{prefix}waiting``: messages parked for a person until they reconnect (``WaitingWork``): partition = the
  person, row = the message id (parking it again keeps one), released in the order they were parked.

A person of a tenant other than the default is ``tenant_key(tenant, user)`` here (``shared/app/people/tenancy.py``),
in the key and in the ``User`` column, so ``purge`` removes a tenant's connections and parked work by a range
query on that column.
"""

from __future__ import annotations

import json
import logging
from contextlib import suppress
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.adapters.tables.stores import _delete_scoped, _encode, _get_chunks, _put_chunks
from shared.app.messaging import MessageQueue, OutboundMessage
from shared.app.ports.people import ConnectAttempt
from shared.domain.people.connections import Connection
from shared.domain.tenants.model import TenantId
from shared.errors import ConcurrencyConflict, NotFound

if TYPE_CHECKING:
    from shared.adapters.tables.stores import TableStores

__all__ = ["TableConnectAttempts", "TableConnectionStore", "TableWaitingWork"]

logger = logging.getLogger(__name__)


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class TableConnectionStore:
    _PARTITION = "connection"
    purge_name = "connections"

    def __init__(self, stores: TableStores) -> None:
        self._stores = stores

    async def purge(self, tenant_id: TenantId) -> int:
        """The tenant's people's connections (their sealed token caches with them)."""
        table = await self._stores.table("connections")
        return await _delete_scoped(self._stores, table, "User", tenant_id, "connections of a tenant",
                                    partition=self._PARTITION)

    @classmethod
    def _key(cls, user: str) -> tuple[str, str]:
        return cls._PARTITION, _encode(user.lower())

    @staticmethod
    def _connection(entity: Any) -> Connection:
        return Connection(user=entity["User"], state=entity["State"], since=datetime.fromisoformat(entity["Since"]),
                          reason=entity.get("Reason") or "", scopes=tuple((entity.get("Scopes") or "").split()),
                          cache=_get_chunks(entity, "Cache"), account=entity.get("Account") or "",
                          return_url=entity.get("ReturnUrl") or "", mailed_for=entity.get("MailedFor") or "",
                          etag=entity.metadata["etag"])

    async def get(self, user: str) -> Connection | None:
        table = await self._stores.table("connections")
        try:
            with self._stores.errors("connection"):
                entity = await table.get_entity(*self._key(user))
        except NotFound:
            return None
        return self._connection(entity)

    async def save(self, connection: Connection) -> Connection:
        table = await self._stores.table("connections")
        partition, row = self._key(connection.user)
        entity: dict[str, Any] = {
            "PartitionKey": partition, "RowKey": row, "User": connection.user.lower(), "State": connection.state,
            "Since": connection.since.isoformat(), "Reason": connection.reason[:4000],
            "Scopes": " ".join(connection.scopes), "Account": connection.account,
            "ReturnUrl": connection.return_url, "MailedFor": connection.mailed_for,
        }
        _put_chunks(entity, "Cache", connection.cache)
        etag = await self._stores.write_if(table, entity, connection.etag, f"connection of {connection.user}")
        return replace(connection, etag=etag)

    async def delete(self, user: str) -> None:
        table = await self._stores.table("connections")
        with suppress(NotFound), self._stores.errors("connection"):  # already gone: done
            await table.delete_entity(*self._key(user))

    async def list(self) -> list[Connection]:
        table = await self._stores.table("connections")
        with self._stores.errors("connections"):
            found = [self._connection(e) async for e in table.query_entities(
                "PartitionKey eq @pk", parameters={"pk": self._PARTITION})]
        return sorted(found, key=lambda c: c.user)


class TableConnectAttempts:
    _PARTITION = "attempt"

    def __init__(self, stores: TableStores) -> None:
        self._stores = stores

    @classmethod
    def _key(cls, nonce: str) -> tuple[str, str]:
        return cls._PARTITION, _encode(nonce)

    async def add(self, attempt: ConnectAttempt) -> None:
        table = await self._stores.table("connectattempts")
        partition, row = self._key(attempt.nonce)
        with self._stores.errors("connect attempt"):
            await table.create_entity({
                "PartitionKey": partition, "RowKey": row, "Nonce": attempt.nonce, "User": attempt.user,
                "ReturnUrl": attempt.return_url, "Flow": attempt.flow, "ExpiresAt": attempt.expires_at.isoformat(),
                "Used": False})

    async def claim(self, nonce: str) -> tuple[ConnectAttempt, bool] | None:
        table = await self._stores.table("connectattempts")
        try:
            with self._stores.errors("connect attempt"):
                entity = await table.get_entity(*self._key(nonce))
        except NotFound:
            return None
        attempt = ConnectAttempt(nonce=entity["Nonce"], user=entity["User"], return_url=entity["ReturnUrl"],
                                 flow=entity.get("Flow") or "", expires_at=datetime.fromisoformat(entity["ExpiresAt"]),
                                 used=bool(entity.get("Used")))
        if attempt.used:
            return attempt, False
        # The flow (PKCE verifier) goes with the claim: a used row keeps only where to send the browser.
        used = {**{k: entity[k] for k in ("PartitionKey", "RowKey", "Nonce", "User", "ReturnUrl", "ExpiresAt")},
                "Flow": "", "Used": True, "UsedAt": datetime.now(UTC).isoformat()}
        try:
            await self._stores.write_if(table, used, entity.metadata["etag"], "connect attempt")
        except (ConcurrencyConflict, NotFound):
            return replace(attempt, used=True), False
        return attempt, True


class TableWaitingWork:
    """``WaitingWork``: ``release`` sends each parked message back onto its queue, oldest first, and removes it."""

    purge_name = "waiting"

    def __init__(self, stores: TableStores, queue: MessageQueue) -> None:
        self._stores = stores
        self._queue = queue

    async def purge(self, tenant_id: TenantId) -> int:
        """The tenant's people's parked work (dropped, not sent: the tenant is gone)."""
        table = await self._stores.table("waiting")
        return await _delete_scoped(self._stores, table, "User", tenant_id, "parked work of a tenant")

    @staticmethod
    def _key(user: str, message_id: str = "") -> tuple[str, str]:
        return _encode(user.lower()), _encode(message_id)

    async def park(self, user: str, queue: str, message: OutboundMessage) -> None:
        table = await self._stores.table("waiting")
        partition, row = self._key(user, message.message_id)
        entity: dict[str, Any] = {
            "PartitionKey": partition, "RowKey": row, "User": user.lower(), "Queue": queue,
            "MessageId": message.message_id, "SessionId": message.session_id or "",
            "ContentType": message.content_type, "Properties": json.dumps(dict(message.application_properties)),
            "ParkedAt": datetime.now(UTC).isoformat(),
        }
        _put_chunks(entity, "Body", message.body.decode("utf-8"))
        with suppress(ConcurrencyConflict), self._stores.errors("waiting message", conflict=True):
            await table.create_entity(entity)  # parked already: the first copy stays

    async def waiting(self, user: str) -> list[tuple[str, OutboundMessage]]:
        table = await self._stores.table("waiting")
        with self._stores.errors("waiting messages"):
            rows = [e async for e in table.query_entities("PartitionKey eq @pk",
                                                          parameters={"pk": self._key(user)[0]})]
        rows.sort(key=lambda e: (e["ParkedAt"], e["RowKey"]))
        return [(e["Queue"], OutboundMessage(
            body=_get_chunks(e, "Body").encode("utf-8"), message_id=e["MessageId"],
            session_id=e.get("SessionId") or None, content_type=e.get("ContentType") or "application/cloudevents+json",
            application_properties=json.loads(e.get("Properties") or "{}"))) for e in rows]

    async def release(self, user: str) -> int:
        table = await self._stores.table("waiting")
        released = 0
        for queue, message in await self.waiting(user):
            await self._queue.send(queue, [message])  # one at a time: the order they were parked in
            with suppress(NotFound), self._stores.errors("waiting message"):
                await table.delete_entity(*self._key(user, message.message_id))
            released += 1
        return released
