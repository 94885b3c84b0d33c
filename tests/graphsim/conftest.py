"""A simulator for the whole session; each test starts from a reset state with two mailboxes."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import pytest_asyncio

from local.graphsim.server import RunningSimulator, start_simulator

from .simdata import ALICE, BOB, CLIENT_ID, CLIENT_SECRET, TENANT, fetch_token


@pytest.fixture(scope="session")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSimulator]:
    running = start_simulator(
        port=0, state_dir=tmp_path_factory.mktemp("graphsim"), tenant_id=TENANT,
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
    )
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def fresh(sim: RunningSimulator) -> RunningSimulator:
    sim.state.reset()
    sim.state.add_app(CLIENT_ID, CLIENT_SECRET, TENANT)
    sim.state.add_user(ALICE, display_name="Alice Example",
                       id="0a1b2c3d-0000-4000-8000-00000000a11c")
    sim.state.add_user(BOB, display_name="Bob Example", mail="robert@contoso.example")
    return sim


@pytest.fixture
def ssl_ctx(sim: RunningSimulator) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(sim.ca_path))


@pytest.fixture
def token(sim: RunningSimulator, ssl_ctx: ssl.SSLContext) -> str:
    response = fetch_token(sim, ssl_ctx)
    assert response.status_code == 200
    return response.json()["access_token"]


@pytest_asyncio.fixture
async def graph(sim: RunningSimulator, ssl_ctx: ssl.SSLContext,
                token: str) -> AsyncIterator[httpx.AsyncClient]:
    """Plain httpx client on /v1.0 with a valid bearer token."""
    async with httpx.AsyncClient(
        base_url=sim.graph_endpoint, verify=ssl_ctx, timeout=30,
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        yield client


@pytest_asyncio.fixture
async def control(sim: RunningSimulator,
                  ssl_ctx: ssl.SSLContext) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.base_url + "/_sim", verify=ssl_ctx,
                                 timeout=30) as client:
        yield client
