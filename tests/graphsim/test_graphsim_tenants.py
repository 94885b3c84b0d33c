"""Several tenants in one simulator: consent per tenant, tokens that carry the tenant, mailboxes a token of another
tenant never reaches, admin consent's redirect, and Entra's answer for a tenant that has not consented."""

from __future__ import annotations

import ssl
import uuid
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from local.graphsim.server import RunningSimulator

from .simdata import ALICE, CLIENT_ID, CLIENT_SECRET, GRAPH_SCOPE, TENANT, fetch_token

CALLBACK = "https://connector.example.com/api/tenants/consent-callback"


@pytest.fixture
def guest(sim: RunningSimulator) -> str:
    """A customer tenant (new per test) whose administrator consented to the multi-tenant app."""
    tenant = str(uuid.uuid4())
    sim.state.tenancy.multi_tenant(CLIENT_ID, [CALLBACK])
    sim.state.tenancy.consent(tenant, CLIENT_ID)
    return tenant


def token_in(sim: RunningSimulator, ssl_ctx: ssl.SSLContext, tenant: str,
             secret: str = CLIENT_SECRET) -> httpx.Response:
    with httpx.Client(verify=ssl_ctx) as client:
        return client.post(f"{sim.auth_endpoint}/{tenant}/oauth2/v2.0/token", data={
            "grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": secret,
            "scope": GRAPH_SCOPE})


def claims_of(token: str) -> dict[str, str]:
    import jwt

    return jwt.decode(token, options={"verify_signature": False})  # type: ignore[no-any-return]


def events(sim: RunningSimulator, ssl_ctx: ssl.SSLContext, token: str, mailbox: str) -> httpx.Response:
    with httpx.Client(verify=ssl_ctx) as client:
        return client.get(f"{sim.graph_endpoint}/users/{mailbox}/events", headers={"Authorization": f"Bearer {token}"})


class TestTokens:
    def test_a_consented_tenants_token_carries_that_tenant(self, sim: RunningSimulator, ssl_ctx: ssl.SSLContext,
                                                           guest: str) -> None:
        response = token_in(sim, ssl_ctx, guest)
        assert response.status_code == 200
        claims = claims_of(response.json()["access_token"])
        assert claims["tid"] == guest and claims["iss"].endswith(f"/{guest}/v2.0")
        home = claims_of(fetch_token(sim, ssl_ctx).json()["access_token"])
        assert home["tid"] == TENANT and home["oid"] != claims["oid"], "one service principal per tenant"

    def test_a_tenant_without_consent_answers_aadsts7000229(self, sim: RunningSimulator,
                                                            ssl_ctx: ssl.SSLContext, guest: str) -> None:
        stranger = str(uuid.uuid4())
        sim.state.tenancy.add_tenant(stranger)
        response = token_in(sim, ssl_ctx, stranger)
        assert (response.status_code, response.json()["error"]) == (401, "invalid_client")
        assert response.json()["error_codes"] == [7000229]
        assert stranger in response.json()["error_description"]

    def test_a_service_principal_secret_works_in_its_own_tenant_only(self, sim: RunningSimulator,
                                                                      ssl_ctx: ssl.SSLContext, guest: str) -> None:
        other = str(uuid.uuid4())
        sim.state.tenancy.consent(other, CLIENT_ID)
        sim.state.tenancy.add_secret(guest, CLIENT_ID, "guest-only-secret")
        assert token_in(sim, ssl_ctx, guest, "guest-only-secret").status_code == 200
        refused = token_in(sim, ssl_ctx, other, "guest-only-secret")
        assert refused.status_code == 401 and refused.json()["error_codes"] == [7000215]
        assert fetch_token(sim, ssl_ctx, client_secret="guest-only-secret").status_code == 401
        sim.state.tenancy.remove_secrets(guest, CLIENT_ID)
        assert token_in(sim, ssl_ctx, guest, "guest-only-secret").status_code == 401

    def test_revoked_consent_refuses_new_tokens_and_the_old_ones_at_graph(self, sim: RunningSimulator,
                                                                         ssl_ctx: ssl.SSLContext, guest: str) -> None:
        token = token_in(sim, ssl_ctx, guest).json()["access_token"]
        mailbox = f"mira-{uuid.uuid4().hex[:6]}@fabrikam.example"
        sim.state.tenancy.assign(sim.state.add_user(mailbox)["id"], guest)
        sim.state.tenancy.revoke_consent(guest, CLIENT_ID)
        assert token_in(sim, ssl_ctx, guest).json()["error_codes"] == [7000229]
        assert events(sim, ssl_ctx, token, mailbox).status_code == 401


class TestMailboxes:
    def test_a_token_reaches_only_the_mailboxes_of_its_tenant(self, sim: RunningSimulator, ssl_ctx: ssl.SSLContext,
                                                              guest: str) -> None:
        mailbox = f"mira-{uuid.uuid4().hex[:6]}@fabrikam.example"
        sim.state.tenancy.assign(sim.state.add_user(mailbox)["id"], guest)
        guest_token = token_in(sim, ssl_ctx, guest).json()["access_token"]
        home_token = fetch_token(sim, ssl_ctx).json()["access_token"]
        assert events(sim, ssl_ctx, guest_token, mailbox).status_code == 200
        assert events(sim, ssl_ctx, home_token, ALICE).status_code == 200
        for token, other in ((home_token, mailbox), (guest_token, ALICE)):
            refused = events(sim, ssl_ctx, token, other)
            assert refused.status_code == 403
            assert refused.json()["error"]["code"] == "ErrorAccessDenied"
            assert refused.json()["error"]["message"] == "Access is denied. Check credentials and try again."


class TestAdminConsent:
    def consent(self, sim: RunningSimulator, ssl_ctx: ssl.SSLContext, tenant: str,
                redirect: str = CALLBACK) -> httpx.Response:
        with httpx.Client(verify=ssl_ctx) as client:
            return client.get(f"{sim.auth_endpoint}/{tenant}/v2.0/adminconsent", params={
                "client_id": CLIENT_ID, "scope": GRAPH_SCOPE, "redirect_uri": redirect, "state": "s-1"})

    def test_consent_redirects_with_admin_consent_and_lets_tokens_through(self, sim: RunningSimulator,
                                                                         ssl_ctx: ssl.SSLContext) -> None:
        tenant = str(uuid.uuid4())
        sim.state.tenancy.multi_tenant(CLIENT_ID, [CALLBACK])
        sim.state.tenancy.add_tenant(tenant)
        assert token_in(sim, ssl_ctx, tenant).status_code == 401
        response = self.consent(sim, ssl_ctx, tenant)
        assert response.status_code == 302
        location = urlsplit(response.headers["location"])
        assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
        assert parse_qs(location.query) == {"admin_consent": ["True"], "tenant": [tenant], "scope": [GRAPH_SCOPE],
                                            "state": ["s-1"]}
        assert token_in(sim, ssl_ctx, tenant).status_code == 200

    def test_an_administrator_who_declines_sends_an_error_back(self, sim: RunningSimulator,
                                                               ssl_ctx: ssl.SSLContext) -> None:
        tenant = str(uuid.uuid4())
        sim.state.tenancy.multi_tenant(CLIENT_ID, [CALLBACK])
        sim.state.tenancy.add_tenant(tenant)
        sim.state.tenancy.answer_consent(tenant, "access_denied", "The admin canceled the request")
        query = parse_qs(urlsplit(self.consent(sim, ssl_ctx, tenant).headers["location"]).query)
        assert query == {"error": ["access_denied"], "error_description": ["The admin canceled the request"],
                         "state": ["s-1"]}
        assert not sim.state.tenancy.consented(tenant, CLIENT_ID)

    def test_an_unregistered_redirect_uri_is_an_error_page_not_a_redirect(self, sim: RunningSimulator,
                                                                          ssl_ctx: ssl.SSLContext) -> None:
        tenant = str(uuid.uuid4())
        sim.state.tenancy.multi_tenant(CLIENT_ID, [CALLBACK])
        sim.state.tenancy.add_tenant(tenant)
        response = self.consent(sim, ssl_ctx, tenant, "https://evil.example.com/steal")
        assert response.status_code == 400 and "location" not in response.headers
        assert "AADSTS50011" in response.text
