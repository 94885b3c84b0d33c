"""Client secrets: /applications(appId=...) with passwordCredentials, addPassword and removePassword
with their permissions, and a token endpoint that accepts exactly the current, propagated passwords."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity.aio import ClientSecretCredential

from local.graphsim.server import RunningSimulator

from .credsdata import GRAPH_SCOPE, VAULT_SCOPE, graph, new_app, ssl_context, token, token_response
from .simdata import TENANT

OWNED_BY = "Application.ReadWrite.OwnedBy"


def _credential(sim: RunningSimulator, client_id: str, secret: str) -> ClientSecretCredential:
    return ClientSecretCredential(TENANT, client_id, secret, authority=sim.auth_endpoint,
                                  connection_verify=str(sim.ca_path))


async def _aad_code(sim: RunningSimulator, client_id: str, secret: str, scope: str = GRAPH_SCOPE) -> str:
    """'ok' or the AADSTS code the real credential reports."""
    async with _credential(sim, client_id, secret) as cred:
        try:
            await cred.get_token(scope)
        except ClientAuthenticationError as exc:
            text = str(exc)
            assert secret not in text
            return next(w for w in text.replace(":", " ").split() if w.startswith("AADSTS"))
    return "ok"


def _add_password(sim: RunningSimulator, bearer: str, client_id: str, **spec: str) -> httpx.Response:
    with graph(sim, bearer) as g:
        return g.post(f"/applications(appId='{client_id}')/addPassword", json={"passwordCredential": spec})


def test_the_application_shows_password_hints_never_values(sim: RunningSimulator) -> None:
    client_id, secret = new_app(sim, roles=[OWNED_BY])
    sim.state.creds.add_owner(client_id, owner_client_id=client_id)
    with graph(sim, token(sim, client_id, secret)) as g:
        app = g.get(f"/applications(appId='{client_id}')")
        by_id = g.get(f"/applications/{app.json()['id']}")
        owners = g.get(f"/applications(appId='{client_id}')/owners").json()["value"]
    assert app.status_code == 200 and by_id.json()["appId"] == client_id
    body = app.json()
    assert body["id"] != sim.state.apps[client_id].object_id  # application object ≠ service principal
    (pw,) = body["passwordCredentials"]
    assert pw["hint"] == secret[:3] and pw["secretText"] is None
    assert {"keyId", "displayName", "startDateTime", "endDateTime"} <= pw.keys()
    assert body["keyCredentials"] == []
    assert secret not in app.text
    assert owners == [{"@odata.type": "#microsoft.graph.servicePrincipal", "id": sim.state.apps[client_id].object_id,
                       "displayName": "Calendar Connector", "appId": client_id,
                       "servicePrincipalType": "Application"}]


def test_reading_or_adding_passwords_needs_a_permission(sim: RunningSimulator) -> None:
    client_id, secret = new_app(sim)  # Calendars.ReadWrite, User.Read.All only
    bearer = token(sim, client_id, secret)
    with graph(sim, bearer) as g:
        read = g.get(f"/applications(appId='{client_id}')")
    added = _add_password(sim, bearer, client_id, displayName="rotation")
    assert read.status_code == 403 and added.status_code == 403
    assert added.json()["error"]["code"] == "Authorization_RequestDenied"


def test_owned_by_needs_the_service_principal_among_the_owners(sim: RunningSimulator) -> None:
    client_id, secret = new_app(sim, roles=[OWNED_BY])
    refused = _add_password(sim, token(sim, client_id, secret), client_id)
    sim.state.creds.add_owner(client_id, owner_client_id=client_id)
    allowed = _add_password(sim, token(sim, client_id, secret), client_id, displayName="rotation")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "Authorization_RequestDenied"
    assert allowed.status_code == 200
    body = allowed.json()
    assert len(body["secretText"]) == 40 and body["hint"] == body["secretText"][:3]
    assert body["displayName"] == "rotation"


def test_read_write_all_may_add_passwords_to_any_app(sim: RunningSimulator) -> None:
    target, _ = new_app(sim)
    admin, admin_secret = new_app(sim, roles=["Application.ReadWrite.All"])
    assert _add_password(sim, token(sim, admin, admin_secret), target).status_code == 200


async def test_a_new_password_works_only_after_the_propagation_delay(sim: RunningSimulator) -> None:
    client_id, secret = new_app(sim, roles=[OWNED_BY])
    sim.state.creds.add_owner(client_id, owner_client_id=client_id)
    sim.state.creds.set_password_delay(client_id, 1.5)
    created = _add_password(sim, token(sim, client_id, secret), client_id,
                            endDateTime="2030-01-01T00:00:00Z").json()
    assert created["endDateTime"] == "2030-01-01T00:00:00Z"
    new_secret = created["secretText"]
    assert await _aad_code(sim, client_id, new_secret) == "AADSTS7000215"
    deadline = time.monotonic() + 20
    while (code := await _aad_code(sim, client_id, new_secret)) != "ok":
        assert code == "AADSTS7000215" and time.monotonic() < deadline
        await asyncio.sleep(0.2)
    assert await _aad_code(sim, client_id, secret) == "ok"  # the old one still works meanwhile


async def test_remove_password_refuses_the_removed_secret(sim: RunningSimulator) -> None:
    client_id, secret = new_app(sim, roles=[OWNED_BY])
    sim.state.creds.add_owner(client_id, owner_client_id=client_id)
    bearer = token(sim, client_id, secret)
    new_secret = _add_password(sim, bearer, client_id).json()["secretText"]
    old_key = next(p["keyId"] for p in sim.state.creds.public(client_id)["passwordCredentials"]
                   if p["displayName"] == "initial")
    with graph(sim, bearer) as g:
        removed = g.post(f"/applications(appId='{client_id}')/removePassword", json={"keyId": old_key})
        again = g.post(f"/applications(appId='{client_id}')/removePassword", json={"keyId": old_key})
    assert removed.status_code == 204 and again.status_code == 400
    assert await _aad_code(sim, client_id, secret) == "AADSTS7000215"
    assert await _aad_code(sim, client_id, new_secret) == "ok"


async def test_an_expired_password_answers_aadsts7000222(sim: RunningSimulator) -> None:
    client_id, secret = new_app(sim)
    sim.state.creds.expire_password(client_id)
    assert await _aad_code(sim, client_id, secret) == "AADSTS7000222"


async def test_tokens_for_key_vault_and_granted_roles(sim: RunningSimulator) -> None:
    import jwt

    client_id, secret = new_app(sim, roles=["Calendars.ReadWrite"])
    sim.state.creds.grant_roles(client_id, [OWNED_BY])
    async with _credential(sim, client_id, secret) as cred:
        vault = await cred.get_token(VAULT_SCOPE)
        graph_token = await cred.get_token(GRAPH_SCOPE)
    assert jwt.decode(vault.token, options={"verify_signature": False})["aud"] == "https://vault.azure.net"
    assert jwt.decode(graph_token.token, options={"verify_signature": False})["roles"] == [
        "Calendars.ReadWrite", OWNED_BY]


def test_control_endpoints_add_expire_revoke_and_delay(sim: RunningSimulator) -> None:
    client_id, _ = new_app(sim)
    with httpx.Client(base_url=f"{sim.base_url}/_sim/apps/{client_id}", verify=ssl_context(sim)) as c:
        assert c.put("/password-delay", json={"seconds": 30}).status_code == 200
        added = c.post("/passwords", json={"displayName": "manual"}).json()
        secret, key_id = added["secretText"], added["keyId"]
        pending = token_response(sim, client_id, client_secret=secret).json()["error_codes"]
        assert c.post("/propagate").status_code == 204
        assert token_response(sim, client_id, client_secret=secret).status_code == 200
        assert c.post(f"/passwords/{key_id}/expire").status_code == 204
        expired = token_response(sim, client_id, client_secret=secret).json()["error_codes"]
        assert c.delete(f"/passwords/{key_id}").status_code == 204
        revoked = token_response(sim, client_id, client_secret=secret).json()["error_codes"]
        assert c.post("/roles", json={"roles": [OWNED_BY]}).json()["roles"][-1] == OWNED_BY
        assert c.post("/owners", json={"clientId": client_id}).status_code == 201
        view = c.get("/credentials").json()
    assert (pending, expired, revoked) == ([7000215], [7000222], [7000215])
    assert view["owners"][0]["appId"] == client_id and view["newPasswordDelaySeconds"] == 30
    assert secret not in str(view)


@pytest.mark.parametrize("path", ["/applications(appId='00000000-0000-0000-0000-000000000000')",
                                  "/applications/00000000-0000-0000-0000-000000000000"])
def test_an_unknown_application_is_not_found(sim: RunningSimulator, path: str) -> None:
    client_id, secret = new_app(sim, roles=["Application.ReadWrite.All"])
    with graph(sim, token(sim, client_id, secret)) as g:
        response = g.get(path)
    assert response.status_code == 404 and response.json()["error"]["code"] == "Request_ResourceNotFound"
