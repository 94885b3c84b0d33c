"""Ports: what the application needs from the outside world, as typing Protocols.

Adapters over Graph, Table Storage and the queues implement them; unit tests use fakes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from shared.app.ports.people import MeetingCalendar
from shared.app.ports.tenants import PurgeableStore
from shared.domain.planning.drift import TaggedEvent
from shared.domain.planning.model import EntityKey, Mapping
from shared.domain.tenants.model import Tenant, TenantId

__all__ = ["LAST_RUN", "CalendarGateway", "CreatedEvent", "DeadLetterRecord", "DeadLetterStore", "DriftReportStore",
           "DriftRun", "MailboxDrift", "MappingStore", "ResourceSetting", "ResourceStore", "TenantCalendars"]


@dataclass(frozen=True)
class CreatedEvent:
    """What Graph's answer to a create tells: the event's id and its iCalUId (shared by attendees' copies)."""

    id: str
    ical_uid: str | None = None


class CalendarGateway(Protocol):
    """Events in users' default calendars (Microsoft Graph)."""

    async def create(self, mailbox: str, content: dict[str, Any], *, transaction_id: str,
                     source_key: str) -> CreatedEvent:
        """Create the event tagged with ``source_key``. Raises connector errors."""
        ...

    async def update(self, mailbox: str, event_id: str, content: dict[str, Any], *, source_key: str) -> None:
        """Overwrite the managed fields. Raises ``NotFound`` when the event is gone."""
        ...

    async def delete(self, mailbox: str, event_id: str) -> None:
        """Delete the event. Raises ``NotFound`` when it is already gone."""
        ...

    async def find(self, mailbox: str, source_key: str, *, not_before: datetime) -> str | None:
        """The id of an event tagged with ``source_key`` starting at or after ``not_before``, if any."""
        ...

    async def ical_uid(self, mailbox: str, event_id: str) -> str | None:
        """The iCalUId of an event (recorded for reservations, so the room's copy is known as ours)."""
        ...

    async def tagged_events(self, mailbox: str, *, start: datetime, end: datetime) -> list[TaggedEvent]:
        """The events carrying the connector's source-key property that overlap [start, end), page by page
        (sequentially), each with its managed fields (times in UTC)."""
        ...


class TenantCalendars(Protocol):
    """The calendar gateway of a tenant other than the default: every request with a token requested for that
    tenant (its registered credential), over the process's one pool and per-mailbox limiter."""

    def calendar(self, tenant: Tenant) -> CalendarGateway: ...

    def meetings(self, tenant: Tenant) -> MeetingCalendar:
        """The tenant's meetings: the app's token requested for that tenant, or the organizer's connection."""
        ...


class MappingStore(PurgeableStore, Protocol):
    """Mapping rows; a tenant's are keyed by its ``EntityKey.tenant`` and go with a tenant purge."""

    async def get(self, key: EntityKey) -> Mapping | None: ...

    async def save(self, mapping: Mapping) -> Mapping:
        """Insert (``etag`` None) or replace if unchanged since read; raise ``ConcurrencyConflict``."""
        ...

    async def last_mailbox(self) -> str | None:
        """A mailbox written recently (within about a minute of the latest write); None before any."""
        ...

    async def count_live(self, source: str) -> int:
        """How many of ``source``'s entities a calendar holds now (tombstones excluded; another tenant's source is
        named by its partition, ``EntityKey.partition``). May be up to a minute
        old (the Table adapter counts a partition, so it caches); only the mass-deletion breaker asks."""
        ...

    async def in_mailbox(self, mailbox: str) -> list[Mapping]:
        """The live rows (with an event) whose event is in ``mailbox``, with what they applied."""
        ...

    async def mailboxes(self, source: str | None = None, *, tenant: TenantId | None = None) -> list[str]:
        """The mailboxes live rows of ``tenant`` (None: the default tenant) point to (of one ``source`` only, when
        given), sorted."""
        ...


@dataclass(frozen=True)
class ResourceSetting:
    mailbox: str
    active: bool
    updated_at: datetime | None = None


class ResourceStore(Protocol):
    async def is_active(self, mailbox: str) -> bool: ...

    async def set_active(self, mailbox: str, active: bool) -> ResourceSetting: ...

    async def list(self) -> list[ResourceSetting]: ...


@dataclass(frozen=True)
class DeadLetterRecord:
    """A message the connector gave up on, with the reason an operator reads and what a replay needs."""

    id: str
    queue: str
    message_id: str
    session_id: str | None
    body: str
    reason: str
    delivery_count: int
    dead_lettered_at: datetime
    tenant: str | None = None  # the tenant of the message (None: recorded before there were tenants: the default)

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "tenant": self.tenant,
            "queue": self.queue,
            "messageId": self.message_id,
            "sessionId": self.session_id,
            "reason": self.reason,
            "deliveryCount": self.delivery_count,
            "deadLetteredAt": self.dead_lettered_at.isoformat(),
            "body": self.body,
        }


class DeadLetterStore(PurgeableStore, Protocol):
    """Dead letters, each recording its tenant; a tenant's go with a tenant purge."""

    async def add(self, record: DeadLetterRecord) -> None: ...

    async def list(self) -> list[DeadLetterRecord]: ...

    async def get(self, record_id: str) -> DeadLetterRecord | None: ...

    async def remove(self, record_id: str) -> None: ...


@dataclass(frozen=True)
class DriftRun:
    """One drift repair run: when, why, how (restore or report) and how many mailboxes it queued."""

    run_id: str
    started_at: datetime
    trigger: str  # "timer" or "operator"
    mode: str
    mailboxes: int

    def as_dict(self) -> dict[str, object]:
        return {"runId": self.run_id, "startedAt": self.started_at.isoformat(), "trigger": self.trigger,
                "mode": self.mode, "mailboxes": self.mailboxes}


@dataclass(frozen=True)
class MailboxDrift:
    """What a run found in one mailbox, by kind, and what it did about it, by action."""

    run_id: str
    mailbox: str
    finished_at: datetime
    found: dict[str, int]
    done: dict[str, int]
    error: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {"mailbox": self.mailbox, "finishedAt": self.finished_at.isoformat(), "found": self.found,
                "done": self.done, "error": self.error}


LAST_RUN = "last"  # the key of the default tenant's last drift run (another's: ``tenant_key(tenant, LAST_RUN)``)


class DriftReportStore(PurgeableStore, Protocol):
    """The last drift run and its report per mailbox (Table Storage), of every tenant: another tenant's run is
    kept under ``tenant_key(tenant, LAST_RUN)`` and its mailboxes as ``tenant_key(tenant, mailbox)`` (a view
    scopes them, ``shared.app.planning.tenancy``); they go with the tenant's purge."""

    async def start(self, run: DriftRun, key: str = LAST_RUN) -> None: ...

    async def last_run(self, key: str = LAST_RUN) -> DriftRun | None: ...

    async def record(self, report: MailboxDrift) -> None: ...

    async def reports(self, run_id: str) -> list[MailboxDrift]: ...
