"""KeyVaultSecretStore through azure-keyvault-secrets (challenge auth, managed identity) against the vault
simulator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.adapters.keyvault import KeyVaultSecretStore
from shared.errors import CredentialUnavailable

from .conftest import Cloud

NAME = "graph-client-secret"


def store(cloud: Cloud) -> KeyVaultSecretStore:
    return KeyVaultSecretStore(cloud.vault.vault_url, managed_identity_client_id=cloud.identity_client_id,
                               ca_file=str(cloud.bundle))


async def test_the_latest_usable_version_is_read_with_the_managed_identity(cloud: Cloud, closing: list) -> None:
    vault = store(cloud)
    closing.append(vault)
    cloud.put_secret("first-value", key_id="k1")
    current = await vault.current(NAME, datetime.now(UTC))
    assert current.value == "first-value" and current.tags == {"keyId": "k1"}
    assert "first-value" not in repr(current)


async def test_a_disabled_or_expired_latest_version_falls_back_to_the_newest_usable(cloud: Cloud,
                                                                                   closing: list) -> None:
    vault = store(cloud)
    closing.append(vault)
    cloud.put_secret("good")
    cloud.put_secret("disabled")
    cloud.vault.state.disable(NAME)
    assert (await vault.current(NAME, datetime.now(UTC))).value == "good"
    cloud.put_secret("expired")
    cloud.vault.state.expire(NAME)
    assert (await vault.current(NAME, datetime.now(UTC))).value == "good"


async def test_put_makes_a_version_with_expiry_content_type_and_tags(cloud: Cloud, closing: list) -> None:
    vault = store(cloud)
    closing.append(vault)
    end = datetime.now(UTC).replace(microsecond=0) + timedelta(days=180)
    stored = await vault.put(NAME, "rotated-value", content_type="text/plain", expires_on=end,
                             tags={"keyId": "abc", "createdBy": "calendar-connector"})
    current = await vault.current(NAME, datetime.now(UTC))
    assert current.version == stored.version and current.expires_on == end
    assert current.content_type == "text/plain" and current.tags["keyId"] == "abc"


async def test_nothing_usable_or_unreachable_is_credential_unavailable_without_values(cloud: Cloud,
                                                                                     closing: list) -> None:
    vault = store(cloud)
    closing.append(vault)
    with pytest.raises(CredentialUnavailable, match="has no secret"):
        await vault.current(NAME, datetime.now(UTC))
    cloud.put_secret("only-one")
    cloud.vault.state.disable(NAME)
    with pytest.raises(CredentialUnavailable, match="no enabled, unexpired version") as caught:
        await vault.current(NAME, datetime.now(UTC))
    assert "only-one" not in str(caught.value)
    cloud.vault.state.set_outage(503)
    try:
        with pytest.raises(CredentialUnavailable):
            await vault.current(NAME, datetime.now(UTC))
    finally:
        cloud.vault.state.set_outage(None)
