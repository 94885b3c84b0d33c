"""In-memory fakes of the people ports: connections (ETags as Table Storage keeps them), connect attempts
(claimed once), parked work, and a scripted Entra (``FakeAuthority``) whose caches are small JSON documents."""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

from shared.app.messaging import MessageQueue, OutboundMessage
from shared.app.ports.people import AuthorizeRequest, ConnectAttempt, Redemption, SilentToken
from shared.domain.people.connections import Connection
from shared.domain.tenants.keys import tenant_of_key
from shared.errors import ConcurrencyConflict
from tests.fakes.rooms import _purge

_etags = itertools.count(1)


@dataclass
class InMemoryConnectionStore:
    rows: dict[str, Connection] = field(default_factory=dict)
    writes: int = 0
    reads: int = 0
    purge_name: str = "connections"

    async def purge(self, tenant_id: str) -> int:
        return _purge(self.rows, tenant_id, lambda key: key)

    async def get(self, user: str) -> Connection | None:
        self.reads += 1
        return self.rows.get(user.lower())

    async def save(self, connection: Connection) -> Connection:
        key = connection.user.lower()
        current = self.rows.get(key)
        if (current is None) != (connection.etag is None) or (current and current.etag != connection.etag):
            raise ConcurrencyConflict(f"connection of {connection.user} changed")
        saved = replace(connection, etag=f"W/\"{next(_etags)}\"")
        self.rows[key] = saved
        self.writes += 1
        return saved

    async def delete(self, user: str) -> None:
        self.rows.pop(user.lower(), None)

    async def list(self) -> list[Connection]:
        return sorted(self.rows.values(), key=lambda c: c.user)


@dataclass
class InMemoryConnectAttempts:
    rows: dict[str, ConnectAttempt] = field(default_factory=dict)

    async def add(self, attempt: ConnectAttempt) -> None:
        if attempt.nonce in self.rows:
            raise ConcurrencyConflict("attempt exists")
        self.rows[attempt.nonce] = attempt

    async def claim(self, nonce: str) -> tuple[ConnectAttempt, bool] | None:
        attempt = self.rows.get(nonce)
        if attempt is None:
            return None
        if attempt.used:
            return attempt, False
        self.rows[nonce] = replace(attempt, used=True, flow="")
        return attempt, True


@dataclass
class InMemoryWaitingWork:
    queue: MessageQueue
    parked: dict[str, dict[str, tuple[int, str, OutboundMessage]]] = field(default_factory=dict)
    _order: itertools.count = field(default_factory=itertools.count)
    purge_name: str = "waiting"

    async def purge(self, tenant_id: str) -> int:
        return sum(len(self.parked.pop(user)) for user in
                   [user for user in self.parked if tenant_of_key(user)[0] == tenant_id])

    async def park(self, user: str, queue: str, message: OutboundMessage) -> None:
        self.parked.setdefault(user.lower(), {}).setdefault(message.message_id, (next(self._order), queue, message))

    async def waiting(self, user: str) -> list[tuple[str, OutboundMessage]]:
        return [(q, m) for _, q, m in sorted(self.parked.get(user.lower(), {}).values(), key=lambda r: r[0])]

    async def release(self, user: str) -> int:
        released = 0
        for queue, message in await self.waiting(user):
            await self.queue.send(queue, [message])
            self.parked[user.lower()].pop(message.message_id, None)
            released += 1
        return released


@dataclass
class FakeAuthority:
    """Entra as MSAL shows it. ``sign_in[code] = account`` says who signed in for a code; ``refused[user]`` is
    the AADSTS code Entra refuses the user's refresh token with; ``lifetime`` is the access tokens' life."""

    sign_in: dict[str, str] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)
    lifetime: int = 3600
    refreshes: int = 0
    consent_error: str | None = None

    async def begin(self, user: str, state: str, redirect_uri: str) -> AuthorizeRequest:
        url = "https://login.example/authorize?" + urlencode({"login_hint": user, "state": state,
                                                              "redirect_uri": redirect_uri})
        return AuthorizeRequest(url=url, flow={"state": state, "code_verifier": "v" * 43, "user": user})

    async def redeem(self, flow: dict[str, Any], response: dict[str, str]) -> Redemption:
        if response.get("state") != flow.get("state"):
            return Redemption(error="invalid_request", error_description="state mismatch")
        if self.consent_error:
            return Redemption(error="invalid_grant", error_description=self.consent_error)
        account = self.sign_in.get(response.get("code", ""), flow["user"])
        cache = json.dumps({"user": account, "rt": 1, "expires": int(time.time()) + self.lifetime})
        return Redemption(username=account, object_id=f"oid-{account}", account=f"home-{account}",
                          scopes=("Calendars.ReadWrite", "User.Read", "openid", "profile"), cache=cache)

    async def silent(self, cache: str, account: str) -> SilentToken:
        state = json.loads(cache)
        if state["expires"] - time.time() > 300:
            return SilentToken(token=f"at-{state['user']}-{state['rt']}", expires_on=state["expires"])
        if state["user"] in self.refused:
            code = self.refused[state["user"]]
            return SilentToken(error="invalid_grant", error_description=f"AADSTS{code}: refused")
        self.refreshes += 1
        state = {**state, "rt": state["rt"] + 1, "expires": int(time.time()) + self.lifetime}
        return SilentToken(token=f"at-{state['user']}-{state['rt']}", expires_on=state["expires"],
                           cache=json.dumps(state))

    def admin_consent_url(self, redirect_uri: str) -> str:
        return "https://login.example/tenant/v2.0/adminconsent?client_id=c"


@dataclass
class FakeMailer:
    sent: list[dict[str, str]] = field(default_factory=list)

    async def send(self, sender: str, to: str, subject: str, html: str) -> None:
        self.sent.append({"from": sender, "to": to, "subject": subject, "html": html})
