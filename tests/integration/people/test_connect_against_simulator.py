"""Connecting people through MSAL against the HTTPS simulator: the browser's round trip scripted with httpx (the
authorize page posts its form back, response_mode=form_post), the account check, expired and replayed states,
admin consent, a refused refresh, two instances refreshing at once over one Azurite table, parked work released
after the reconnect, and no code, state, token or secret in any log line."""

from __future__ import annotations

import asyncio
import html
import json
import logging
import re
import ssl
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from local.graphsim.delegated import auth_of
from local.graphsim.graph_people import mails_of
from local.graphsim.server import RunningSimulator
from shared.adapters.graph.mail import GraphReconnectMailer
from shared.adapters.graph.session import GraphSession
from shared.adapters.identity.delegated import MsalTokenAuthority, client_credential
from shared.adapters.tables.people import TableConnectAttempts, TableConnectionStore, TableWaitingWork
from shared.adapters.tables.stores import TableStores
from shared.app.messaging import PLANNING_QUEUE, Delivery
from shared.app.people import connect
from shared.app.people.delegated import StoredDelegatedCredentials
from shared.app.people.lifecycle import PeopleDeps
from shared.bootstrap import Container, RoomStores
from shared.bootstrap.adapters import PeopleStores
from shared.config import PeopleSettings, Settings, TablesConnection
from shared.domain.people.cipher import TokenCipher
from shared.domain.people.connections import CONNECTED, NEEDS_RECONNECT
from shared.errors import NeedsReconnect
from tests.fakes.connections import InMemoryConnectAttempts, InMemoryConnectionStore, InMemoryWaitingWork
from tests.fakes.planning import InMemoryDeadLetterStore
from tests.fakes.queue import RecordingQueue
from tests.fakes.rooms import (
    InMemoryLog,
    InMemoryOutbox,
    InMemoryOwnWrites,
    InMemoryReservations,
    InMemoryRooms,
    InMemoryUsers,
)

KEY = bytes(range(32))
ANNA, BEN = "anna@contoso.com", "ben@contoso.com"
RETURN = "https://ebms.example.com/settings"
CALLBACK = "http://127.0.0.1:7071/api/connections/callback"


def settings_for(sim: RunningSimulator, **changes: Any) -> Settings:
    app = next(iter(sim.state.apps.values()))
    return Settings(tenant_id=app.tenant_id, client_id=app.client_id, client_secret="secret-1",
                    auth_endpoint=sim.auth_endpoint, graph_endpoint=sim.graph_endpoint, ca_file=str(sim.ca_path),
                    people=PeopleSettings(token_keys=(KEY,), return_urls=("https://ebms.example.com/",),
                                          reconnect_mail_from="noreply@contoso.com"), **changes)


class World:
    """One connector instance: real MSAL and Graph mail over the simulator; stores given (fakes or Azurite)."""

    def __init__(self, sim: RunningSimulator, *, connections: Any = None, attempts: Any = None,
                 waiting: Any = None, queue: RecordingQueue | None = None) -> None:
        self.sim = sim
        self.now = datetime.now(UTC)
        self.settings = settings_for(sim)
        self.queue = queue or RecordingQueue()
        self.log = InMemoryLog()
        self.connections = connections or InMemoryConnectionStore()
        self.attempts = attempts or InMemoryConnectAttempts()
        self.waiting = waiting or InMemoryWaitingWork(self.queue)
        self.authority = MsalTokenAuthority(self.settings, client_credential(self.settings, None))
        self.session = GraphSession(self.settings)
        stores = RoomStores(rooms=InMemoryRooms(), reservations=InMemoryReservations(),
                            own_writes=InMemoryOwnWrites(), log=self.log, users=InMemoryUsers(),
                            outbox=InMemoryOutbox())
        self.container = Container(
            self.settings, clock=lambda: self.now, queue=self.queue, deadletters=InMemoryDeadLetterStore(),
            room_stores=stores, people_stores=PeopleStores(connections=self.connections, attempts=self.attempts),
            waiting=self.waiting, token_authority=self.authority, mailer=GraphReconnectMailer(self.session))
        self.deps: PeopleDeps = self.container.people()
        self.credentials = StoredDelegatedCredentials(self.deps)

    async def close(self) -> None:
        await self.authority.close()
        await self.session.close()
        await self.container.close()

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(self.sim.ca_path)))

    async def sign_in(self, user: str = ANNA) -> dict[str, str]:
        """POST /api/connections, then the browser at Entra: the fields the authorize page posts back."""
        reply = await connect.start(json.dumps({"user": user, "returnUrl": RETURN}).encode(), self.deps)
        assert reply.status == 200, reply.body
        async with self.http() as browser:
            page = await browser.get(reply.json()["authorizeUrl"])
        if page.status_code == 302:  # an error Entra returns in the query
            return dict(parse_qsl(urlsplit(page.headers["location"]).query))
        assert page.status_code == 200, page.text
        assert re.search(r'action="([^"]+)"', page.text).group(1) == CALLBACK  # type: ignore[union-attr]
        return {html.unescape(k): html.unescape(v) for k, v in re.findall(r'name="([^"]+)" value="([^"]*)"',
                                                                          page.text)}

    async def callback(self, fields: dict[str, str]) -> dict[str, str]:
        reply = await connect.finish(fields, self.deps)
        assert reply.status == 302, reply.body
        location = reply.headers["Location"]
        assert location.startswith(RETURN)
        return dict(parse_qsl(urlsplit(location).query))

    async def graph(self, token: str, path: str) -> httpx.Response:
        async with self.http() as client:
            return await client.get(f"{self.sim.graph_endpoint}{path}", headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def sim(simulator: RunningSimulator) -> Iterator[RunningSimulator]:
    simulator.state.add_user(ANNA)
    simulator.state.add_user(BEN)
    simulator.state.add_user("noreply@contoso.com")
    auth = auth_of(simulator.state)
    auth.register_redirect(next(iter(simulator.state.apps)), CALLBACK)
    auth.consent, auth.sign_in_as = "granted", None
    app = next(iter(simulator.state.apps.values()))
    if "Mail.Send" not in app.roles:
        app.roles.append("Mail.Send")
    simulator.state.set_token_lifetime(None)
    yield simulator
    simulator.state.set_token_lifetime(None)


@pytest.fixture
async def world(sim: RunningSimulator) -> AsyncIterator[World]:
    w = World(sim)
    yield w
    await w.close()


class TestConnecting:
    async def test_a_person_connects_and_their_token_acts_as_them_only(self, world: World) -> None:
        assert await world.callback(await world.sign_in()) == {"connection": "connected"}
        row = await world.connections.get(ANNA)
        assert row.state == CONNECTED and row.scopes == ("Calendars.ReadWrite", "User.Read")
        assert [e["type"] for e in world.log.items] == ["connection.connected"]
        token = (await world.credentials.for_user(ANNA).get_token()).token
        me = await world.graph(token, "/me")
        assert me.status_code == 200 and me.json()["userPrincipalName"] == ANNA
        assert (await world.graph(token, f"/users/{ANNA}/events")).status_code == 200
        other = await world.graph(token, f"/users/{BEN}/events")
        assert other.status_code == 403 and other.json()["error"]["code"] == "ErrorAccessDenied"

    async def test_another_account_signing_in_fails_and_nothing_is_stored(self, world: World) -> None:
        auth_of(world.sim.state).sign_in_as = BEN
        assert await world.callback(await world.sign_in()) == {"connection": "failed", "error": "account_mismatch"}
        assert await world.connections.get(ANNA) is None

    async def test_an_expired_state_fails_and_a_replayed_one_fails_too(self, world: World) -> None:
        fields = await world.sign_in()
        world.now += timedelta(minutes=11)
        assert await world.callback(fields) == {"connection": "failed", "error": "state_expired"}
        world.now -= timedelta(minutes=11)
        assert await world.callback(fields) == {"connection": "failed", "error": "state_used"}
        assert await world.connections.get(ANNA) is None

    async def test_a_code_is_redeemed_once_at_entra_too(self, world: World) -> None:
        fields = await world.sign_in()
        assert (await world.callback(fields))["connection"] == "connected"
        [attempt] = [a for a in world.attempts.rows.values()]
        flow_less = await world.authority.redeem({"state": fields["state"], "redirect_uri": CALLBACK,
                                                  "scope": ["Calendars.ReadWrite"], "code_verifier": "x" * 43},
                                                 fields)
        assert flow_less.error  # the used code (and a wrong verifier) is refused
        assert attempt.used

    async def test_admin_consent_required_sends_the_admin_consent_link(self, world: World) -> None:
        auth_of(world.sim.state).consent = "admin"
        answer = await world.callback(await world.sign_in())
        assert answer["connection"] == "failed" and answer["error"] == "consent_required"
        assert answer["adminConsentUrl"].startswith(f"{world.sim.auth_endpoint}/")
        assert "/v2.0/adminconsent?client_id=" in answer["adminConsentUrl"]


class TestRefresh:
    async def test_a_refused_refresh_marks_needs_reconnect_publishes_mails_and_raises(self, world: World) -> None:
        await world.callback(await world.sign_in())
        world.sim.state.set_token_lifetime(60)  # under MSAL's five minutes: every silent call refreshes
        await world.callback(await world.sign_in())  # a cache whose access token is due
        assert (await world.credentials.for_user(ANNA).get_token()).token
        auth_of(world.sim.state).revoke_user(world.sim.state.find_user(ANNA)["id"], 50173)
        world.credentials.forget(ANNA)
        with pytest.raises(NeedsReconnect) as raised:
            await world.credentials.for_user(ANNA).get_token()
        assert "AADSTS50173" in raised.value.reason
        row = await world.connections.get(ANNA)
        assert row.state == NEEDS_RECONNECT and "AADSTS50173" in row.reason
        assert [e["type"] for e in world.log.items][-1] == "connection.needs-reconnect"
        [mail] = [m for m in mails_of(world.sim.state) if m["to"] == [ANNA]]
        assert "/api/connections/reconnect?token=" in mail["body"]

    async def test_parked_work_goes_back_on_its_queue_after_the_reconnect(self, world: World) -> None:
        async def needs() -> str:
            return (await world.credentials.for_user(ANNA).get_token()).token

        settle = world.container.settlement()
        assert await settle.settle(PLANNING_QUEUE, b"appointment", Delivery("m1"), needs) == "waiting"
        assert world.queue.sent == []
        await world.callback(await world.sign_in())
        assert [(q, m.body) for q, m in world.queue.sent] == [(PLANNING_QUEUE, b"appointment")]

    async def test_no_code_state_token_or_secret_reaches_a_log_line(self, world: World,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.DEBUG)
        world.sim.state.set_token_lifetime(60)
        fields = await world.sign_in()
        await world.callback(fields)
        token = (await world.credentials.for_user(ANNA).get_token()).token
        row = await world.connections.get(ANNA)
        cache = json.loads(TokenCipher([KEY]).open(row.cache, bound_to=ANNA))
        secrets = {fields["code"], fields["state"], token, "secret-1", row.cache,
                   *(e["secret"] for kind in ("RefreshToken", "AccessToken", "IdToken")
                     for e in cache.get(kind, {}).values())}
        # The person's browser (this test's httpx client) is not the connector: its request line is left out.
        text = "\n".join(f"{r.name}: {r.getMessage()} {r.exc_text or ''}" for r in caplog.records
                         if not (r.name == "httpx" and "/oauth2/v2.0/authorize?" in r.getMessage()))
        assert not [line for line in text.splitlines() if any(s and s in line for s in secrets)]
        assert "eyJ" not in text  # no JWT of any kind


class ReadTogether:
    """A ConnectionStore whose first read of a refresh waits for the other instance's: both start from one row."""

    def __init__(self, store: TableConnectionStore, barrier: asyncio.Barrier) -> None:
        self._store, self._barrier, self.armed = store, barrier, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def get(self, user: str) -> Any:
        found = await self._store.get(user)
        if self.armed:
            self.armed = False
            await self._barrier.wait()
        return found


@pytest.mark.usefixtures("sim")
class TestTwoInstances:
    async def test_concurrent_refreshes_never_overwrite_a_newer_cache(
            self, sim: RunningSimulator, azurite: Any, table_prefix: str, caplog: pytest.LogCaptureFixture) -> None:
        sim.state.set_token_lifetime(60)
        tables = [TableStores(Settings(tables=TablesConnection(connection_string=azurite.connection_string),
                                       table_prefix=table_prefix)) for _ in range(2)]
        barrier = asyncio.Barrier(2)
        stores = [ReadTogether(TableConnectionStore(t), barrier) for t in tables]
        worlds = [World(sim, connections=store, attempts=TableConnectAttempts(t),
                        waiting=TableWaitingWork(t, RecordingQueue())) for store, t in zip(stores, tables, strict=True)]
        try:
            await worlds[0].callback(await worlds[0].sign_in())
            start = await worlds[0].connections.get(ANNA)
            refreshes = auth_of(sim.state).token_requests("refresh_token")
            for store in stores:
                store.armed = True
            caplog.set_level(logging.INFO, logger="shared.app.people.delegated")
            tokens = await asyncio.gather(*(w.credentials.for_user(ANNA).get_token() for w in worlds))
            assert all(t.token for t in tokens)
            stored = await worlds[1].connections.get(ANNA)
            assert stored.etag != start.etag and stored.state == CONNECTED
            made = auth_of(sim.state).token_requests("refresh_token") - refreshes
            # Both refreshed from the same row; one wrote, the other lost the conditional write, read the newer
            # cache and refreshed from that (never writing its own over it).
            assert made == 3
            assert [r for r in caplog.records if "changed on another instance" in r.getMessage()]
            for w in worlds:
                w.credentials.forget(ANNA)
            assert (await worlds[1].credentials.for_user(ANNA).get_token()).token
        finally:
            for w in worlds:
                await w.close()
            for t in tables:
                await t.close()
