"""The simulator's delegated sign-in as Entra answers it: PKCE, single-use and short-lived codes, the redirect URI,
refresh tokens rotated and revocable, consent on demand, and Graph honouring ``scp`` (a person's token touches only
their own mailbox; ``/me`` only with a person's token; sendMail recorded)."""

from __future__ import annotations

import base64
import hashlib
import ssl
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import jwt
import pytest

from local.graphsim.delegated import auth_of
from local.graphsim.graph_people import mails_of
from local.graphsim.server import RunningSimulator

from .simdata import ALICE, BOB, CLIENT_ID, CLIENT_SECRET, TENANT, fetch_token

REDIRECT = "https://app.example.com/api/connections/callback"
VERIFIER = "v" * 50
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).decode().rstrip("=")


@pytest.fixture(autouse=True)
def registered(sim: RunningSimulator) -> None:
    auth = auth_of(sim.state)
    auth.register_redirect(CLIENT_ID, REDIRECT)
    auth.consent, auth.sign_in_as = "granted", None


def _client(sim: RunningSimulator) -> httpx.Client:
    return httpx.Client(verify=ssl.create_default_context(cafile=str(sim.ca_path)))


def authorize(sim: RunningSimulator, **changes: str) -> dict[str, str]:
    params = {"client_id": CLIENT_ID, "response_type": "code", "redirect_uri": REDIRECT, "state": "s1",
              "scope": "Calendars.ReadWrite User.Read offline_access openid profile", "login_hint": ALICE,
              "code_challenge": CHALLENGE, "code_challenge_method": "S256", "nonce": "n1", **changes}
    with _client(sim) as c:
        answer = c.get(f"{sim.auth_endpoint}/{TENANT}/oauth2/v2.0/authorize?{urlencode(params)}")
    assert answer.status_code == 302, answer.text
    return dict(parse_qsl(urlsplit(answer.headers["location"]).query))


def token(sim: RunningSimulator, **form: str) -> httpx.Response:
    body = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, **form}
    with _client(sim) as c:
        return c.post(f"{sim.auth_endpoint}/{TENANT}/oauth2/v2.0/token", data=body)


def redeem(sim: RunningSimulator, code: str, **changes: str) -> httpx.Response:
    return token(sim, **{"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                         "code_verifier": VERIFIER, "scope": "Calendars.ReadWrite User.Read", **changes})


def aadsts(response: httpx.Response) -> tuple[int, str, list[int]]:
    body = response.json()
    return response.status_code, body["error"], body["error_codes"]


def app_token(sim: RunningSimulator) -> str:
    return str(fetch_token(sim, ssl.create_default_context(cafile=str(sim.ca_path))).json()["access_token"])


def graph(sim: RunningSimulator, access: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    with _client(sim) as c:
        return c.request(method, f"{sim.graph_endpoint}{path}", headers={"Authorization": f"Bearer {access}"},
                         **kwargs)


class TestCodes:
    def test_a_code_is_redeemed_once_with_its_verifier(self, sim: RunningSimulator) -> None:
        code = authorize(sim)["code"]
        first = redeem(sim, code)
        assert first.status_code == 200 and {"access_token", "refresh_token", "id_token", "client_info"} <= set(
            first.json())
        assert aadsts(redeem(sim, code)) == (400, "invalid_grant", [54005])

    @pytest.mark.parametrize(("changes", "code"), [
        ({"code_verifier": "w" * 50}, 50148), ({"code_verifier": ""}, 501481),
        ({"redirect_uri": "https://app.example.com/other"}, 500112)])
    def test_a_wrong_verifier_or_redirect_uri_is_refused(self, sim: RunningSimulator, changes: dict[str, str],
                                                         code: int) -> None:
        assert aadsts(redeem(sim, authorize(sim)["code"], **changes)) == (400, "invalid_grant", [code])

    def test_an_old_code_has_expired(self, sim: RunningSimulator) -> None:
        code = authorize(sim)["code"]
        auth_of(sim.state).expire_codes()
        assert aadsts(redeem(sim, code)) == (400, "invalid_grant", [70008])

    def test_an_unregistered_redirect_uri_gets_an_error_page_not_a_redirect(self, sim: RunningSimulator) -> None:
        with _client(sim) as c:
            page = c.get(f"{sim.auth_endpoint}/{TENANT}/oauth2/v2.0/authorize?" + urlencode({
                "client_id": CLIENT_ID, "response_type": "code", "redirect_uri": "https://evil.example/cb"}))
        assert page.status_code == 400 and "AADSTS50011" in page.text

    @pytest.mark.parametrize(("mode", "code"), [("user", "AADSTS65001"), ("admin", "AADSTS90094")])
    def test_consent_required_on_demand(self, sim: RunningSimulator, mode: str, code: str) -> None:
        auth_of(sim.state).consent = mode
        answer = authorize(sim)
        assert answer["state"] == "s1" and answer["error_description"].startswith(code)

    def test_sign_in_as_another_account(self, sim: RunningSimulator) -> None:
        auth_of(sim.state).sign_in_as = BOB
        body = redeem(sim, authorize(sim)["code"]).json()
        assert jwt.decode(body["id_token"], options={"verify_signature": False})["preferred_username"] == BOB


class TestRefreshTokens:
    def test_each_refresh_rotates_and_a_revoked_user_gets_invalid_grant(self, sim: RunningSimulator) -> None:
        first = redeem(sim, authorize(sim)["code"]).json()["refresh_token"]
        second = token(sim, grant_type="refresh_token", refresh_token=first, scope="Calendars.ReadWrite")
        assert second.status_code == 200 and second.json()["refresh_token"] != first
        auth_of(sim.state).revoke_user(sim.state.find_user(ALICE)["id"], 50173)
        refused = token(sim, grant_type="refresh_token", refresh_token=second.json()["refresh_token"],
                        scope="Calendars.ReadWrite")
        assert aadsts(refused) == (400, "invalid_grant", [50173])

    def test_expired_refresh_tokens_answer_700082(self, sim: RunningSimulator) -> None:
        rt = redeem(sim, authorize(sim)["code"]).json()["refresh_token"]
        auth_of(sim.state).expire_refresh_tokens()
        assert aadsts(token(sim, grant_type="refresh_token", refresh_token=rt)) == (400, "invalid_grant", [700082])


class TestGraphWithAPersonsToken:
    def test_a_person_token_acts_only_as_its_user(self, sim: RunningSimulator) -> None:
        access = redeem(sim, authorize(sim)["code"]).json()["access_token"]
        assert graph(sim, access, "GET", "/me").json()["userPrincipalName"] == ALICE
        assert graph(sim, access, "GET", f"/users/{ALICE}/events").status_code == 200
        assert graph(sim, access, "GET", f"/users/{BOB}/events").status_code == 403
        assert graph(sim, access, "GET", "/users").status_code == 403  # needs User.ReadBasic.All

    def test_a_read_only_token_cannot_write(self, sim: RunningSimulator) -> None:
        access = redeem(sim, authorize(sim, scope="Calendars.Read User.Read")["code"],
                        scope="Calendars.Read").json()["access_token"]
        created = graph(sim, access, "POST", "/me/events", json={"subject": "x"})
        assert created.status_code == 403

    def test_me_needs_a_person(self, sim: RunningSimulator) -> None:
        assert graph(sim, app_token(sim), "GET", "/me").status_code == 400

    def test_send_mail_needs_mail_send_and_is_recorded(self, sim: RunningSimulator) -> None:
        message = {"message": {"subject": "Hi", "body": {"contentType": "HTML", "content": "<p>x</p>"},
                               "toRecipients": [{"emailAddress": {"address": BOB}}]}}
        assert graph(sim, app_token(sim), "POST", f"/users/{ALICE}/sendMail", json=message).status_code == 403
        sim.state.apps[CLIENT_ID].roles.append("Mail.Send")
        assert graph(sim, app_token(sim), "POST", f"/users/{ALICE}/sendMail", json=message).status_code == 202
        assert [(m["from"], m["to"], m["subject"]) for m in mails_of(sim.state)][-1] == (ALICE, [BOB], "Hi")
