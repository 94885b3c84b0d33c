"""Table Storage adapters: mappings, resource settings and dead letters (azure-data-tables, async).

Keys are base64url so any source URI or subject fits the key rules; readable copies are kept as
properties. Mapping rows use ETag optimistic concurrency.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import time
from contextlib import AbstractContextManager, suppress
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient, TableServiceClient

from shared.adapters.azure_errors import azure_errors
from shared.app.ports.planning import DeadLetterRecord, ResourceSetting
from shared.config import Settings
from shared.domain.planning.model import EntityKey, Mapping, Version
from shared.domain.tenants.keys import tenant_key
from shared.domain.tenants.model import TenantId
from shared.errors import ConnectorError, NotFound

__all__ = ["TableStores"]

logger = logging.getLogger(__name__)

_CHUNK = 30_000  # a string property holds 64 KiB of UTF-16
_SAFE_CHUNK = 16_000


def _encode(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii").rstrip("=")


def _put_chunks(entity: dict[str, Any], name: str, text: str) -> None:
    """Store ``text`` as ``{name}0``, ``{name}1`` ... and ``{name}Chunks`` (64 KiB a property, 1 MiB a row)."""
    # 16,000 characters stay under 64 KiB even when each takes two UTF-16 units (4 bytes).
    chunks = [text[i:i + _SAFE_CHUNK] for i in range(0, len(text), _SAFE_CHUNK)] or [""]
    entity[f"{name}Chunks"] = len(chunks)
    for index, chunk in enumerate(chunks):
        entity[f"{name}{index}"] = chunk


def _get_chunks(entity: dict[str, Any], name: str) -> str:
    return "".join(entity.get(f"{name}{i}", "") for i in range(int(entity.get(f"{name}Chunks") or 0)))


_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy")


def _transport() -> dict[str, Any]:
    """The table clients' transport options. aiohttp, told to trust the environment, looks for a proxy and a netrc
    entry in a worker thread on every request (two thread hops each); with no proxy in the environment there is
    nothing to find, so it is told not to look. A proxy set in the environment keeps the default behaviour."""
    if any(os.environ.get(name) or os.environ.get(name.upper()) for name in _PROXY_VARIABLES):
        return {}
    from azure.core.pipeline.transport import AioHttpTransport

    return {"transport": AioHttpTransport(use_env_settings=False)}


class TableStores:
    """One service client shared by the three stores; tables are created on first use."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._service: TableServiceClient | None = None
        self._credential: Any = None
        self._ready: dict[str, TableClient] = {}
        self._lock = asyncio.Lock()
        self.mappings = TableMappingStore(self)
        self.resources = TableResourceStore(self)
        self.deadletters = TableDeadLetterStore(self)

    def _service_client(self) -> TableServiceClient:
        if self._service is None:
            connection = self._settings.tables
            if connection.connection_string:
                self._service = TableServiceClient.from_connection_string(connection.connection_string,
                                                                          **_transport())
            else:
                from azure.identity.aio import DefaultAzureCredential

                self._credential = DefaultAzureCredential(
                    managed_identity_client_id=self._settings.managed_identity_client_id)
                assert connection.endpoint is not None
                self._service = TableServiceClient(connection.endpoint, credential=self._credential, **_transport())
        return self._service

    async def table(self, suffix: str) -> TableClient:
        name = self._settings.table_prefix + suffix
        client = self._ready.get(name)
        if client is not None:
            return client
        async with self._lock:
            if name not in self._ready:
                service = self._service_client()
                with self.errors(f"table {name}"), suppress(ResourceExistsError):
                    await service.create_table(name)
                self._ready[name] = service.get_table_client(name)
        return self._ready[name]

    def errors(self, what: str, *, conflict: bool = False) -> AbstractContextManager[None]:
        """Maps the SDK's errors inside the block onto the connector's (``shared.adapters.azure_errors``)."""
        setting = "TableStorage__endpoint" if self._settings.tables.endpoint else "TableStorage"
        return azure_errors(f"table storage: {what}", setting=setting, conflict=conflict)

    async def write_if(self, table: TableClient, entity: dict[str, Any], etag: str | None, what: str) -> str | None:
        """Insert the row (``etag`` None) or replace it only if it is unchanged since ``etag`` was read; return the
        new ETag. ``ConcurrencyConflict`` when another writer got there first (the row exists, changed or went)."""
        with self.errors(what, conflict=True):
            if etag is None:
                result = await table.create_entity(entity)
            else:
                result = await table.update_entity(entity, mode=UpdateMode.REPLACE, etag=etag,
                                                   match_condition=MatchConditions.IfNotModified)
        return result.get("etag")

    async def probe(self) -> None:
        """Read one row (or none) of a table: proves the account is reachable and the identity may read."""
        table = await self.table("resources")
        with self.errors("probe"):
            async for _ in table.query_entities("PartitionKey eq 'resource'", results_per_page=1):
                break

    async def close(self) -> None:
        for client in self._ready.values():
            await client.close()
        self._ready.clear()
        if self._service is not None:
            await self._service.close()
            self._service = None
        if self._credential is not None:
            await self._credential.close()


async def _delete_where(stores: TableStores, table: TableClient, query: str, tenant_id: str, what: str) -> int:
    """Delete the rows ``query`` (with ``@t`` the tenant) finds; how many went. Idempotent."""
    with stores.errors(what):
        keys = [(e["PartitionKey"], e["RowKey"]) async for e in table.query_entities(
            query, parameters={"t": tenant_id}, select=["PartitionKey", "RowKey"])]
        for partition, row in keys:
            with suppress(NotFound):
                await table.delete_entity(partition, row)
    return len(keys)


async def _delete_scoped(stores: TableStores, table: TableClient, column: str, tenant_id: str, what: str,
                         partition: str | None = None) -> int:
    """Delete the rows whose ``column`` holds a key of the tenant (``tenant_key``: its id and a space lead it);
    how many went. Idempotent."""
    query = f"{column} ge @lo and {column} lt @hi"
    lo, hi = f"{tenant_id} ", f"{tenant_id}!"  # "!" follows the space: every key the tenant's id and a space lead
    if partition is not None:
        query = f"PartitionKey eq '{partition}' and {query}"
    with stores.errors(what):
        keys = [(e["PartitionKey"], e["RowKey"]) async for e in table.query_entities(
            query, parameters={"lo": lo, "hi": hi}, select=["PartitionKey", "RowKey"])]
        for partition_key, row in keys:
            with suppress(NotFound):
                await table.delete_entity(partition_key, row)
    return len(keys)


class TableMappingStore:
    """Mapping rows, plus one row naming the mailbox written most recently (the doctor's sample).

    Table Storage has no index on time, so "the newest mapping" would be a scan of the whole table. Instead
    each instance upserts that one row at most once a minute after a mapping write: negligible next to
    one mapping write per event, and never a reason for a sync to fail. Its PartitionKey holds ``~``, which
    base64url keys of mappings never do.
    """

    SAMPLE_SECONDS = 60.0
    LIVE_SECONDS = 60.0
    _SAMPLE_KEY = ("~sample", "last-written-mailbox")

    purge_name = "mappings"

    def __init__(self, stores: TableStores) -> None:
        self._stores = stores
        self._sampled_at: float | None = None
        self._live: dict[str, tuple[float, int]] = {}

    async def get(self, key: EntityKey) -> Mapping | None:
        table = await self._stores.table("mappings")
        try:
            with self._stores.errors("mapping"):
                entity = await table.get_entity(_encode(key.partition), _encode(key.subject))
        except NotFound:
            return None
        return self._mapping(entity, key)

    @staticmethod
    def _mapping(entity: Any, key: EntityKey) -> Mapping:
        sequence = entity.get("VersionSequence")
        return Mapping(
            key=key,
            version=Version(datetime.fromisoformat(entity["VersionTime"]), int(sequence) if sequence else None),
            mailbox=entity.get("Mailbox") or None,
            event_id=entity.get("EventId") or None,
            content_hash=entity.get("ContentHash") or None,
            generation=int(entity.get("Generation") or 0),
            etag=entity.metadata["etag"],
            applied=_get_chunks(entity, "Applied") or None,
        )

    async def purge(self, tenant_id: TenantId) -> int:
        """Every mapping row of the tenant (a scan: purges are rare)."""
        table = await self._stores.table("mappings")
        return await _delete_where(self._stores, table, "Tenant eq @t", tenant_id, "mappings of a tenant")

    async def in_mailbox(self, mailbox: str) -> list[Mapping]:
        """A scan of the table (no index on the mailbox); drift runs read it once a day per mailbox."""
        table = await self._stores.table("mappings")
        query = "Mailbox eq @mailbox and Deleted eq false"
        with self._stores.errors("mappings of a mailbox"):
            return [self._mapping(e, EntityKey(e["Source"], e["Subject"], e.get("Tenant") or None))
                    async for e in table.query_entities(query, parameters={"mailbox": mailbox.lower()})]

    async def mailboxes(self, source: str | None = None, *, tenant: TenantId | None = None) -> list[str]:
        """The default tenant's rows have no Tenant property (a filter cannot ask for its absence): they are told
        apart here; another tenant's are asked for by it."""
        table = await self._stores.table("mappings")
        query, parameters = "Deleted eq false", {}
        if source is not None:  # one partition
            query, parameters = "PartitionKey eq @pk and Deleted eq false", {"pk": _encode(tenant_key(tenant, source))}
        elif tenant:
            query, parameters = "Tenant eq @t and Deleted eq false", {"t": tenant}
        with self._stores.errors("mailboxes of the mappings"):
            found = {str(e["Mailbox"]) async for e in table.query_entities(
                query, parameters=parameters, select=["Mailbox", "Tenant"])
                if e.get("Mailbox") and (e.get("Tenant") or None) == (tenant or None)}
        return sorted(found)

    async def save(self, mapping: Mapping) -> Mapping:
        table = await self._stores.table("mappings")
        entity = {
            "PartitionKey": _encode(mapping.key.partition),
            "RowKey": _encode(mapping.key.subject),
            "Source": mapping.key.source,
            "Subject": mapping.key.subject,
            **({"Tenant": mapping.key.tenant} if mapping.key.tenant else {}),
            "Mailbox": mapping.mailbox or "",
            "EventId": mapping.event_id or "",
            "ContentHash": mapping.content_hash or "",
            "Generation": mapping.generation,
            "VersionTime": mapping.version.time.isoformat(),
            "VersionSequence": str(mapping.version.sequence) if mapping.version.sequence is not None else "",
            "Deleted": mapping.deleted,
        }
        _put_chunks(entity, "Applied", mapping.applied or "")
        etag = await self._stores.write_if(table, entity, mapping.etag, f"mapping of {mapping.key.subject}")
        if mapping.mailbox:
            await self._sample(table, mapping.mailbox)
        return replace(mapping, etag=etag)

    async def _sample(self, table: TableClient, mailbox: str) -> None:
        now = time.monotonic()
        if self._sampled_at is not None and now - self._sampled_at < self.SAMPLE_SECONDS:
            return
        self._sampled_at = now  # set before the await: concurrent saves on this instance skip
        partition, row = self._SAMPLE_KEY
        try:
            with self._stores.errors("last written mailbox"):
                await table.upsert_entity({"PartitionKey": partition, "RowKey": row, "Mailbox": mailbox.lower(),
                                           "WrittenAt": datetime.now(UTC).isoformat()}, mode=UpdateMode.REPLACE)
        except ConnectorError as exc:
            logger.debug("last written mailbox not recorded: %s", exc)

    async def last_mailbox(self) -> str | None:
        table = await self._stores.table("mappings")
        try:
            with self._stores.errors("last written mailbox"):
                entity = await table.get_entity(*self._SAMPLE_KEY)
        except NotFound:
            return None
        return str(entity.get("Mailbox") or "") or None

    async def count_live(self, source: str) -> int:
        """One query over the source's partition, keys only; cached for ``LIVE_SECONDS`` per source, as the
        breaker asks on each delete of a burst (an older count only makes the breaker more lenient)."""
        cached = self._live.get(source)
        if cached and time.monotonic() - cached[0] < self.LIVE_SECONDS:
            return cached[1]
        table = await self._stores.table("mappings")
        with self._stores.errors("live mappings"):
            count = 0
            async for _ in table.query_entities("PartitionKey eq @pk and Deleted eq false",
                                                parameters={"pk": _encode(source)}, select=["RowKey"]):
                count += 1
        self._live[source] = (time.monotonic(), count)
        return count


class TableResourceStore:
    """Per-resource opt-out; a short cache spares a table read per message."""

    CACHE_SECONDS = 30.0

    def __init__(self, stores: TableStores) -> None:
        self._stores = stores
        self._cache: dict[str, tuple[float, bool]] = {}

    async def is_active(self, mailbox: str) -> bool:
        mailbox = mailbox.lower()
        cached = self._cache.get(mailbox)
        if cached and time.monotonic() - cached[0] < self.CACHE_SECONDS:
            return cached[1]
        table = await self._stores.table("resources")
        try:
            with self._stores.errors("resource setting"):
                entity = await table.get_entity("resource", _encode(mailbox))
            active = bool(entity.get("Active", True))
        except NotFound:
            active = True
        self._cache[mailbox] = (time.monotonic(), active)
        return active

    async def set_active(self, mailbox: str, active: bool) -> ResourceSetting:
        mailbox = mailbox.lower()
        table = await self._stores.table("resources")
        now = datetime.now(UTC)
        with self._stores.errors("resource setting"):
            await table.upsert_entity({"PartitionKey": "resource", "RowKey": _encode(mailbox), "Mailbox": mailbox,
                                       "Active": active, "UpdatedAt": now.isoformat()}, mode=UpdateMode.REPLACE)
        self._cache[mailbox] = (time.monotonic(), active)
        return ResourceSetting(mailbox, active, now)

    async def list(self) -> list[ResourceSetting]:
        table = await self._stores.table("resources")
        with self._stores.errors("resource settings"):
            settings = [
                ResourceSetting(e["Mailbox"], bool(e.get("Active", True)),
                                datetime.fromisoformat(e["UpdatedAt"]) if e.get("UpdatedAt") else None)
                async for e in table.query_entities("PartitionKey eq 'resource'")
            ]
        return sorted(settings, key=lambda s: s.mailbox)


class TableDeadLetterStore:
    purge_name = "deadletters"

    def __init__(self, stores: TableStores) -> None:
        self._stores = stores

    async def purge(self, tenant_id: TenantId) -> int:
        table = await self._stores.table("deadletters")
        return await _delete_where(self._stores, table, "PartitionKey eq 'deadletter' and Tenant eq @t", tenant_id,
                                   "dead letters of a tenant")

    async def add(self, record: DeadLetterRecord) -> None:
        table = await self._stores.table("deadletters")
        entity: dict[str, Any] = {
            "PartitionKey": "deadletter",
            "RowKey": record.id,
            "Queue": record.queue,
            "MessageId": record.message_id,
            "SessionId": record.session_id or "",
            "Reason": record.reason[:_CHUNK],
            "DeliveryCount": record.delivery_count,
            "DeadLetteredAt": record.dead_lettered_at.isoformat(),
            "Tenant": record.tenant or "",
        }
        _put_chunks(entity, "Body", record.body)
        with self._stores.errors("dead letter"):
            await table.upsert_entity(entity, mode=UpdateMode.REPLACE)

    @staticmethod
    def _record(entity: dict[str, Any]) -> DeadLetterRecord:
        body = _get_chunks(entity, "Body")
        return DeadLetterRecord(
            id=entity["RowKey"],
            queue=entity["Queue"],
            message_id=entity["MessageId"],
            session_id=entity.get("SessionId") or None,
            body=body,
            reason=entity["Reason"],
            delivery_count=int(entity.get("DeliveryCount") or 0),
            dead_lettered_at=datetime.fromisoformat(entity["DeadLetteredAt"]),
            tenant=entity.get("Tenant") or None,
        )

    async def list(self) -> list[DeadLetterRecord]:
        table = await self._stores.table("deadletters")
        with self._stores.errors("dead letters"):
            records = [self._record(e) async for e in table.query_entities("PartitionKey eq 'deadletter'")]
        return sorted(records, key=lambda r: r.dead_lettered_at)

    async def get(self, record_id: str) -> DeadLetterRecord | None:
        table = await self._stores.table("deadletters")
        try:
            with self._stores.errors("dead letter"):
                return self._record(await table.get_entity("deadletter", record_id))
        except NotFound:
            return None

    async def remove(self, record_id: str) -> None:
        table = await self._stores.table("deadletters")
        with suppress(NotFound), self._stores.errors("dead letter"):  # already gone: done
            await table.delete_entity("deadletter", record_id)
