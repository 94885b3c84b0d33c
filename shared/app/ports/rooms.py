"""What the room use cases need from the outside world (Graph, Table Storage, the booking system)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from shared.app.ports.tenants import PurgeableStore
from shared.domain.rooms.outbound_events import ReservationState
from shared.domain.tenants.model import Tenant

__all__ = ["BackfillJob", "DEFAULT_DIRECTORY", "DEFAULT_LOG", "DeltaPage", "DirectoryCursor", "EventLog", "Outbox",
           "OutboxItem", "OwnWrites", "Room",
           "RoomGraph", "RoomStore", "ReservationStore", "SubscriptionGateway", "SubscriptionInfo", "TenantRoomClients",
           "UserStore", "WebhookSender"]


@dataclass(frozen=True)
class BackfillJob:
    id: str
    start: str  # YYYY-MM-DD
    status: str  # "queued" | "running" | "done" | "failed"
    published: int = 0
    seen: int = 0
    finished_at: datetime | None = None
    error: str | None = None
    steps: int = 0  # steps counted into seen/published; a repeated step is not counted twice


@dataclass(frozen=True)
class Room:
    """A registered room and its subscription. ``client_state`` is a secret: never logged or listed."""

    email: str
    activated_at: datetime
    subscription_id: str | None = None
    client_state: str | None = field(default=None, repr=False)
    expires_at: datetime | None = None
    delta_link: str | None = field(default=None, repr=False)
    failing_since: datetime | None = None
    failure: str | None = None
    display_name: str | None = None
    show_subject: bool = True
    backfill: BackfillJob | None = None
    etag: str | None = None


@dataclass(frozen=True)
class SubscriptionInfo:
    id: str
    expires_at: datetime


@dataclass(frozen=True)
class DeltaPage:
    """One page of a delta round: ``next_link`` leads to the next page; the last page has ``delta_link``
    instead, the start of the next round."""

    events: list[dict[str, Any]]
    removed: list[str]
    next_link: str | None = None
    delta_link: str | None = None


@dataclass(frozen=True)
class DirectoryCursor:
    """Where the users delta stands: the last finished round's link and the round in progress, if any."""

    delta_link: str | None = None  # None: no round finished yet, so the first one is a baseline
    next_link: str | None = None  # the page the round in progress reads next
    round_id: str | None = None  # names the round in progress in its continuation messages
    baseline: bool = False  # the round in progress records who exists and publishes nothing
    step: int = 0  # the step of the round in progress that runs next
    updated_at: datetime | None = None


class SubscriptionGateway(Protocol):
    async def create(self, room: str, *, notification_url: str, lifecycle_url: str, client_state: str,
                     expires_at: datetime) -> SubscriptionInfo: ...

    async def renew(self, subscription_id: str, expires_at: datetime) -> SubscriptionInfo:
        """Raises ``NotFound`` when the subscription is gone (expired or removed)."""
        ...

    async def reauthorize(self, subscription_id: str) -> None: ...

    async def live(self) -> dict[str, datetime]:
        """The app's subscriptions Graph still holds, id → Graph's ``expirationDateTime`` (one listing, for
        the timer: Graph's expiry is the one that counts, it may be earlier than the one asked for)."""
        ...

    async def delete(self, subscription_id: str) -> None:
        """Raises ``NotFound`` when it is already gone."""
        ...


class RoomGraph(Protocol):
    async def get_event(self, room: str, event_id: str) -> dict[str, Any] | None:
        """The event as Graph JSON with our extended property expanded; None when it is gone."""
        ...

    async def calendar_delta_page(self, room: str, link: str | None, start: datetime,
                                  end: datetime) -> DeltaPage:
        """One page from ``link`` (a next or delta link), or the first page of a round over [start, end)
        when None. Raises ``NotFound`` when the link's state expired (410 SyncStateNotFound)."""
        ...

    async def list_rooms(self) -> list[dict[str, Any]]: ...

    async def users_delta_page(self, link: str | None) -> DeltaPage:
        """Like ``calendar_delta_page`` over the users directory (deleted users as ``@removed`` items)."""
        ...


class RoomStore(PurgeableStore, Protocol):
    """Every tenant's rooms; another tenant's are keyed ``tenant_key(tenant, email)`` (``rooms.tenancy``)."""

    async def get(self, email: str) -> Room | None: ...

    async def save(self, room: Room) -> Room:
        """Insert (etag None) or replace if unchanged since read; raises ``ConcurrencyConflict``."""
        ...

    async def delete(self, email: str) -> None: ...

    async def list(self) -> list[Room]: ...


class ReservationStore(PurgeableStore, Protocol):
    async def get(self, room: str, event_id: str) -> ReservationState | None: ...

    async def save(self, state: ReservationState) -> None: ...


class OwnWrites(PurgeableStore, Protocol):
    """iCalUIds of meetings the connector created, so a room's auto-accepted copy is known as ours. Another
    tenant's are kept as ``tenant_key(tenant, ical_uid)`` (``shared.app.rooms.tenancy.ScopedOwnWrites``)."""

    async def record(self, ical_uid: str, source_key: str) -> None: ...

    async def contains(self, ical_uid: str) -> bool: ...


DEFAULT_LOG = "log"  # the name of the default tenant's event log; another's is ``tenant_key(tenant, DEFAULT_LOG)``
DEFAULT_DIRECTORY = "delta"  # the name of the default tenant's directory cursor; another's likewise


class EventLog(PurgeableStore, Protocol):
    """Published CloudEvents in publication order, for the pull API: one log per tenant (``log``), the default
    tenant's named ``DEFAULT_LOG`` (``rooms.tenant_streams`` scopes the name for another tenant)."""

    async def append(self, events: list[dict[str, Any]], log: str = DEFAULT_LOG) -> None: ...

    async def read(self, since: str | None, limit: int,
                   log: str = DEFAULT_LOG) -> tuple[list[dict[str, Any]], str | None]: ...


@dataclass(frozen=True)
class OutboxItem:
    """One published event waiting for the booking system's webhook; ``key`` sorts in publication order."""

    stream: str
    key: str
    event: dict[str, Any]
    attempts: int = 0  # failed deliveries so far
    not_before: datetime | None = None  # the next attempt's time after a failure


class Outbox(PurgeableStore, Protocol):
    """Events on their way to the webhook, per stream (a room, or the users), oldest first; another tenant's
    streams are named ``tenant_key(tenant, stream)``."""

    async def add(self, stream: str, events: list[dict[str, Any]]) -> str:
        """Append ``events`` in order; returns the key of the first."""
        ...

    async def head(self, stream: str) -> OutboxItem | None: ...

    async def save(self, item: OutboxItem) -> None:
        """Store ``attempts`` and ``not_before`` of the item."""
        ...

    async def remove(self, item: OutboxItem) -> None: ...


class UserStore(PurgeableStore, Protocol):
    """Every tenant's users directory: another tenant's users and cursor keyed ``tenant_key(tenant, ...)``."""

    async def get(self, user_id: str) -> dict[str, Any] | None: ...

    async def put(self, user_id: str, row: dict[str, Any] | None) -> None:
        """Store the row, or forget the user when ``row`` is None."""
        ...

    async def cursor(self, directory: str = DEFAULT_DIRECTORY) -> DirectoryCursor:
        """Where the users delta of ``directory`` stands (all fields empty before the first round)."""
        ...

    async def set_cursor(self, cursor: DirectoryCursor, directory: str = DEFAULT_DIRECTORY) -> None: ...


class WebhookSender(Protocol):
    async def send(self, event: dict[str, Any]) -> None:
        """Deliver one CloudEvent; raises ``TransientError`` (retry) or ``PermanentError``."""
        ...


class TenantRoomClients(Protocol):
    """The Graph clients of a tenant other than the default for its watched calendars: every request with a token
    requested for that tenant, over the process's one pool and per-mailbox limiter."""

    def room_graph(self, tenant: Tenant) -> RoomGraph: ...

    def subscriptions(self, tenant: Tenant) -> SubscriptionGateway: ...
