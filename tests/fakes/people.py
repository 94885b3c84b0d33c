"""In-memory people ports: meetings in organizers' calendars (MeetingCalendar) and delegated connections
(DelegatedCredentials), with the real semantics that matter (transactionId dedup, 404 once cancelled, a join
link that may come only on a later read, NeedsReconnect for a person who is not connected)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.app.ports.people import Acting, Meeting
from shared.errors import ConnectorError, NeedsReconnect, NotFound


@dataclass
class FakeMeeting:
    id: str
    organizer: str
    content: dict[str, Any]
    source_key: str
    transaction_id: str
    cancelled: str | None = None  # the comment, once cancelled
    reads: int = 0


@dataclass
class FakeMeetings:
    meetings: dict[str, FakeMeeting] = field(default_factory=dict)
    calls: list[tuple[str, ...]] = field(default_factory=list)  # (operation, organizer, acting)
    patches: list[dict[str, Any]] = field(default_factory=list)
    faults: list[tuple[str, BaseException]] = field(default_factory=list)
    join_after_reads: int = 0  # 0: the create's answer carries the join link; n: the n-th read does
    delegated: Any = None  # a FakeDelegated: delegated calls ask it for a token, as the real adapter does
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def _enter(self, operation: str, organizer: str, acting: Acting) -> None:
        self.calls.append((operation, organizer, acting))
        if acting == "delegated" and self.delegated is not None:
            self.delegated.token_for(organizer)
        for index, (name, error) in enumerate(self.faults):
            if name == operation:
                del self.faults[index]
                raise error

    def _meeting(self, item: FakeMeeting, *, read: bool = False) -> Meeting:
        online = bool(item.content.get("isOnlineMeeting"))
        ready = online and (item.reads >= self.join_after_reads if read else self.join_after_reads == 0)
        return Meeting(item.id, f"ical-{item.id}", f"https://outlook.example/{item.id}",
                       f"https://teams.example/join/{item.id}" if ready else None)

    def live(self) -> list[FakeMeeting]:
        return [m for m in self.meetings.values() if m.cancelled is None]

    async def create(self, organizer: str, content: dict[str, Any], *, transaction_id: str, source_key: str,
                     acting: Acting) -> Meeting:
        self._enter("create", organizer, acting)
        for item in self.meetings.values():
            if item.organizer == organizer and item.transaction_id == transaction_id:
                return self._meeting(item)
        item = FakeMeeting(f"m{next(self._ids)}", organizer, dict(content), source_key, transaction_id)
        self.meetings[item.id] = item
        return self._meeting(item)

    def _get(self, organizer: str, event_id: str) -> FakeMeeting:
        item = self.meetings.get(event_id)
        if item is None or item.organizer != organizer or item.cancelled is not None:
            raise NotFound("ErrorItemNotFound")
        return item

    async def update(self, organizer: str, event_id: str, changes: dict[str, Any], *, source_key: str,
                     acting: Acting) -> Meeting:
        self._enter("update", organizer, acting)
        item = self._get(organizer, event_id)
        self.patches.append(dict(changes))
        item.content.update(changes)
        return self._meeting(item)

    async def cancel(self, organizer: str, event_id: str, comment: str | None, *, acting: Acting) -> None:
        self._enter("cancel", organizer, acting)
        self._get(organizer, event_id).cancelled = comment or ""

    async def read(self, organizer: str, event_id: str, *, acting: Acting) -> Meeting:
        self._enter("read", organizer, acting)
        item = self._get(organizer, event_id)
        item.reads += 1
        return self._meeting(item, read=True)

    async def find(self, organizer: str, source_key: str, *, not_before: datetime, acting: Acting) -> str | None:
        self._enter("find", organizer, acting)
        return next((m.id for m in self.live() if m.organizer == organizer and m.source_key == source_key), None)

    def fail_next(self, operation: str, error: ConnectorError) -> None:
        self.faults.append((operation, error))


@dataclass
class FakeDelegated:
    """Delegated connections: who is connected, and who must reconnect (their token is refused)."""

    connected: set[str] = field(default_factory=set)
    refused: set[str] = field(default_factory=set)

    def for_user(self, user: str) -> Any:
        return self

    async def is_connected(self, user: str) -> bool:
        return user in self.connected

    def token_for(self, user: str) -> None:
        if user in self.refused or user not in self.connected:
            raise NeedsReconnect(user, "AADSTS50173: the grant has expired")
