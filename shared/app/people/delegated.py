"""People's delegated connections as async token credentials (``DelegatedCredentials``).

``for_user(user).get_token()`` decrypts the person's MSAL token cache, asks MSAL for a token silently (it
refreshes when the access token is due, and Entra rotates the refresh token) and writes a changed cache back
under the row's ETag. Two instances refreshing at once: the second write loses, re-reads the row and takes its
token from the newer cache stored there, so the newer refresh token is never overwritten by an older one.
``invalid_grant`` (or no connection) marks the connection needs-reconnect (``lifecycle.record_broken``) and
raises ``NeedsReconnect``. Tokens are kept in memory for a minute per person, so a burst decrypts once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field, replace
from typing import Any

from shared.app.people.lifecycle import PeopleDeps, record_broken
from shared.domain.people.cipher import Unreadable
from shared.domain.people.connections import CONNECTED, refusal_reason
from shared.errors import ConcurrencyConflict, NeedsReconnect, NotFound, TransientError

__all__ = ["DelegatedToken", "StoredDelegatedCredentials"]

logger = logging.getLogger(__name__)

MEMORY_SECONDS = 60.0
MARGIN_SECONDS = 300  # an access token with less left is refreshed
_ATTEMPTS = 8
_REFUSED = {"invalid_grant", "interaction_required"}


@dataclass(frozen=True)
class DelegatedToken:
    """What azure-core's ``AccessToken`` offers the Graph client: the token and when it expires (epoch s)."""

    token: str = field(repr=False)
    expires_on: int


class _UserCredential:
    """One person's async token credential (kiota's AzureIdentityAuthenticationProvider calls ``get_token``;
    the session's refresh handler calls ``invalidate`` on a 401)."""

    def __init__(self, owner: StoredDelegatedCredentials, user: str) -> None:
        self._owner, self.user = owner, user

    async def get_token(self, *scopes: str, **kwargs: Any) -> DelegatedToken:
        return await self._owner.token(self.user)

    async def invalidate(self, token: str) -> None:
        self._owner.forget(self.user, token)

    async def close(self) -> None:
        return None


class StoredDelegatedCredentials:
    def __init__(self, deps: PeopleDeps) -> None:
        self._deps = deps
        self._memory: dict[str, tuple[float, DelegatedToken]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def for_user(self, user: str) -> _UserCredential:
        return _UserCredential(self, user.strip().lower())

    async def is_connected(self, user: str) -> bool:
        user = user.strip().lower()
        if self._fresh(user) is not None:  # a token in memory: connected a moment ago, no table read needed
            return True
        connection = await self._deps.connections.get(user)
        return connection is not None and connection.state == CONNECTED

    def forget(self, user: str, token: str | None = None) -> None:
        cached = self._memory.get(user)
        if cached and (token is None or cached[1].token == token):
            del self._memory[user]

    async def token(self, user: str) -> DelegatedToken:
        cached = self._fresh(user)
        if cached is not None:
            return cached
        async with self._locks.setdefault(user, asyncio.Lock()):  # one refresh per person in this process
            cached = self._fresh(user)
            if cached is not None:
                return cached
            token = await self._acquire(user)
            self._memory[user] = (time.monotonic(), token)
            return token

    def _fresh(self, user: str) -> DelegatedToken | None:
        cached = self._memory.get(user)
        if cached is None:
            return None
        kept_at, token = cached
        if time.monotonic() - kept_at < MEMORY_SECONDS and token.expires_on - time.time() > MARGIN_SECONDS:
            return token
        return None

    async def _acquire(self, user: str) -> DelegatedToken:
        deps = self._deps
        cipher = deps.cipher()
        for _ in range(_ATTEMPTS):
            connection = await deps.connections.get(user)
            if connection is None:
                raise NeedsReconnect(deps.parked_as(user), "not connected")
            if connection.state != CONNECTED:
                raise NeedsReconnect(deps.parked_as(user), connection.reason or connection.state)
            try:
                cache = cipher.open(connection.cache, bound_to=user).decode("utf-8")
            except Unreadable as exc:
                reason = f"the stored tokens cannot be read ({exc})"
                await record_broken(user, reason, deps, seen=connection)
                raise NeedsReconnect(deps.parked_as(user), reason) from None
            result = await deps.authority.silent(cache, connection.account)
            if result.error:
                if result.error in _REFUSED or not connection.account:
                    reason = refusal_reason(result.error, result.error_description)
                    await record_broken(user, reason, deps, seen=connection)
                    raise NeedsReconnect(deps.parked_as(user), reason)
                raise TransientError(f"Entra did not refresh the token of {user}: {result.error}")
            if result.cache is None and cipher.is_current(connection.cache):
                return DelegatedToken(result.token, result.expires_on)
            # A refresh changed the cache (or it is sealed under an older key): write it back under the ETag.
            try:
                await deps.connections.save(replace(connection, cache=cipher.seal(
                    (result.cache or cache).encode("utf-8"), bound_to=user)))
            except (ConcurrencyConflict, NotFound):
                logger.info("token cache of %s changed on another instance; reading it again", user)
                continue  # the stored cache is newer: take the token from it
            return DelegatedToken(result.token, result.expires_on)
        raise TransientError(f"token cache of {user}: too many concurrent refreshes")
