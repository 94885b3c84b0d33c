"""What the availability use case needs from Graph: one getSchedule request (design.md section 11, Availability)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from shared.domain.timezones import TimeZone

__all__ = ["ScheduleReader", "ScheduleRequest"]


@dataclass(frozen=True)
class ScheduleRequest:
    """One getSchedule call: at most Graph's 100 ``schedules``, a window of at most 62 days, answered in ``zone``."""

    schedules: tuple[str, ...]
    start: datetime
    end: datetime
    zone: TimeZone
    interval_minutes: int


class ScheduleReader(Protocol):
    async def get_schedule(self, request: ScheduleRequest, *, mailbox: str,
                           as_user: bool = False) -> Sequence[dict[str, Any]]:
        """``POST /users/{mailbox}/calendar/getSchedule``: Graph's ``scheduleInformation`` JSON, one per schedule
        Graph answered (an address it cannot see comes back with an ``error``).

        ``as_user``: act through ``mailbox``'s own delegated connection (raises ``NeedsReconnect`` when it has
        none that works); otherwise through the app's permission (Calendars.Read).
        Raises ``UnknownMailbox`` when Graph does not know ``mailbox``; ``Throttled``/``TransientError``,
        ``Forbidden``, ``RejectedByGraph`` as every Graph adapter does."""
        ...
