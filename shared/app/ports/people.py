"""Ports of the people capability (design.md section 11): delegated connections, appointments, availability.

Only the seam the pieces share is fixed here; each use case adds the ports it needs below.
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["DelegatedCredentials"]


class DelegatedCredentials(Protocol):
    """A person's delegated connection as an async token credential for ``GraphSession.client_for``.

    ``for_user(user).get_token(*scopes)`` returns an access token acting as ``user`` (refreshed silently), or
    raises ``NeedsReconnect`` (not connected, or Entra refused the refresh token: ``invalid_grant``) naming the
    reason; ``is_connected`` answers without asking Entra (for ``CONNECTOR_APPOINTMENT_AUTH=auto``)."""

    def for_user(self, user: str) -> Any: ...

    async def is_connected(self, user: str) -> bool: ...
