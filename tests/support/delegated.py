"""A stand-in for the connections adapter (``DelegatedCredentials``) whose tokens come from the Graph simulator:
a connected person's ``get_token`` returns a delegated Graph token minted by ``POST /_sim/people/tokens``; anyone
else raises ``NeedsReconnect``, as a refused refresh token does."""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from azure.core.credentials import AccessToken

from local.graphsim.server import RunningSimulator
from shared.errors import NeedsReconnect


@dataclass
class SimDelegatedCredentials:
    sim: RunningSimulator
    connected: set[str] = field(default_factory=set)
    scopes: tuple[str, ...] = ("Calendars.ReadWrite", "User.Read")
    issued: list[str] = field(default_factory=list)  # the people tokens were issued for, in order

    def for_user(self, user: str) -> Any:
        return _PersonCredential(self, user.lower())

    async def is_connected(self, user: str) -> bool:
        return user.lower() in self.connected


@dataclass
class _PersonCredential:
    owner: SimDelegatedCredentials
    user: str

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        if self.user not in self.owner.connected:
            raise NeedsReconnect(self.user, "AADSTS50173: the provided grant has expired")
        async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(self.owner.sim.ca_path))) as client:
            answer = await client.post(f"{self.owner.sim.base_url}/_sim/people/tokens",
                                       json={"user": self.user, "scopes": list(self.owner.scopes)})
        answer.raise_for_status()
        self.owner.issued.append(self.user)
        body = answer.json()
        return AccessToken(body["access_token"], int(time.time()) + int(body["expires_in"]))

    async def close(self) -> None:
        return None
