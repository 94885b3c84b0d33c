"""ScheduleReader in memory, answering as Graph's getSchedule does (tests/contract/test_schedule_reader.py holds
it to the real adapter over the simulator): items overlapping the window in the request's zone, an entry with an
error for an address it does not know, Graph's limits as RejectedByGraph, an unknown mailbox in the URL as
UnknownMailbox, and a person without a connection as NeedsReconnect."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.app.ports.availability import ScheduleRequest
from shared.errors import NeedsReconnect, RejectedByGraph, UnknownMailbox

DEFAULT_HOURS: dict[str, Any] = {"daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
                                 "startTime": "08:00:00.0000000", "endTime": "17:00:00.0000000",
                                 "timeZone": {"name": "UTC"}}
_VIEW = {"free": "0", "workingelsewhere": "0", "tentative": "1", "busy": "2", "oof": "3"}


@dataclass
class FakeScheduleReader:
    """``calendars``: address → [(start, end, status)] (UTC); ``hours``: address → workingHours JSON."""

    calendars: dict[str, list[tuple[datetime, datetime, str]]] = field(default_factory=dict)
    hours: dict[str, dict[str, Any]] = field(default_factory=dict)
    connected: set[str] = field(default_factory=set)
    calls: list[tuple[str, bool, tuple[str, ...]]] = field(default_factory=list)
    delay: float = 0.0
    in_flight: int = 0
    peak: int = 0

    def add_person(self, address: str, *events: tuple[datetime, datetime, str], hours: dict[str, Any] | None = None
                   ) -> None:
        self.calendars[address.lower()] = list(events)
        if hours is not None:
            self.hours[address.lower()] = hours

    async def get_schedule(self, request: ScheduleRequest, *, mailbox: str,
                           as_user: bool = False) -> Sequence[dict[str, Any]]:
        self.calls.append((mailbox, as_user, request.schedules))
        if as_user and mailbox.lower() not in self.connected:
            raise NeedsReconnect(mailbox, "AADSTS50173: the grant has expired")
        if mailbox.lower() not in self.calendars:
            raise UnknownMailbox(f"mailbox {mailbox} is unknown to Microsoft 365 (Graph answered 404 ErrorInvalidUser)")
        if len(request.schedules) > 100:
            raise RejectedByGraph("Graph answered 400 ErrorMailboxDataArrayTooBig")
        if request.end - request.start > timedelta(days=62):
            raise RejectedByGraph("Graph answered 400 ErrorTimeIntervalTooBig")
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            return [self._one(address, request) for address in request.schedules]
        finally:
            self.in_flight -= 1

    def _one(self, address: str, request: ScheduleRequest) -> dict[str, Any]:
        events = self.calendars.get(address.lower())
        if events is None:
            return {"scheduleId": address, "error": {
                "message": f"Unable to resolve e-mail address {address} to an Active Directory object.",
                "responseCode": "5009"}}
        start, end = request.start.astimezone(UTC), request.end.astimezone(UTC)
        inside = sorted((s, e, status) for s, e, status in events if s < end and e > start)
        step = timedelta(minutes=request.interval_minutes)
        view, at = [], start
        while at < end:
            digits = [_VIEW.get(status.lower(), "2") for s, e, status in inside if s < at + step and e > at]
            view.append(max(digits, default="0"))
            at += step
        zone = request.zone

        def when(instant: datetime) -> dict[str, str]:
            local = instant.astimezone(zone.zone)
            return {"dateTime": local.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": zone.windows}

        return {"scheduleId": address, "availabilityView": "".join(view),
                "scheduleItems": [{"status": status, "start": when(s), "end": when(e)} for s, e, status in inside],
                "workingHours": self.hours.get(address.lower(), DEFAULT_HOURS)}
