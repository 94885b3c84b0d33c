"""RotationLease and CredentialStateStore: the in-memory fakes and the Table Storage adapters."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.adapters.tables.credentials import TableCredentialStateStore, TableRotationLease
from shared.app.ports.credentials import CredentialState, CredentialStateStore, RotationLease
from tests.contract.conftest import FAKE_AND_TABLES, table_stores_of
from tests.fakes.credentials import FakeLease, FakeState

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)


@pytest.fixture(params=FAKE_AND_TABLES)
def stores(request: pytest.FixtureRequest) -> tuple[RotationLease, CredentialStateStore]:
    if request.param == "fake":
        return FakeLease(), FakeState()
    tables = table_stores_of(request)
    return TableRotationLease(tables), TableCredentialStateStore(tables)


@pytest.fixture
def lease(stores: Any) -> RotationLease:
    return stores[0]  # type: ignore[no-any-return]


@pytest.fixture
def state(stores: Any) -> CredentialStateStore:
    return stores[1]  # type: ignore[no-any-return]


class TestRotationLease:
    async def test_one_holder_at_a_time_until_released(self, lease: RotationLease) -> None:
        assert await lease.acquire("rotate", "a", NOW, 60)
        assert not await lease.acquire("rotate", "b", NOW, 60)
        assert await lease.acquire("rotate", "a", NOW, 60), "the holder may renew"
        assert await lease.acquire("other", "b", NOW, 60), "leases are per name"
        await lease.release("rotate", "b")  # not the holder: nothing happens
        assert not await lease.acquire("rotate", "b", NOW, 60)
        await lease.release("rotate", "a")
        assert await lease.acquire("rotate", "b", NOW, 60)

    async def test_a_lapsed_lease_can_be_taken(self, lease: RotationLease) -> None:
        assert await lease.acquire("rotate", "a", NOW, 60)
        assert await lease.acquire("rotate", "b", NOW + timedelta(seconds=61), 60)
        assert not await lease.acquire("rotate", "a", NOW + timedelta(seconds=62), 60)

    async def test_of_racing_holders_exactly_one_wins(self, lease: RotationLease) -> None:
        won = await asyncio.gather(*(lease.acquire("race", f"h{i}", NOW, 60) for i in range(8)))
        assert won.count(True) == 1


class TestCredentialStateStore:
    async def test_empty_until_written_then_merged_field_by_field(self, state: CredentialStateStore) -> None:
        assert await state.get() == CredentialState()
        await state.update(expires_on=NOW, key_id="k1", problem="expiring")
        await state.update(last_checked=NOW + timedelta(hours=1), problem=None)
        current = await state.get()
        assert current == CredentialState(expires_on=NOW, key_id="k1", last_checked=NOW + timedelta(hours=1))
