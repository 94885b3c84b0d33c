"""Zero-secret federation: the App Service managed identity endpoint as the real
ManagedIdentityCredential calls it, and ClientAssertionCredential exchanging its token through a
federated identity credential on the app registration."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import jwt
import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity.aio import ClientAssertionCredential, ManagedIdentityCredential

from local.graphsim.server import RunningSimulator

from .credsdata import GRAPH_SCOPE, graph, new_app, ssl_context
from .simdata import TENANT

EXCHANGE_SCOPE = "api://AzureADTokenExchange/.default"
ISSUER = f"https://login.microsoftonline.com/{TENANT}/v2.0"


@pytest.fixture
def app_service(sim: RunningSimulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    """The environment App Service gives a Function App, and one user-assigned identity."""
    monkeypatch.setenv("IDENTITY_ENDPOINT", sim.identity_endpoint)
    monkeypatch.setenv("IDENTITY_HEADER", sim.state.creds.identity_header)
    mi = sim.state.creds.add_managed_identity(str(uuid.uuid4()), TENANT)
    yield mi.client_id, mi.principal_id


def _mi(sim: RunningSimulator, client_id: str) -> ManagedIdentityCredential:
    return ManagedIdentityCredential(client_id=client_id, connection_verify=str(sim.ca_path))


async def _exchange(sim: RunningSimulator, app_id: str, mi_client_id: str) -> str:
    """The federated flow: MI token for the exchange audience → Graph token of the app."""
    async with _mi(sim, mi_client_id) as mi:
        assertion = (await mi.get_token(EXCHANGE_SCOPE)).token
    async with ClientAssertionCredential(TENANT, app_id, lambda: assertion, authority=sim.auth_endpoint,
                                         connection_verify=str(sim.ca_path)) as cred:
        try:
            return (await cred.get_token(GRAPH_SCOPE)).token
        except ClientAuthenticationError as exc:
            return next(w for w in str(exc).replace(":", " ").split() if w.startswith("AADSTS"))


async def test_managed_identity_credential_gets_an_exchange_token(sim: RunningSimulator,
                                                                  app_service: tuple[str, str]) -> None:
    client_id, principal_id = app_service
    async with _mi(sim, client_id) as mi:
        token = await mi.get_token(EXCHANGE_SCOPE)
        vault = await mi.get_token("https://vault.azure.net/.default")
    claims = jwt.decode(token.token, options={"verify_signature": False})
    assert claims["aud"] == "api://AzureADTokenExchange" and claims["sub"] == principal_id
    assert claims["iss"] == ISSUER and claims["appid"] == client_id
    assert jwt.decode(vault.token, options={"verify_signature": False})["aud"] == "https://vault.azure.net"


async def test_an_unknown_identity_or_a_wrong_header_gets_no_token(
        sim: RunningSimulator, app_service: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    async with _mi(sim, str(uuid.uuid4())) as unknown:
        with pytest.raises(ClientAuthenticationError, match="No User Assigned"):
            await unknown.get_token(EXCHANGE_SCOPE)
    monkeypatch.setenv("IDENTITY_HEADER", "not-the-header")
    async with _mi(sim, app_service[0]) as wrong:
        with pytest.raises(ClientAuthenticationError):
            await wrong.get_token(EXCHANGE_SCOPE)


async def test_a_matching_federated_credential_exchanges_the_token(sim: RunningSimulator,
                                                                   app_service: tuple[str, str]) -> None:
    mi_client_id, principal_id = app_service
    app_id, _ = new_app(sim, roles=["Calendars.ReadWrite"], secret="")
    sim.state.creds.add_federated(app_id, issuer=ISSUER, subject=principal_id, name="function-app")
    token = await _exchange(sim, app_id, mi_client_id)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["appid"] == app_id and claims["roles"] == ["Calendars.ReadWrite"]
    with graph(sim, token) as g:  # a working Graph token
        assert g.get("/users").status_code == 403  # authenticated, only lacks User.Read.All


@pytest.mark.parametrize(("fic", "code"), [
    (None, "AADSTS70021"),
    ({"issuer": "https://login.microsoftonline.com/other-tenant/v2.0"}, "AADSTS700211"),
    ({"subject": "00000000-0000-0000-0000-000000000000"}, "AADSTS700213"),
    ({"audiences": ["api://SomethingElse"]}, "AADSTS700212"),
])
async def test_without_a_matching_federated_credential_entra_refuses(
        sim: RunningSimulator, app_service: tuple[str, str], fic: dict[str, object] | None, code: str) -> None:
    mi_client_id, principal_id = app_service
    app_id, _ = new_app(sim, secret="")
    if fic is not None:
        spec = {"issuer": ISSUER, "subject": principal_id, "audiences": None} | fic
        sim.state.creds.add_federated(app_id, **spec)  # type: ignore[arg-type]
    assert await _exchange(sim, app_id, mi_client_id) == code


async def test_control_endpoints_register_identities_and_federated_credentials(sim: RunningSimulator,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    app_id, _ = new_app(sim, secret="")
    mi_client_id = str(uuid.uuid4())
    with httpx.Client(base_url=f"{sim.base_url}/_sim", verify=ssl_context(sim)) as c:
        env = c.get("/managed-identity-env").json()
        mi = c.put(f"/managed-identities/{mi_client_id}", json={"tenantId": TENANT}).json()
        fic = c.post(f"/apps/{app_id}/federated-credentials", json={
            "name": "function-app", "issuer": ISSUER, "subject": mi["principalId"]})
    assert env["IDENTITY_ENDPOINT"] == sim.identity_endpoint and fic.status_code == 201
    assert fic.json()["audiences"] == ["api://AzureADTokenExchange"]
    monkeypatch.setenv("IDENTITY_ENDPOINT", env["IDENTITY_ENDPOINT"])
    monkeypatch.setenv("IDENTITY_HEADER", env["IDENTITY_HEADER"])
    assert (await _exchange(sim, app_id, mi_client_id)).count(".") == 2
