from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from local.azurite import RunningAzurite, start_azurite
from shared.adapters.tables import TableStores
from shared.config import Settings, TablesConnection
from tests.support.builders import require_azurite


@pytest.fixture(scope="session")
def azurite() -> Iterator[RunningAzurite]:
    require_azurite()
    running = start_azurite()
    yield running
    running.stop()


@pytest.fixture
def table_prefix() -> str:
    return "t" + uuid.uuid4().hex[:12]


@pytest.fixture
async def table_stores(azurite: RunningAzurite, table_prefix: str) -> AsyncIterator[TableStores]:
    settings = Settings(tables=TablesConnection(connection_string=azurite.connection_string), table_prefix=table_prefix)
    stores = TableStores(settings)
    yield stores
    await stores.close()
