"""A multi-tenant app's service principal in each customer tenant and its own passwords
(``local/graphsim/principals.py``): addPassword/removePassword in one tenant never touch another tenant's or the
app registration's, a new password works in its tenant only, and writing needs the permission and ownership."""

from __future__ import annotations

import secrets
import ssl
import uuid

import httpx
import pytest

from local.graphsim.server import RunningSimulator

from .simdata import GRAPH_SCOPE, TENANT


class App:
    def __init__(self, sim: RunningSimulator, ssl_ctx: ssl.SSLContext) -> None:
        self.sim, self.ssl_ctx = sim, ssl_ctx
        self.client_id, self.secret = str(uuid.uuid4()), secrets.token_urlsafe(24)
        sim.state.add_app(self.client_id, self.secret, TENANT, ["Application.ReadWrite.OwnedBy"])
        sim.state.tenancy.multi_tenant(self.client_id, [])
        self.a, self.b = str(uuid.uuid4()), str(uuid.uuid4())
        for tenant in (self.a, self.b):
            sim.state.tenancy.consent(tenant, self.client_id)
            sim.state.principals.own(tenant, self.client_id)

    def token(self, tenant: str, secret: str | None = None) -> httpx.Response:
        with httpx.Client(verify=self.ssl_ctx) as client:
            return client.post(f"{self.sim.auth_endpoint}/{tenant}/oauth2/v2.0/token", data={
                "grant_type": "client_credentials", "client_id": self.client_id,
                "client_secret": secret or self.secret, "scope": GRAPH_SCOPE})

    def call(self, tenant: str, method: str, action: str = "", body: dict | None = None) -> httpx.Response:
        token = self.token(tenant).json()["access_token"]
        url = f"{self.sim.graph_endpoint}/servicePrincipals(appId='{self.client_id}'){action}"
        with httpx.Client(verify=self.ssl_ctx) as client:
            return client.request(method, url, json=body, headers={"Authorization": f"Bearer {token}"})

    def key_ids(self, tenant: str) -> set[str]:
        return {p["keyId"] for p in self.call(tenant, "GET").json()["passwordCredentials"]}


@pytest.fixture
def app(sim: RunningSimulator, ssl_ctx: ssl.SSLContext) -> App:
    return App(sim, ssl_ctx)


def test_a_password_added_in_tenant_a_works_there_only_and_b_s_stay(app: App) -> None:
    app.sim.state.tenancy.add_secret(app.b, app.client_id, "b-admins-secret-0123456789")
    b_before = app.key_ids(app.b)
    home_before = app.sim.state.creds.public(app.client_id)["passwordCredentials"]

    added = app.call(app.a, "POST", "/addPassword", {"passwordCredential": {"displayName": "calendar-connector x"}})
    assert added.status_code == 200
    new = added.json()
    assert new["secretText"] and new["hint"] == new["secretText"][:3]
    assert app.key_ids(app.a) == {new["keyId"]} and app.key_ids(app.b) == b_before
    assert app.sim.state.creds.public(app.client_id)["passwordCredentials"] == home_before
    assert app.token(app.a, new["secretText"]).status_code == 200
    assert app.token(app.b, new["secretText"]).status_code == 401
    assert app.token(TENANT, new["secretText"]).status_code == 401

    # Removing it in B is refused (not B's); in A it stops working at once.
    assert app.call(app.b, "POST", "/removePassword", {"keyId": new["keyId"]}).status_code == 400
    assert app.call(app.a, "POST", "/removePassword", {"keyId": new["keyId"]}).status_code == 204
    assert app.token(app.a, new["secretText"]).status_code == 401
    assert app.token(app.b, "b-admins-secret-0123456789").status_code == 200


def test_writing_needs_ownership_and_a_tenant_without_consent_has_no_principal(app: App) -> None:
    other = str(uuid.uuid4())
    app.sim.state.tenancy.consent(other, app.client_id)  # consented, but its principal does not own itself
    refused = app.call(other, "POST", "/addPassword", {"passwordCredential": {}})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "Authorization_RequestDenied"
    app.sim.state.tenancy.revoke_consent(app.a, app.client_id)
    assert app.token(app.a).status_code == 401  # AADSTS7000229: no service principal there
