"""Connecting a person, the status routes, and the delegated credential, over the fakes (tests/fakes/people.py)."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from shared.app.messaging import PLANNING_QUEUE, Delivery, OutboundMessage
from shared.app.people import connect, status
from shared.app.people.delegated import StoredDelegatedCredentials
from shared.domain.people.connections import CONNECTED, NEEDS_RECONNECT, Connection
from shared.errors import NeedsReconnect
from tests.unit.people.connections_world import ANNA, KEY, OLD_KEY, RETURN, PeopleWorld, location, query


@pytest.fixture
def world() -> PeopleWorld:
    return PeopleWorld()


async def _start(world: PeopleWorld, user: str = ANNA, **kwargs: Any) -> dict[str, str]:
    reply = await connect.start(json.dumps({"user": user, "returnUrl": RETURN}).encode(), world.deps(**kwargs))
    assert reply.status == 200, reply.body
    return query(reply.json()["authorizeUrl"])


async def _connect(world: PeopleWorld, user: str = ANNA, **kwargs: Any) -> dict[str, str]:
    sign_in = await _start(world, user, **kwargs)
    return location(await connect.finish({"code": "code-1", "state": sign_in["state"]}, world.deps(**kwargs)))


class TestStart:
    @pytest.mark.parametrize(("body", "field"), [
        ({"user": "not-an-email", "returnUrl": RETURN}, "user"),
        ({"user": ANNA, "returnUrl": "https://evil.example.com/"}, "returnUrl"),
        ({"user": ANNA}, "returnUrl"),
    ])
    async def test_a_bad_field_is_named(self, world: PeopleWorld, body: dict[str, str], field: str) -> None:
        reply = await connect.start(json.dumps(body).encode(), world.deps())
        assert reply.status == 400 and reply.json()["field"] == field
        assert world.attempts.rows == {}

    async def test_without_an_encryption_key_the_setting_is_named(self, world: PeopleWorld) -> None:
        reply = await connect.start(json.dumps({"user": ANNA, "returnUrl": RETURN}).encode(), world.deps(keys=()))
        assert reply.status == 503 and reply.json()["setting"] == "CONNECTOR_TOKEN_ENCRYPTION_KEY"

    async def test_the_authorize_url_names_the_person_and_a_signed_state(self, world: PeopleWorld) -> None:
        sign_in = await _start(world)
        assert sign_in["login_hint"] == ANNA
        assert sign_in["redirect_uri"] == "http://127.0.0.1:7071/api/connections/callback"
        [attempt] = world.attempts.rows.values()
        assert attempt.user == ANNA and attempt.return_url == RETURN
        assert "code_verifier" not in attempt.flow  # sealed


class TestCallback:
    async def test_a_connect_stores_the_sealed_cache_publishes_and_returns_connected(self, world: PeopleWorld) -> None:
        assert await _connect(world) == {"connection": "connected"}
        row = world.connections.rows[ANNA]
        assert row.state == CONNECTED and row.scopes == ("Calendars.ReadWrite", "User.Read")
        assert row.cache.startswith("v1.") and "rt" not in row.cache
        [event] = world.events("connection.connected")
        assert event["subject"] == f"connection/{ANNA}" and event["data"]["state"] == CONNECTED

    async def test_another_account_signing_in_is_refused_and_its_tokens_dropped(self, world: PeopleWorld) -> None:
        world.authority.sign_in["code-1"] = "mallory@contoso.com"
        assert await _connect(world) == {"connection": "failed", "error": "account_mismatch"}
        assert world.connections.rows == {}

    async def test_a_state_works_once(self, world: PeopleWorld) -> None:
        sign_in = await _start(world)
        deps = world.deps()
        assert location(await connect.finish({"code": "code-1", "state": sign_in["state"]}, deps))["connection"] == \
            "connected"
        again = location(await connect.finish({"code": "code-1", "state": sign_in["state"]}, deps))
        assert again == {"connection": "failed", "error": "state_used"}
        assert world.connections.writes == 1

    async def test_an_expired_state_fails_and_stores_nothing(self, world: PeopleWorld) -> None:
        sign_in = await _start(world)
        world.advance(minutes=11)
        reply = await connect.finish({"code": "code-1", "state": sign_in["state"]}, world.deps())
        assert location(reply) == {"connection": "failed", "error": "state_expired"}
        assert world.connections.rows == {}

    async def test_a_forged_state_is_answered_here_never_redirected(self, world: PeopleWorld) -> None:
        sign_in = await _start(world)
        reply = await connect.finish({"code": "c", "state": sign_in["state"][:-4] + "AAAA"}, world.deps())
        assert reply.status == 400 and reply.json()["error"] == "state_invalid"

    async def test_admin_consent_required_returns_the_admin_consent_link(self, world: PeopleWorld) -> None:
        sign_in = await _start(world)
        reply = await connect.finish({"state": sign_in["state"], "error": "access_denied",
                                      "error_description": "AADSTS90094: The grant requires admin permission."},
                                     world.deps())
        answer = location(reply)
        assert answer["error"] == "consent_required" and "adminconsent" in answer["adminConsentUrl"]
        assert reply.headers["Referrer-Policy"] == "no-referrer"

    async def test_no_code_or_state_is_logged(self, world: PeopleWorld, caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.DEBUG)
        sign_in = await _start(world)
        await connect.finish({"code": "secret-code-123", "state": sign_in["state"]}, world.deps())
        text = "\n".join(r.getMessage() for r in caplog.records)
        assert "secret-code-123" not in text and sign_in["state"] not in text


class TestStatus:
    async def test_status_forget_and_list(self, world: PeopleWorld) -> None:
        deps = world.deps()
        assert (await status.status(ANNA, deps)).json()["state"] == "not-connected"
        await _connect(world)
        answer = (await status.status(ANNA.upper(), deps)).json()
        assert answer["state"] == CONNECTED and answer["scopes"] == ["Calendars.ReadWrite", "User.Read"]
        assert [c["user"] for c in (await status.list_connections(deps)).json()["value"]] == [ANNA]
        assert (await status.forget(ANNA, deps)).status == 204
        assert (await status.status(ANNA, deps)).json()["state"] == "not-connected"
        assert (await status.status("nobody", deps)).status == 400


class TestDelegatedCredential:
    async def test_a_token_comes_from_the_cache_and_a_burst_reads_the_row_once(self, world: PeopleWorld) -> None:
        await _connect(world)
        credentials = StoredDelegatedCredentials(world.deps())
        reads = world.connections.reads
        tokens = [await credentials.for_user(ANNA).get_token("https://graph.microsoft.com/.default")
                  for _ in range(5)]
        assert world.connections.reads == reads + 1
        assert {t.token for t in tokens} == {f"at-{ANNA}-1"}
        assert await credentials.is_connected(ANNA)

    async def test_a_refresh_is_written_back_sealed(self, world: PeopleWorld) -> None:
        world.authority.lifetime = 10  # every silent call refreshes
        await _connect(world)
        writes = world.connections.writes
        token = await StoredDelegatedCredentials(world.deps()).for_user(ANNA).get_token()
        assert token.token == f"at-{ANNA}-2" and world.connections.writes == writes + 1

    async def test_a_refused_refresh_marks_needs_reconnect_publishes_mails_once_and_raises(
            self, world: PeopleWorld) -> None:
        world.authority.lifetime = 10
        await _connect(world)
        world.authority.refused[ANNA] = 50173
        credentials = StoredDelegatedCredentials(world.deps())
        for _ in range(2):
            with pytest.raises(NeedsReconnect) as raised:
                await credentials.for_user(ANNA).get_token()
        assert "AADSTS50173" in raised.value.reason
        row = world.connections.rows[ANNA]
        assert row.state == NEEDS_RECONNECT and "AADSTS50173" in row.reason
        [event] = world.events("connection.needs-reconnect")
        assert event["data"]["reason"] == row.reason
        [mail] = world.mailer.sent
        assert mail["to"] == ANNA and "/api/connections/reconnect?token=" in mail["html"]
        assert ("connector.connections.needs_reconnect" in world.telemetry.names())

    async def test_no_connection_raises_needs_reconnect(self, world: PeopleWorld) -> None:
        with pytest.raises(NeedsReconnect):
            await StoredDelegatedCredentials(world.deps()).for_user(ANNA).get_token()

    async def test_a_cache_under_an_old_key_is_resealed_with_the_new_one(self, world: PeopleWorld) -> None:
        await _connect(world, keys=(OLD_KEY,))
        old = world.connections.rows[ANNA].cache
        await StoredDelegatedCredentials(world.deps(keys=(KEY, OLD_KEY))).for_user(ANNA).get_token()
        new = world.connections.rows[ANNA].cache
        assert new != old and new.split(".")[1] != old.split(".")[1]


class TestWaitingWork:
    async def test_work_parked_for_a_person_goes_back_on_its_queue_in_order_after_reconnecting(
            self, world: PeopleWorld) -> None:
        settle = world.container().settlement()

        async def needs(user: str) -> str:
            raise NeedsReconnect(user, "not connected")

        for n in (1, 2, 1):  # the first message parked twice is kept once
            outcome = await settle.settle(PLANNING_QUEUE, f"body-{n}".encode(), Delivery(f"m{n}"),
                                          lambda: needs(ANNA))
            assert outcome == "waiting"
        assert world.queue.sent == []
        await _connect(world)
        released = [m for q, m in world.queue.sent if q == PLANNING_QUEUE]
        assert [m.body for m in released] == [b"body-1", b"body-2"]
        assert all(isinstance(m, OutboundMessage) for m in released)
        assert await world.waiting.waiting(ANNA) == []

    async def test_a_reconnect_after_needs_reconnect_publishes_connected_again(self, world: PeopleWorld) -> None:
        world.connections.rows[ANNA] = Connection(ANNA, NEEDS_RECONNECT, world.now, reason="x", etag="e")
        await _connect(world)
        assert world.connections.rows[ANNA].state == CONNECTED
        assert len(world.events("connection.connected")) == 1
