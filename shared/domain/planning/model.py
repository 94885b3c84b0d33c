"""Value objects of the sync domain: entity keys, versions, planning events and mapping rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.domain.tenants.keys import tenant_key

__all__ = ["EntityKey", "Mapping", "PlanningEvent", "Version", "REMOVAL_TYPES", "EVENT_TYPES"]

EVENT_TYPES = (
    "task.planned",
    "task.rescheduled",
    "task.reassigned",
    "task.unplanned",
    "unavailability.added",
    "unavailability.updated",
    "unavailability.deleted",
    "workingday.added",
    "workingday.removed",
    "reservation.created",
    "reservation.updated",
    "reservation.cancelled",
    "appointment.scheduled",
    "appointment.updated",
    "appointment.cancelled",
)
REMOVAL_TYPES = frozenset({"task.unplanned", "unavailability.deleted", "workingday.removed", "reservation.cancelled",
                           "appointment.cancelled"})


@dataclass(frozen=True)
class EntityKey:
    """(source, subject): unique across planning systems, so several tenants or sources can share a deployment.
    ``tenant``: the tenant whose entity it is, None for the default tenant (its keys stay as they were)."""

    source: str
    subject: str
    tenant: str | None = None

    @property
    def partition(self) -> str:
        """The source, scoped to the tenant (``shared.domain.tenants.keys``): where the entity's rows live."""
        return tenant_key(self.tenant, self.source)

    @property
    def value(self) -> str:
        # A space cannot occur in a URI reference, so the joined form is unambiguous.
        return f"{self.source} {self.subject}"


@dataclass(frozen=True)
class Version:
    """An entity's revision: ``sequence`` where both sides have one, else the event time."""

    time: datetime
    sequence: int | None = None

    def is_newer_than(self, other: Version) -> bool:
        if self.sequence is not None and other.sequence is not None:
            return self.sequence > other.sequence
        return self.time > other.time


@dataclass(frozen=True)
class PlanningEvent:
    """A validated CloudEvent of the planning contract."""

    id: str
    source: str
    type: str
    subject: str
    time: datetime
    sequence: int | None
    data: dict[str, Any] | None

    @property
    def key(self) -> EntityKey:
        return EntityKey(self.source, self.subject)

    @property
    def version(self) -> Version:
        return Version(self.time, self.sequence)

    @property
    def is_removal(self) -> bool:
        return self.type in REMOVAL_TYPES


@dataclass(frozen=True)
class Mapping:
    """What the connector last applied for one entity.

    ``event_id`` is None when no calendar holds the entity (a tombstone after a delete, so a late,
    older "planned" can never bring it back). ``generation`` counts the creates committed so far;
    it makes each create's ``transactionId`` stable across redeliveries yet new after a delete or move.
    ``applied`` is the planning event (its JSON) that was applied last, so drift repair can restore it.
    """

    key: EntityKey
    version: Version
    mailbox: str | None = None
    event_id: str | None = None
    content_hash: str | None = None
    generation: int = 0
    etag: str | None = None
    applied: str | None = None

    @property
    def deleted(self) -> bool:
        return self.event_id is None
