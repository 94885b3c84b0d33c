"""SecretStore: the fake vault and KeyVaultSecretStore (azure-keyvault-secrets, managed identity) against the
Key Vault simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from shared.adapters.keyvault import KeyVaultSecretStore
from shared.app.ports.credentials import SecretStore
from shared.errors import CredentialUnavailable
from tests.fakes.credentials import FakeVault
from tests.integration.credentials.conftest import Cloud, cloud, cloud_servers

__all__ = ["cloud", "cloud_servers"]  # the simulators' fixtures, used by the "keyvault" backend

NAME = "graph-client-secret"


@dataclass
class Vault:
    store: SecretStore
    disable_latest: Callable[[], None]


@pytest.fixture(params=["fake", pytest.param("keyvault", marks=[pytest.mark.graphsim, pytest.mark.vaultsim])])
async def vault(request: pytest.FixtureRequest) -> AsyncIterator[Vault]:
    if request.param == "fake":
        fake = FakeVault()

        def disable() -> None:
            fake.versions[NAME][-1].enabled = False

        yield Vault(fake, disable)
        return
    sims: Cloud = request.getfixturevalue("cloud")
    store = KeyVaultSecretStore(sims.vault.vault_url, managed_identity_client_id=sims.identity_client_id,
                                ca_file=str(sims.bundle))
    yield Vault(store, lambda: sims.vault.state.disable(NAME))
    await store.close()


async def put(vault: Vault, value: str, *, days: float = 100, **tags: str) -> None:
    await vault.store.put(NAME, value, content_type="text/plain", expires_on=datetime.now(UTC) + timedelta(days=days),
                          tags=tags)


class TestSecretStore:
    async def test_put_makes_the_current_version_with_expiry_content_type_and_tags(self, vault: Vault) -> None:
        end = datetime.now(UTC).replace(microsecond=0) + timedelta(days=180)
        stored = await vault.store.put(NAME, "rotated-value", content_type="text/plain", expires_on=end,
                                       tags={"keyId": "abc", "createdBy": "calendar-connector"})
        current = await vault.store.current(NAME, datetime.now(UTC))
        assert current.version == stored.version and current.value == "rotated-value" and current.expires_on == end
        assert current.content_type == "text/plain" and current.tags["keyId"] == "abc"
        assert "rotated-value" not in repr(current)

    async def test_an_expired_latest_version_falls_back_to_the_newest_usable(self, vault: Vault) -> None:
        await put(vault, "good")
        await put(vault, "expired", days=-1)
        assert (await vault.store.current(NAME, datetime.now(UTC))).value == "good"

    async def test_a_disabled_latest_version_falls_back_to_the_newest_usable(self, vault: Vault) -> None:
        await put(vault, "good")
        await put(vault, "disabled")
        vault.disable_latest()
        assert (await vault.store.current(NAME, datetime.now(UTC))).value == "good"

    async def test_nothing_usable_is_credential_unavailable_without_the_value(self, vault: Vault) -> None:
        with pytest.raises(CredentialUnavailable):
            await vault.store.current(NAME, datetime.now(UTC))
        await put(vault, "only-one")
        vault.disable_latest()
        with pytest.raises(CredentialUnavailable, match="no enabled, unexpired version") as caught:
            await vault.store.current(NAME, datetime.now(UTC))
        assert "only-one" not in str(caught.value)
