"""Ports of the people capability (design.md section 11): delegated connections, appointments, availability.

Only the seam the pieces share is fixed at the top (``DelegatedCredentials``); each use case adds the ports it
needs below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from shared.app.ports.tenants import PurgeableStore
from shared.domain.people.connections import Connection

__all__ = ["Acting", "AuthorizeRequest", "ConnectAttempt", "ConnectAttempts", "ConnectionStore", "DelegatedCredentials",
           "Meeting", "MeetingCalendar", "ReconnectMailer", "Redemption", "SilentToken", "TokenAuthority"]


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


# -- delegated connections


class ConnectionStore(PurgeableStore, Protocol):
    """One row per person (``Connection``), written with ETags; a tenant's rows are keyed ``tenant_key``
    (``shared/app/people/tenancy.py``), so a purge removes them."""

    async def get(self, user: str) -> Connection | None: ...

    async def save(self, connection: Connection) -> Connection:
        """Insert (``etag`` None) or replace the row only if unchanged since ``etag`` was read; return it with
        its new ETag. Raises ``ConcurrencyConflict`` when another writer got there first."""
        ...

    async def delete(self, user: str) -> None: ...

    async def list(self) -> list[Connection]: ...


@dataclass(frozen=True)
class ConnectAttempt:
    """A connect flow between ``POST /api/connections`` and the callback. ``flow`` is MSAL's auth code flow
    (PKCE verifier, nonce) sealed with the token cipher; ``used`` once the callback claimed it."""

    nonce: str
    user: str
    return_url: str
    flow: str = field(repr=False)
    expires_at: datetime
    used: bool = False


class ConnectAttempts(Protocol):
    async def add(self, attempt: ConnectAttempt) -> None: ...

    async def claim(self, nonce: str) -> tuple[ConnectAttempt, bool] | None:
        """The attempt and whether this call claimed it (True exactly once, of any number of concurrent calls);
        None when no attempt has this nonce."""
        ...


@dataclass(frozen=True)
class AuthorizeRequest:
    url: str
    flow: dict[str, Any] = field(repr=False)  # MSAL's auth code flow: keep it server-side, sealed


@dataclass(frozen=True)
class Redemption:
    """What the code redemption gave: the signed-in account and MSAL's serialized token cache, or Entra's
    error (``error`` set, nothing else)."""

    username: str = ""  # the id token's preferred_username
    object_id: str = ""  # the id token's oid
    account: str = ""  # MSAL's home_account_id
    scopes: tuple[str, ...] = ()
    cache: str = field(default="", repr=False)
    error: str = ""
    error_description: str = ""


@dataclass(frozen=True)
class SilentToken:
    """An access token from the cache (refreshed when due), the cache again when the refresh changed it, or
    Entra's error."""

    token: str = field(default="", repr=False)
    expires_on: int = 0
    cache: str | None = field(default=None, repr=False)
    error: str = ""
    error_description: str = ""


class TokenAuthority(Protocol):
    """Entra's authorization code flow with PKCE and silent refresh (MSAL); no tokens in errors or logs."""

    async def begin(self, user: str, state: str, redirect_uri: str) -> AuthorizeRequest: ...

    async def redeem(self, flow: dict[str, Any], response: dict[str, str]) -> Redemption: ...

    async def silent(self, cache: str, account: str) -> SilentToken: ...

    def admin_consent_url(self, redirect_uri: str) -> str: ...


class ReconnectMailer(Protocol):
    async def send(self, sender: str, to: str, subject: str, html: str) -> None: ...
