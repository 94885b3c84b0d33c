"""Ports of the people capability (design.md section 11): delegated connections, appointments, availability.

Only the seam the pieces share is fixed at the top (``DelegatedCredentials``); each use case adds the ports it
needs below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from shared.domain.people.connections import Connection

__all__ = ["AuthorizeRequest", "ConnectAttempt", "ConnectAttempts", "ConnectionStore", "DelegatedCredentials",
           "ReconnectMailer", "Redemption", "SilentToken", "TokenAuthority"]


class DelegatedCredentials(Protocol):
    """A person's delegated connection as an async token credential for ``GraphSession.client_for``.

    ``for_user(user).get_token(*scopes)`` returns an access token acting as ``user`` (refreshed silently), or
    raises ``NeedsReconnect`` (not connected, or Entra refused the refresh token: ``invalid_grant``) naming the
    reason; ``is_connected`` answers without asking Entra (for ``CONNECTOR_APPOINTMENT_AUTH=auto``)."""

    def for_user(self, user: str) -> Any: ...

    async def is_connected(self, user: str) -> bool: ...


# -- delegated connections


class ConnectionStore(Protocol):
    """One row per person (``Connection``), written with ETags."""

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
