"""The real azure-keyvault-secrets (aio) against the vault simulator: challenge authentication,
versions, attributes and tags, disabled and expired versions, Key Vault's error shapes."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.keyvault.secrets._shared import http_challenge_cache
from azure.keyvault.secrets.aio import SecretClient

from local.graphsim.server import RunningSimulator
from local.vaultsim.server import RunningVault, start_vault, write_ca_bundle

from .vaultdata import CLIENT_ID, TENANT, credential

NAME = "graph-client-secret"


def _vault_http(vault: RunningVault) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=vault.vault_url, verify=ssl.create_default_context(cafile=str(vault.ca_path)))


def _token(sim: RunningSimulator, scope: str) -> str:
    ctx = ssl.create_default_context(cafile=str(sim.ca_path))
    response = httpx.post(f"{sim.auth_endpoint}/{TENANT}/oauth2/v2.0/token", verify=ctx, data={
        "grant_type": "client_credentials", "client_id": CLIENT_ID, "scope": scope,
        "client_secret": "vaultsim-test-secret-value"})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


async def test_a_request_without_token_gets_key_vaults_challenge(vault: RunningVault, sim: RunningSimulator) -> None:
    async with _vault_http(vault) as http:
        response = await http.get(f"/secrets/{NAME}/", params={"api-version": "7.6"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == (
        f'Bearer authorization="{sim.base_url}/{TENANT}", resource="https://vault.azure.net"')
    assert response.json()["error"]["code"] == "Unauthorized"


async def test_the_sdk_follows_the_challenge_and_round_trips_a_secret(client: SecretClient,
                                                                      vault: RunningVault) -> None:
    http_challenge_cache.clear()  # the SDK caches challenges per vault URL for the whole process
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=180)
    created = await client.set_secret(NAME, "first-value", content_type="text/plain", expires_on=expires,
                                      tags={"keyId": "k-1", "managedBy": "connector"})
    got = await client.get_secret(NAME)
    assert got.value == "first-value"
    assert got.properties.version == created.properties.version
    assert got.properties.content_type == "text/plain"
    assert got.properties.tags == {"keyId": "k-1", "managedBy": "connector"}
    assert got.properties.expires_on == expires and got.properties.enabled is True
    statuses = [r["status"] for r in vault.state.requests()]
    assert statuses[0] == 401 and statuses[1:] == [200, 200]  # one challenge, then the token is cached


async def test_versions_latest_and_a_given_version(client: SecretClient) -> None:
    first = await client.set_secret(NAME, "v1")
    second = await client.set_secret(NAME, "v2")
    assert (await client.get_secret(NAME)).value == "v2"
    assert (await client.get_secret(NAME, first.properties.version)).value == "v1"
    versions = [p.version async for p in client.list_properties_of_secret_versions(NAME)]
    assert versions == [first.properties.version, second.properties.version]
    names = [p.name async for p in client.list_properties_of_secrets()]
    assert names == [NAME]


async def test_listing_many_versions_follows_next_links(client: SecretClient, vault: RunningVault) -> None:
    for i in range(30):
        vault.state.set_secret(NAME, f"value-{i}")
    versions = [p async for p in client.list_properties_of_secret_versions(NAME)]
    assert len(versions) == 30
    assert len({p.version for p in versions}) == 30


async def test_a_disabled_version_is_refused_like_key_vault_but_still_listed(client: SecretClient) -> None:
    old = await client.set_secret(NAME, "old")
    new = await client.set_secret(NAME, "new")
    await client.update_secret_properties(NAME, new.properties.version, enabled=False)
    with pytest.raises(HttpResponseError) as refused:
        await client.get_secret(NAME)
    assert refused.value.status_code == 403
    assert refused.value.error is not None and refused.value.error.code == "Forbidden"
    assert refused.value.error.innererror == {"code": "SecretDisabled"}
    assert "new" not in str(refused.value)
    assert (await client.get_secret(NAME, old.properties.version)).value == "old"
    listed = {p.version: p.enabled async for p in client.list_properties_of_secret_versions(NAME)}
    assert listed == {old.properties.version: True, new.properties.version: False}


async def test_an_expired_version_is_still_returned_so_the_client_must_check(client: SecretClient,
                                                                            vault: RunningVault) -> None:
    await client.set_secret(NAME, "value")
    vault.state.expire(NAME)
    got = await client.get_secret(NAME)
    assert got.value == "value"
    assert got.properties.expires_on is not None and got.properties.expires_on < datetime.now(UTC)


async def test_update_properties_changes_tags_expiry_and_enabled_only(client: SecretClient) -> None:
    created = await client.set_secret(NAME, "value", content_type="text/plain", tags={"a": "1"})
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    updated = await client.update_secret_properties(NAME, created.properties.version, tags={"b": "2"},
                                                    expires_on=expires)
    assert updated.tags == {"b": "2"} and updated.expires_on == expires
    assert updated.content_type == "text/plain" and updated.enabled is True
    latest = await client.update_secret_properties(NAME, enabled=False)  # no version: the latest
    assert latest.version == created.properties.version and latest.enabled is False


async def test_an_unknown_secret_is_secret_not_found(client: SecretClient) -> None:
    with pytest.raises(ResourceNotFoundError) as missing:
        await client.get_secret("no-such-secret")
    assert missing.value.error is not None and missing.value.error.code == "SecretNotFound"


async def test_a_token_for_another_resource_is_refused_with_the_challenge(vault: RunningVault,
                                                                          sim: RunningSimulator) -> None:
    graph_token = _token(sim, "https://graph.microsoft.com/.default")
    vault_token = _token(sim, "https://vault.azure.net/.default")
    async with _vault_http(vault) as http:
        wrong = await http.get(f"/secrets/{NAME}/", params={"api-version": "7.6"},
                               headers={"Authorization": f"Bearer {graph_token}"})
        right = await http.get(f"/secrets/{NAME}/", params={"api-version": "7.6"},
                               headers={"Authorization": f"Bearer {vault_token}"})
    assert wrong.status_code == 401 and "WWW-Authenticate" in wrong.headers
    assert "AKV10022" in wrong.json()["error"]["message"]
    assert right.status_code == 404  # authenticated; the secret just does not exist


async def test_without_verify_challenge_resource_false_the_sdk_refuses_a_loopback_vault(
        sim: RunningSimulator, vault: RunningVault) -> None:
    async with credential(sim) as cred, SecretClient(vault.vault_url, cred,
                                                     connection_verify=str(vault.ca_path)) as strict:
        with pytest.raises(ValueError, match="does not match the requested domain"):
            await strict.get_secret(NAME)


async def test_control_api_sets_disables_and_expires_versions(vault: RunningVault, client: SecretClient) -> None:
    async with _vault_http(vault) as http:
        put = await http.put(f"/_sim/secrets/{NAME}", json={"value": "seeded", "contentType": "text/plain",
                                                            "tags": {"keyId": "k"}})
        assert put.status_code == 201
        version = put.json()["version"]
        assert (await client.get_secret(NAME)).value == "seeded"
        assert (await http.post(f"/_sim/secrets/{NAME}/latest/expire")).status_code == 204
        assert (await http.post(f"/_sim/secrets/{NAME}/{version}/disable")).status_code == 204
        listed = (await http.get(f"/_sim/secrets/{NAME}")).json()["value"]
    assert listed[0]["attributes"]["enabled"] is False and "exp" in listed[0]["attributes"]
    assert "seeded" not in str(listed)
    with pytest.raises(HttpResponseError):
        await client.get_secret(NAME)


async def test_an_outage_and_an_access_list_answer_in_key_vaults_shape(vault: RunningVault,
                                                                        sim: RunningSimulator) -> None:
    token = _token(sim, "https://vault.azure.net/.default")
    headers = {"Authorization": f"Bearer {token}"}
    vault.state.set_secret(NAME, "value")
    async with _vault_http(vault) as http:
        vault.state.set_allowed_principals(["00000000-0000-0000-0000-000000000000"])
        denied = await http.get(f"/secrets/{NAME}/", params={"api-version": "7.6"}, headers=headers)
        vault.state.set_allowed_principals(None)
        vault.state.set_outage(503)
        down = await http.get(f"/secrets/{NAME}/", params={"api-version": "7.6"}, headers=headers)
        vault.state.set_outage(None)
        back = await http.get(f"/secrets/{NAME}/", params={"api-version": "7.6"}, headers=headers)
    assert denied.status_code == 403 and denied.json()["error"]["innererror"]["code"] == "ForbiddenByRbac"
    assert down.status_code == 503
    assert back.status_code == 200 and back.json()["value"] == "value"


async def test_a_managed_identity_token_opens_the_vault(sim: RunningSimulator, vault: RunningVault,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from azure.identity.aio import ManagedIdentityCredential

    mi = sim.state.creds.add_managed_identity("5f0c5a39-0000-4000-8000-00000000f00d", TENANT)
    monkeypatch.setenv("IDENTITY_ENDPOINT", sim.identity_endpoint)
    monkeypatch.setenv("IDENTITY_HEADER", sim.state.creds.identity_header)
    vault.state.set_secret(NAME, "from-mi")
    vault.state.set_allowed_principals([mi.principal_id])  # only the Function App's identity
    async with ManagedIdentityCredential(client_id=mi.client_id, connection_verify=str(sim.ca_path)) as cred, \
            SecretClient(vault.vault_url, cred, verify_challenge_resource=False,
                         connection_verify=str(vault.ca_path)) as secrets:
        assert (await secrets.get_secret(NAME)).value == "from-mi"



async def test_one_ca_can_trust_both_simulators(sim: RunningSimulator, vault: RunningVault, tmp_path: Path) -> None:
    shared = start_vault(tmp_path / "shared", tenant_id=TENANT, authority=sim.base_url, authority_ca=sim.ca_path,
                         tls_dir=sim.ca_path.parent)  # serves the Entra simulator's certificate
    try:
        shared.state.set_secret(NAME, "same-ca")
        async with credential(sim) as cred, SecretClient(shared.vault_url, cred, verify_challenge_resource=False,
                                                         connection_verify=str(sim.ca_path)) as secrets:
            assert (await secrets.get_secret(NAME)).value == "same-ca"
    finally:
        shared.stop()
    bundle = ssl.create_default_context(cafile=str(write_ca_bundle(tmp_path / "b.pem", sim.ca_path, vault.ca_path)))
    async with httpx.AsyncClient(verify=bundle) as http:
        assert (await http.get(f"{vault.vault_url}/_sim/requests")).status_code == 200
        assert (await http.get(f"{sim.base_url}/_sim/users")).status_code == 200
