"""Graph/Entra simulator + Key Vault simulator over HTTPS, reached through the real SDKs."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from local.graphsim.server import RunningSimulator, start_simulator
from local.vaultsim.server import RunningVault, start_vault, write_ca_bundle
from shared.config import CredentialSettings, Settings, TablesConnection

TENANT = str(uuid.uuid4())


@dataclass
class Cloud:
    sim: RunningSimulator
    vault: RunningVault
    bundle: Path
    client_id: str
    secret: str = field(repr=False)
    identity_client_id: str
    identity_principal_id: str

    def settings(self, kind: str = "secret", *, vault: bool = True, tables: str | None = None,
                 **credential: Any) -> Settings:
        return Settings(
            synchronize=True, tenant_id=TENANT, client_id=self.client_id,
            client_secret=None if vault else self.secret,
            graph_endpoint=self.sim.graph_endpoint, auth_endpoint=self.sim.auth_endpoint,
            ca_file=str(self.bundle), managed_identity_client_id=self.identity_client_id,
            tables=TablesConnection(connection_string=tables) if tables else TablesConnection(),
            table_prefix="c" + uuid.uuid4().hex[:10],
            credential=CredentialSettings(kind=kind, key_vault_url=self.vault.vault_url.rstrip("/") + "/"
                                          if vault else None, **credential))

    def put_secret(self, value: str, *, days: int = 100, key_id: str | None = None) -> None:
        tags = {"keyId": key_id} if key_id else None
        self.vault.state.set_secret("graph-client-secret", value, content_type="text/plain",
                                    expires_on=datetime.now(UTC) + timedelta(days=days), tags=tags)


@pytest.fixture(scope="module")
def cloud_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningSimulator, RunningVault, Path]]:
    state = tmp_path_factory.mktemp("creds")
    sim = start_simulator(state_dir=state / "graphsim", tenant_id=TENANT, client_id=str(uuid.uuid4()),
                          client_secret=secrets.token_urlsafe(24))
    vault = start_vault(state / "vaultsim", tenant_id=TENANT, authority=sim.base_url, authority_ca=sim.ca_path)
    bundle = write_ca_bundle(state / "bundle.pem", sim.ca_path, vault.ca_path)
    yield sim, vault, bundle
    vault.stop()
    sim.stop()


@pytest.fixture
def cloud(cloud_servers: tuple[RunningSimulator, RunningVault, Path],
          monkeypatch: pytest.MonkeyPatch) -> Iterator[Cloud]:
    """A fresh app registration per test, owning itself, with Application.ReadWrite.OwnedBy, a managed
    identity the Function App would have, and the app's secret in the vault."""
    sim, vault, bundle = cloud_servers
    vault.state.reset()
    client_id, secret = str(uuid.uuid4()), secrets.token_urlsafe(24)
    sim.state.add_app(client_id, secret, TENANT, ["Calendars.ReadWrite", "Application.ReadWrite.OwnedBy"])
    sim.state.creds.add_owner(client_id, owner_client_id=client_id)
    identity = str(uuid.uuid4())
    mi = sim.state.creds.add_managed_identity(identity, TENANT)
    monkeypatch.setenv("IDENTITY_ENDPOINT", sim.base_url + "/msi/token")
    monkeypatch.setenv("IDENTITY_HEADER", sim.state.creds.identity_header)
    for name in ("AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE", "MSI_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AZURE_CLIENT_ID", identity)
    yield Cloud(sim, vault, bundle, client_id, secret, identity, mi.principal_id)


@pytest.fixture
async def closing() -> AsyncIterator[list[Any]]:
    objects: list[Any] = []
    yield objects
    for item in reversed(objects):
        await item.close()
