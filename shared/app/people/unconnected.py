"""The stand-in for ``DelegatedCredentials`` while a deployment keeps no delegated connections: nobody is
connected, so ``auto`` writes with the app's token and ``delegated`` waits for a connection."""

from __future__ import annotations

from typing import Any

from shared.errors import NeedsReconnect

__all__ = ["NoConnections"]


class NoConnections:
    def for_user(self, user: str) -> Any:
        return _Refused(user)

    async def is_connected(self, user: str) -> bool:
        return False


class _Refused:
    def __init__(self, user: str) -> None:
        self._user = user

    async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        raise NeedsReconnect(self._user, "not connected")

    async def close(self) -> None:
        return None
