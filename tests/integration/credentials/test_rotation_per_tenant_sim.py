"""Each tenant's credential rotated on its own through the real SDKs: tenant B's secret (a password of the app's
service principal in B's directory, in the Key Vault simulator under B's secret name) is rotated by the timer's
``rotate_all`` while the default tenant's stays untouched, B's token works with the new secret afterwards, and
B's state row and lease live in Azurite under B's key until B is purged."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from local.azurite import RunningAzurite
from shared.app.credentials.tenants import credential_status_in, rotate_all, rotate_now_in
from shared.app.tenants.registry import delete_tenant
from shared.bootstrap import Container
from shared.domain.tenants.model import CredentialRef, Tenant, TenantId

from .conftest import TENANT, Cloud

SCOPE = "https://graph.microsoft.com/.default"
B = str(uuid.uuid4())
B_SECRET = "fabrikam-graph-secret"


def tid(token: str) -> str:
    payload = token.split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["tid"])


@pytest.fixture
async def world(cloud: Cloud, azurite: RunningAzurite, closing: list):  # type: ignore[no-untyped-def]
    """The home app (multi-tenant) with its secret in the vault; tenant B consented, its service principal owning
    itself, a password of B's in the vault (expiring in ten days: due), B registered with that secret."""
    state = cloud.sim.state
    state.tenancy.multi_tenant(cloud.client_id, [])
    state.tenancy.consent(B, cloud.client_id)
    state.principals.own(B, cloud.client_id)
    first = state.principals.add(B, cloud.client_id, "added by Fabrikam's administrator",
                                 datetime.now(UTC) + timedelta(days=10))
    cloud.put_secret(cloud.secret)
    cloud.vault.state.set_secret(B_SECRET, first.secret, content_type="text/plain", expires_on=first.end,
                                 tags={"keyId": first.key_id})
    container = Container(cloud.settings(tables=azurite.connection_string))
    closing.append(container)
    await container.tenant_store().save(Tenant(TenantId(B), "Fabrikam", ("https://planning.example/fabrikam",),
                                               CredentialRef("secret", B_SECRET, lifetime_days=90)))
    return container, first


async def test_the_timer_rotates_tenant_b_and_leaves_the_default_tenant_alone(cloud: Cloud, world) -> None:
    container, first = world
    home_before = cloud.sim.state.creds.public(cloud.client_id)["passwordCredentials"]
    default_versions = len(cloud.vault.state.versions("graph-client-secret"))

    results = {r.tenant: r.outcome for r in await rotate_all(container.tenant_credentials())}

    assert results[None].action == "not-due", results[None].detail
    assert results[B].action == "rotated", results[B].detail
    # The default tenant's credential: the same passwords of the app registration, the same vault versions.
    assert cloud.sim.state.creds.public(cloud.client_id)["passwordCredentials"] == home_before
    assert len(cloud.vault.state.versions("graph-client-secret")) == default_versions
    # B's: a new password of its service principal (B's policy: 90 days), a new vault version tagged with it.
    stored = cloud.vault.state.get(B_SECRET)
    assert stored.tags["keyId"] == results[B].new_key_id and stored.value != first.secret
    listed = {p.key_id: p for p in cloud.sim.state.principals.listed(B, cloud.client_id)}
    assert set(listed) == {first.key_id, results[B].new_key_id}
    assert timedelta(days=89) < listed[results[B].new_key_id].end - datetime.now(UTC) <= timedelta(days=90)

    # B's token works with the new secret alone: the administrator's password removed, a fresh instance.
    cloud.sim.state.principals.remove(B, cloud.client_id, first.key_id)
    fresh = Container(container.settings)
    try:
        tenant = await fresh.tenant_store().get(TenantId(B))
        assert tenant is not None
        token = await fresh.tenant_calendars().provider(tenant).get_token(SCOPE)
        assert tid(token.token) == B
        assert tid((await fresh.provider().get_token(SCOPE)).token) == TENANT

        # B's status is its own: its state row, its policy; the default tenant's has no rotation recorded.
        deps = fresh.tenant_credentials()
        status = json.loads((await credential_status_in(B, deps)).body)
        assert status["tenant"] == B and status["secretName"] == B_SECRET and status["lastRotation"]
        assert status["keyId"] == results[B].new_key_id and status["rotation"]["lifetimeDays"] == 90
        assert json.loads((await credential_status_in(None, deps)).body)["lastRotation"] is None

        # A stopped tenant is refused, naming the parameter; the purge removes B's credential rows.
        purged = await delete_tenant(B, fresh.tenants(), purge=True)
        assert "credentials" in json.loads(purged.body)["purge"]["stores"]
        gone = await rotate_now_in(B, deps, revoke_old=False)
        assert gone.status == 404 and json.loads(gone.body)["parameter"] == "tenant"
        assert (await fresh.credentials_in(tenant).state.get()).last_rotation is None
    finally:
        await fresh.close()


async def test_tenant_b_without_permission_in_its_directory_fails_alone(cloud: Cloud, world) -> None:
    container, _ = world
    cloud.sim.state.creds.grant_roles(cloud.client_id, ["Calendars.ReadWrite"], replace=True)
    cloud.put_secret(cloud.secret, days=10)  # the default tenant's is due too: both impossible, each its own
    results = {r.tenant: r.outcome for r in await rotate_all(container.tenant_credentials())}
    assert results[None].action == "impossible" and results[B].action == "impossible"
    tenant = await container.tenant_store().get(TenantId(B))
    assert tenant is not None
    b_state = await container.credentials_in(tenant).state.get()
    assert b_state.fix and "service principal there" in b_state.fix
    assert "Application.ReadWrite.OwnedBy" in ((await container.credentials().state.get()).fix or "")
