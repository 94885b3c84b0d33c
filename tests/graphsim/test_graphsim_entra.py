"""The Entra side: discovery documents, signed tokens and Entra-shaped token errors."""

from __future__ import annotations

import ssl

import httpx
import jwt
import msal
import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ClientSecretCredential as SyncClientSecretCredential
from azure.identity.aio import ClientSecretCredential

from local.graphsim.server import RunningSimulator

from .simdata import CLIENT_ID, CLIENT_SECRET, GRAPH_SCOPE, TENANT, fetch_token


def test_openid_configuration_points_every_endpoint_at_the_simulator(
        sim: RunningSimulator, ssl_ctx: ssl.SSLContext) -> None:
    doc = httpx.get(f"{sim.base_url}/{TENANT}/v2.0/.well-known/openid-configuration",
                    verify=ssl_ctx).json()
    assert doc["token_endpoint"] == f"{sim.base_url}/{TENANT}/oauth2/v2.0/token"
    assert doc["jwks_uri"] == f"{sim.base_url}/{TENANT}/discovery/v2.0/keys"
    assert doc["authorization_endpoint"].startswith(sim.base_url)
    assert doc["issuer"] == f"{sim.base_url}/{TENANT}/v2.0"


def test_issued_tokens_verify_against_the_published_jwks(
        sim: RunningSimulator, ssl_ctx: ssl.SSLContext, token: str) -> None:
    keys = httpx.get(f"{sim.base_url}/{TENANT}/discovery/v2.0/keys", verify=ssl_ctx).json()
    kid = jwt.get_unverified_header(token)["kid"]
    (jwk,) = [k for k in keys["keys"] if k["kid"] == kid]
    claims = jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=["RS256"],
                        audience="https://graph.microsoft.com")
    assert claims["tid"] == TENANT and claims["appid"] == CLIENT_ID
    assert claims["exp"] > claims["iat"] >= claims["nbf"] - 1


def test_a_successful_token_response_has_entras_fields(
        sim: RunningSimulator, ssl_ctx: ssl.SSLContext) -> None:
    body = fetch_token(sim, ssl_ctx).json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3599 and body["ext_expires_in"] == 3599
    assert body["access_token"].count(".") == 2


def test_token_requests_are_counted_and_their_lifetime_can_be_shortened(
        sim: RunningSimulator, ssl_ctx: ssl.SSLContext) -> None:
    control = f"{sim.base_url}/_sim/tokens"
    assert httpx.get(control, verify=ssl_ctx).json() == {"requests": 0, "lifetimeSeconds": 3599}
    assert httpx.put(control, json={"lifetimeSeconds": 2}, verify=ssl_ctx).json()["lifetimeSeconds"] == 2
    short = fetch_token(sim, ssl_ctx).json()
    refused = fetch_token(sim, ssl_ctx, client_secret="wrong")
    assert short["expires_in"] == 2 and refused.status_code == 401
    claims = jwt.decode(short["access_token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 2
    assert sim.state.token_requests(CLIENT_ID) == 2  # refused requests count: Entra saw them
    sim.state.reset()
    assert httpx.get(control, verify=ssl_ctx).json() == {"requests": 0, "lifetimeSeconds": 3599}


def test_instance_discovery_names_this_host_as_its_own_cloud(
        sim: RunningSimulator, ssl_ctx: ssl.SSLContext) -> None:
    host = sim.base_url.removeprefix("https://")
    body = httpx.get(f"{sim.base_url}/common/discovery/instance", verify=ssl_ctx, params={
        "api-version": "1.1",
        "authorization_endpoint": f"{sim.base_url}/{TENANT}/oauth2/v2.0/authorize"}).json()
    assert body["tenant_discovery_endpoint"] == (
        f"{sim.base_url}/{TENANT}/v2.0/.well-known/openid-configuration")
    assert body["metadata"][0]["aliases"] == [host]


@pytest.mark.parametrize(("form", "status", "error", "code"), [
    ({"client_secret": "wrong-secret-value-1"}, 401, "invalid_client", 7000215),
    ({"client_id": "99999999-0000-0000-0000-000000000000"}, 400, "unauthorized_client", 700016),
    ({"scope": "https://graph.microsoft.com/Calendars.Read"}, 400, "invalid_scope", 1002012),
    ({"scope": "https://foo.microsoft.com/.default"}, 400, "invalid_scope", 70011),
    ({"grant_type": "password"}, 400, "unsupported_grant_type", 70003),
])
def test_token_errors_come_in_entras_shape(
        sim: RunningSimulator, ssl_ctx: ssl.SSLContext,
        form: dict[str, str], status: int, error: str, code: int) -> None:
    response = fetch_token(sim, ssl_ctx, **form)
    assert response.status_code == status
    body = response.json()
    assert body["error"] == error
    assert body["error_codes"] == [code]
    assert body["error_description"].startswith(f"AADSTS{code}: ")
    assert {"timestamp", "trace_id", "correlation_id"} <= body.keys()
    assert "wrong-secret-value-1" not in response.text and CLIENT_SECRET not in response.text


def test_an_unknown_tenant_is_rejected_with_aadsts90002(
        sim: RunningSimulator, ssl_ctx: ssl.SSLContext) -> None:
    response = httpx.post(f"{sim.auth_endpoint}/no-such-tenant/oauth2/v2.0/token", verify=ssl_ctx,
                          data={"grant_type": "client_credentials", "client_id": CLIENT_ID,
                                "client_secret": CLIENT_SECRET, "scope": GRAPH_SCOPE})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert response.json()["error_codes"] == [90002]


async def test_an_app_registered_at_run_time_gets_tokens_with_its_roles(
        sim: RunningSimulator, control: httpx.AsyncClient) -> None:
    put = await control.put("/apps/reader-app", json={
        "clientSecret": "reader-secret", "tenantId": TENANT, "roles": ["Calendars.Read"]})
    assert put.status_code == 200 and "reader-secret" not in put.text
    async with ClientSecretCredential(TENANT, "reader-app", "reader-secret",
                                      authority=sim.auth_endpoint,
                                      connection_verify=str(sim.ca_path)) as cred:
        token = await cred.get_token(GRAPH_SCOPE)
    assert jwt.decode(token.token, options={"verify_signature": False})["roles"] == [
        "Calendars.Read"]


def test_the_sync_credential_works_when_instance_discovery_is_disabled(
        sim: RunningSimulator) -> None:
    cred = SyncClientSecretCredential(TENANT, CLIENT_ID, CLIENT_SECRET,
                                      authority=sim.auth_endpoint,
                                      disable_instance_discovery=True,
                                      connection_verify=str(sim.ca_path))
    assert cred.get_token(GRAPH_SCOPE).token
    wrong = SyncClientSecretCredential(TENANT, CLIENT_ID, "nope-nope",
                                       authority=sim.auth_endpoint,
                                       disable_instance_discovery=True,
                                       connection_verify=str(sim.ca_path))
    with pytest.raises(ClientAuthenticationError, match="AADSTS7000215"):
        wrong.get_token(GRAPH_SCOPE)


def test_msal_can_use_the_simulators_own_instance_discovery(
        sim: RunningSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    # requests lets REQUESTS_CA_BUNDLE override a session's verify=, so the env var is the way in.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sim.ca_path))
    app = msal.ConfidentialClientApplication(
        CLIENT_ID, client_credential=CLIENT_SECRET, authority=f"{sim.auth_endpoint}/{TENANT}",
        instance_discovery=f"{sim.auth_endpoint}/common/discovery/instance")
    result = app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
    assert "access_token" in result, result.get("error_description")
