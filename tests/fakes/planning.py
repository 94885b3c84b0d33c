"""In-memory planning ports (CalendarGateway, MappingStore, ResourceStore, DeadLetterStore) with the real
semantics (ETags, transactionId, 404s). tests/contract runs the same suites against these and the adapters."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from shared.app.ports.planning import (
    LAST_RUN,
    CreatedEvent,
    DeadLetterRecord,
    DriftRun,
    MailboxDrift,
    ResourceSetting,
)
from shared.domain.planning.drift import TaggedEvent, start_of
from shared.domain.planning.model import EntityKey, Mapping
from shared.domain.tenants.keys import tenant_of_key
from shared.domain.tenants.model import TenantId
from shared.errors import ConcurrencyConflict, ConnectorError, NotFound


@dataclass
class StoredEvent:
    id: str
    mailbox: str
    content: dict[str, Any]
    source_key: str
    transaction_id: str | None


@dataclass
class FakeCalendar:
    """Graph's behaviour that matters: ids, transactionId dedup, 404 on unknown ids, scripted faults."""

    events: dict[str, StoredEvent] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    faults: list[tuple[str, ConnectorError]] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def _fault(self, operation: str) -> None:
        for index, (name, error) in enumerate(self.faults):
            if name == operation:
                del self.faults[index]
                raise error

    def in_mailbox(self, mailbox: str) -> list[StoredEvent]:
        return [e for e in self.events.values() if e.mailbox == mailbox]

    async def create(self, mailbox: str, content: dict[str, Any], *, transaction_id: str,
                     source_key: str) -> CreatedEvent:
        self.calls.append(("create", mailbox))
        self._fault("create")
        for event in self.events.values():
            if event.mailbox == mailbox and event.transaction_id == transaction_id:
                return CreatedEvent(event.id, f"ical-{event.id}")
        event_id = f"evt{next(self._ids)}"
        self.events[event_id] = StoredEvent(event_id, mailbox, dict(content), source_key, transaction_id)
        return CreatedEvent(event_id, f"ical-{event_id}")

    async def update(self, mailbox: str, event_id: str, content: dict[str, Any], *, source_key: str) -> None:
        self.calls.append(("update", mailbox))
        self._fault("update")
        event = self.events.get(event_id)
        if event is None or event.mailbox != mailbox:
            raise NotFound("ErrorItemNotFound")
        event.content = dict(content)
        event.source_key = source_key

    async def delete(self, mailbox: str, event_id: str) -> None:
        self.calls.append(("delete", mailbox))
        self._fault("delete")
        event = self.events.get(event_id)
        if event is None or event.mailbox != mailbox:
            raise NotFound("ErrorItemNotFound")
        del self.events[event_id]

    async def ical_uid(self, mailbox: str, event_id: str) -> str | None:
        return f"ical-{event_id}" if event_id in self.events else None

    async def tagged_events(self, mailbox: str, *, start: datetime, end: datetime) -> list[TaggedEvent]:
        self.calls.append(("list", mailbox))
        self._fault("list")
        return [TaggedEvent(e.id, e.source_key, dict(e.content)) for e in self.events.values()
                if e.mailbox == mailbox and e.source_key and (when := start_of(e.content)) and start <= when < end]

    def edit_by_hand(self, event_id: str, **fields: Any) -> None:
        """What a person does in Outlook: change fields of an event (our property stays)."""
        self.events[event_id].content.update(fields)

    async def find(self, mailbox: str, source_key: str, *, not_before: datetime) -> str | None:
        self.calls.append(("find", mailbox))
        for event in self.events.values():
            if event.mailbox == mailbox and event.source_key == source_key:
                return event.id
        return None


@dataclass
class InMemoryMappingStore:
    rows: dict[EntityKey, Mapping] = field(default_factory=dict)
    fail_next_saves: int = 0
    last_written: str | None = None
    _etags: itertools.count = field(default_factory=lambda: itertools.count(1))

    purge_name: str = "mappings"

    async def get(self, key: EntityKey) -> Mapping | None:
        return self.rows.get(key)

    async def purge(self, tenant_id: TenantId) -> int:
        gone = [k for k in self.rows if k.tenant == tenant_id]
        for k in gone:
            del self.rows[k]
        return len(gone)

    async def save(self, mapping: Mapping) -> Mapping:
        if self.fail_next_saves:
            self.fail_next_saves -= 1
            raise RuntimeError("process died before the mapping write")
        current = self.rows.get(mapping.key)
        if (current is None) != (mapping.etag is None) or (current and current.etag != mapping.etag):
            raise ConcurrencyConflict("etag mismatch")
        stored = replace(mapping, etag=f"etag{next(self._etags)}")
        self.rows[mapping.key] = stored
        self.last_written = mapping.mailbox or self.last_written
        return stored

    async def last_mailbox(self) -> str | None:
        return self.last_written

    async def count_live(self, source: str) -> int:
        return sum(1 for key, row in self.rows.items() if key.partition == source and not row.deleted)

    async def in_mailbox(self, mailbox: str) -> list[Mapping]:
        return [m for m in self.rows.values() if m.mailbox == mailbox.lower() and not m.deleted]

    async def mailboxes(self, source: str | None = None, *, tenant: TenantId | None = None) -> list[str]:
        return sorted({m.mailbox for m in self.rows.values()
                       if m.mailbox and not m.deleted and (m.key.tenant or None) == (tenant or None)
                       and (source is None or m.key.source == source)})


@dataclass
class InMemoryResourceStore:
    """Every mailbox is active until opted out; ``list`` shows every mailbox ever set, active or not."""

    settings: dict[str, ResourceSetting] = field(default_factory=dict)

    async def is_active(self, mailbox: str) -> bool:
        setting = self.settings.get(mailbox.lower())
        return setting is None or setting.active

    async def set_active(self, mailbox: str, active: bool) -> ResourceSetting:
        setting = ResourceSetting(mailbox.lower(), active, datetime.now(UTC))
        self.settings[setting.mailbox] = setting
        return setting

    async def list(self) -> list[ResourceSetting]:
        return sorted(self.settings.values(), key=lambda s: s.mailbox)


@dataclass
class InMemoryDeadLetterStore:
    records: dict[str, DeadLetterRecord] = field(default_factory=dict)
    purge_name: str = "deadletters"

    async def purge(self, tenant_id: TenantId) -> int:
        gone = [k for k, r in self.records.items() if r.tenant == tenant_id]
        for k in gone:
            del self.records[k]
        return len(gone)

    async def add(self, record: DeadLetterRecord) -> None:
        self.records[record.id] = record

    async def list(self) -> list[DeadLetterRecord]:
        return sorted(self.records.values(), key=lambda r: r.dead_lettered_at)

    async def get(self, record_id: str) -> DeadLetterRecord | None:
        return self.records.get(record_id)

    async def remove(self, record_id: str) -> None:
        self.records.pop(record_id, None)


@dataclass
class InMemoryDriftReportStore:
    runs: dict[str, DriftRun] = field(default_factory=dict)
    rows: dict[str, MailboxDrift] = field(default_factory=dict)
    purge_name: str = "drift"

    async def start(self, run: DriftRun, key: str = LAST_RUN) -> None:
        self.runs[key] = run

    async def last_run(self, key: str = LAST_RUN) -> DriftRun | None:
        return self.runs.get(key)

    async def record(self, report: MailboxDrift) -> None:
        self.rows[report.mailbox] = report

    async def reports(self, run_id: str) -> list[MailboxDrift]:
        return sorted((r for r in self.rows.values() if r.run_id == run_id), key=lambda r: r.mailbox)

    async def purge(self, tenant_id: TenantId) -> int:
        return _purge(self.runs, tenant_id) + _purge(self.rows, tenant_id)


def _purge(rows: dict[str, Any], tenant_id: str) -> int:
    """Remove the rows whose key (``tenant_key``) belongs to the tenant; how many went."""
    gone = [key for key in rows if tenant_of_key(key)[0] == tenant_id]
    for key in gone:
        del rows[key]
    return len(gone)
