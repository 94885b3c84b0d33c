"""Servers shared by every test directory (registered as fixtures in tests/conftest.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from local.azurite import RunningAzurite, start_azurite
from local.graphsim.server import RunningSimulator, start_simulator
from shared.adapters.tables.stores import TableStores
from shared.config import Settings, TablesConnection
from tests.support.builders import require_azurite


@pytest.fixture(scope="session")
def azurite() -> Iterator[RunningAzurite]:
    require_azurite()
    running = start_azurite()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSimulator]:
    """The HTTPS Graph/Entra simulator with the app registration client-1 (secret-1); see sim_settings."""
    sim = start_simulator(state_dir=Path(tmp_path_factory.mktemp("graphsim")), tenant_id=str(uuid.uuid4()),
                          client_id="client-1", client_secret="secret-1")
    yield sim
    sim.stop()


@pytest.fixture
def table_prefix() -> str:
    return "t" + uuid.uuid4().hex[:12]


@pytest.fixture
async def table_stores(azurite: RunningAzurite, table_prefix: str) -> AsyncIterator[TableStores]:
    settings = Settings(tables=TablesConnection(connection_string=azurite.connection_string), table_prefix=table_prefix)
    stores = TableStores(settings)
    yield stores
    await stores.close()

