"""One Entra simulator and one vault for the session; each test starts with an empty vault."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from azure.keyvault.secrets.aio import SecretClient

from local.graphsim.server import RunningSimulator, start_simulator
from local.vaultsim.server import RunningVault, start_vault

from .vaultdata import CLIENT_ID, CLIENT_SECRET, TENANT, credential


@pytest.fixture(scope="session")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSimulator]:
    running = start_simulator(state_dir=tmp_path_factory.mktemp("graphsim"), tenant_id=TENANT,
                              client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    yield running
    running.stop()


@pytest.fixture(scope="session")
def vault(sim: RunningSimulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningVault]:
    running = start_vault(tmp_path_factory.mktemp("vaultsim"), tenant_id=TENANT, authority=sim.base_url,
                          authority_ca=sim.ca_path)
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def fresh(vault: RunningVault) -> RunningVault:
    vault.state.reset()
    return vault


@pytest_asyncio.fixture
async def client(sim: RunningSimulator, vault: RunningVault) -> AsyncIterator[SecretClient]:
    async with credential(sim) as cred, SecretClient(
            vault.vault_url, cred, verify_challenge_resource=False,  # loopback URL: see local/vaultsim
            connection_verify=str(vault.ca_path)) as secrets:
        yield secrets
