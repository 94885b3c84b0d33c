"""Ports of the mass-deletion breaker: per-source breaker state, windowed delete counters, held messages.

Shared by every instance (Table Storage); unit tests use the in-memory fake, and tests/contract runs both
through one suite.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from shared.app.ports.tenants import PurgeableStore
from shared.domain.planning.breaker import DeleteCounts

__all__ = ["BreakerState", "BreakerStore", "HeldMessage"]


@dataclass(frozen=True)
class BreakerState:
    """One source's breaker. ``epoch`` starts afresh with each release or discard, so the window counts
    only deletes made after the operator's decision."""

    source: str
    tripped: bool = False
    since: datetime | None = None
    reason: str = ""
    deletes: int = 0  # deletes in the window when it tripped
    epoch: int = 0
    decided_at: datetime | None = None  # the last release or discard
    decision: str = ""  # "released" | "discarded"


@dataclass(frozen=True)
class HeldMessage:
    """A delete held while the breaker is tripped: the queue message as it came, to replay or drop."""

    source: str
    id: str  # stable per queue message, so a redelivery holds it once
    message_id: str
    session_id: str | None
    subject: str
    mailbox: str
    body: str
    held_at: datetime
    application_properties: dict[str, str] = field(default_factory=dict)


class BreakerStore(PurgeableStore, Protocol):
    """Every tenant's breakers: another tenant's source is ``tenant_key(tenant, source)`` (a view scopes it,
    ``shared.app.planning.tenancy``); a tenant's state, delete log and held messages go with its purge."""

    async def get(self, source: str) -> BreakerState | None:
        """The source's breaker; None before it ever tripped."""
        ...

    async def count_delete(self, source: str, mailbox: str, *, delete_id: str, epoch: int, bucket: int,
                           window: int) -> DeleteCounts:
        """Record the delete ``delete_id`` in (source, ``epoch``, ``bucket``) and return the source's and the
        mailbox's deletes of ``epoch`` in the buckets ``bucket - window + 1`` to ``bucket``, this one included.
        A ``delete_id`` recorded before counts once (a redelivered message); concurrent callers on any
        instance lose no delete."""
        ...

    async def trip(self, state: BreakerState) -> BreakerState:
        """Trip the breaker unless it is tripped already (then the first trip's state stays); return the state."""
        ...

    async def reset(self, source: str, *, decision: str, at: datetime) -> BreakerState:
        """Close the breaker and start a new epoch (``decision``: released | discarded)."""
        ...

    async def hold(self, message: HeldMessage) -> None:
        """Keep a held message (again: the same ``id`` is kept once)."""
        ...

    async def held(self, source: str) -> list[HeldMessage]:
        """The source's held messages, oldest first."""
        ...

    async def count_held(self, source: str) -> int: ...

    async def unhold(self, source: str, message_id: str) -> None:
        """Forget a held message (already gone: done)."""
        ...

    # last: below it, ``list`` in annotations would mean this method
    async def list(self) -> list[BreakerState]:
        """Every source whose breaker ever tripped, sorted by source."""
        ...
