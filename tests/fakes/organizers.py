"""In-memory stores of watched organizers, with the table stores' semantics (ETags on organizers, upserts on the
per-meeting state). tests/contract runs the same suite against these and the Table Storage adapters."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace

from shared.app.ports.organizers import Organizer
from shared.domain.people.watching import AppointmentWatch
from shared.errors import ConcurrencyConflict
from tests.fakes.rooms import _purge


@dataclass
class InMemoryOrganizers:
    rows: dict[str, Organizer] = field(default_factory=dict)
    _etags: itertools.count = field(default_factory=lambda: itertools.count(1))
    purge_name: str = "organizers"

    async def purge(self, tenant_id: str) -> int:
        return _purge(self.rows, tenant_id, lambda key: key)

    async def get(self, email: str) -> Organizer | None:
        return self.rows.get(email.lower())

    async def save(self, organizer: Organizer) -> Organizer:
        current = self.rows.get(organizer.email)
        if (current is None) != (organizer.etag is None) or (current and current.etag != organizer.etag):
            raise ConcurrencyConflict("etag")
        stored = replace(organizer, etag=f"e{next(self._etags)}")
        self.rows[organizer.email] = stored
        return stored

    async def delete(self, email: str) -> None:
        self.rows.pop(email.lower(), None)

    async def list(self) -> list[Organizer]:
        return sorted(self.rows.values(), key=lambda o: o.email)


@dataclass
class InMemoryAppointmentWatches:
    rows: dict[tuple[str, str], AppointmentWatch] = field(default_factory=dict)
    purge_name: str = "appointmentwatch"

    async def purge(self, tenant_id: str) -> int:
        return _purge(self.rows, tenant_id, lambda key: key[0])

    async def get(self, organizer: str, event_id: str) -> AppointmentWatch | None:
        return self.rows.get((organizer.lower(), event_id))

    async def save(self, state: AppointmentWatch) -> None:
        self.rows[(state.organizer.lower(), state.event_id)] = state

    async def list(self, organizer: str) -> list[AppointmentWatch]:
        return [s for (o, _), s in self.rows.items() if o == organizer.lower()]

    async def forget(self, organizer: str) -> None:
        self.rows = {k: v for k, v in self.rows.items() if k[0] != organizer.lower()}
