"""KeyVaultSecretStore through azure-keyvault-secrets (challenge auth, managed identity) against the vault
simulator: what only this adapter does (the SecretStore contract is in tests/contract)."""

from __future__ import annotations

from datetime import UTC, datetime

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


async def test_an_unreachable_vault_is_credential_unavailable(cloud: Cloud, closing: list) -> None:
    vault = store(cloud)
    closing.append(vault)
    cloud.put_secret("only-one")
    cloud.vault.state.set_outage(503)
    try:
        with pytest.raises(CredentialUnavailable) as caught:
            await vault.current(NAME, datetime.now(UTC))
    finally:
        cloud.vault.state.set_outage(None)
    assert "only-one" not in str(caught.value)
