"""What watching organizers needs: the watched organizers (each with its calendar subscription) and, per meeting
the connector wrote into a watched calendar, the last known state (attendees' answers, times)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from shared.app.ports.tenants import PurgeableStore
from shared.domain.people.watching import AppointmentWatch

__all__ = ["AppointmentWatchStore", "Organizer", "OrganizerStore"]


@dataclass(frozen=True)
class Organizer:
    """A watched organizer and its subscription (as a ``Room``'s). ``client_state`` is a secret: never listed."""

    email: str
    activated_at: datetime
    subscription_id: str | None = None
    client_state: str | None = field(default=None, repr=False)
    expires_at: datetime | None = None
    failing_since: datetime | None = None
    failure: str | None = None
    etag: str | None = None


class OrganizerStore(PurgeableStore, Protocol):
    async def get(self, email: str) -> Organizer | None: ...

    async def save(self, organizer: Organizer) -> Organizer:
        """Insert (etag None) or replace if unchanged since read; raises ``ConcurrencyConflict``."""
        ...

    async def delete(self, email: str) -> None: ...

    async def list(self) -> list[Organizer]: ...


class AppointmentWatchStore(PurgeableStore, Protocol):
    async def get(self, organizer: str, event_id: str) -> AppointmentWatch | None: ...

    async def save(self, state: AppointmentWatch) -> None:
        """Upsert (the organizer's queue session serialises the worker's writes)."""
        ...

    async def list(self, organizer: str) -> list[AppointmentWatch]: ...

    async def forget(self, organizer: str) -> None:
        """Every row of ``organizer`` (when it is no longer watched)."""
        ...
