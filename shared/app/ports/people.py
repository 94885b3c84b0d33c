"""Ports of the people capability (design.md section 11): delegated connections, appointments, availability.

Only the seam the pieces share is fixed here; each use case adds the ports it needs below.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

__all__ = ["Acting", "DelegatedCredentials", "Meeting", "MeetingCalendar"]


class DelegatedCredentials(Protocol):
    """A person's delegated connection as an async token credential for ``GraphSession.client_for``.

    ``for_user(user).get_token(*scopes)`` returns an access token acting as ``user`` (refreshed silently), or
    raises ``NeedsReconnect`` (not connected, or Entra refused the refresh token: ``invalid_grant``) naming the
    reason; ``is_connected`` answers without asking Entra (for ``CONNECTOR_APPOINTMENT_AUTH=auto``)."""

    def for_user(self, user: str) -> Any: ...

    async def is_connected(self, user: str) -> bool: ...


# -- appointments

Acting = Literal["delegated", "application"]  # whose token writes: the organizer's connection, or the app's


@dataclass(frozen=True)
class Meeting:
    """What Graph tells of a meeting the connector wrote: its id, the iCalUId the attendees' copies share, the
    Outlook link, and the Teams join link once Graph has made the online meeting (None before, or offline)."""

    id: str
    ical_uid: str | None = None
    web_link: str | None = None
    join_url: str | None = None


class MeetingCalendar(Protocol):
    """Meetings in organizers' calendars (Graph sends the invitations, updates and cancellations). Each call acts
    as ``acting`` says; a delegated one raises ``NeedsReconnect`` when the organizer must sign in again."""

    async def create(self, organizer: str, content: dict[str, Any], *, transaction_id: str, source_key: str,
                     acting: Acting) -> Meeting:
        """Create the meeting tagged with ``source_key`` (a repeated ``transaction_id`` returns the first)."""
        ...

    async def update(self, organizer: str, event_id: str, changes: dict[str, Any], *, source_key: str,
                     acting: Acting) -> Meeting:
        """PATCH only ``changes``. Raises ``NotFound`` when the meeting is gone."""
        ...

    async def cancel(self, organizer: str, event_id: str, comment: str | None, *, acting: Acting) -> None:
        """Graph's cancel action: attendees get a cancellation with ``comment``. Raises ``NotFound`` when gone."""
        ...

    async def read(self, organizer: str, event_id: str, *, acting: Acting) -> Meeting:
        """The meeting as Graph has it now. Raises ``NotFound`` when gone."""
        ...

    async def find(self, organizer: str, source_key: str, *, not_before: datetime, acting: Acting) -> str | None:
        """The id of a meeting tagged ``source_key`` starting at or after ``not_before``, if any."""
        ...
