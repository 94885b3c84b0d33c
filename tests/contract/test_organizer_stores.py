"""OrganizerStore and AppointmentWatchStore: the in-memory fakes and the Table Storage adapters."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

import pytest

from shared.adapters.tables.organizers import OrganizerTables
from shared.app.ports.organizers import AppointmentWatchStore, Organizer, OrganizerStore
from shared.app.rooms.tenancy import ScopedCalendars, ScopedWatches
from shared.domain.people.watching import AppointmentWatch
from shared.domain.tenants.model import TenantId
from shared.errors import ConcurrencyConflict
from tests.contract.conftest import FAKE_AND_TABLES, table_stores_of
from tests.fakes.organizers import InMemoryAppointmentWatches, InMemoryOrganizers

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)


@dataclass
class Stores:
    organizers: OrganizerStore
    watches: AppointmentWatchStore


@pytest.fixture(params=FAKE_AND_TABLES)
def tables(request: pytest.FixtureRequest) -> Stores:
    if request.param == "fake":
        return Stores(InMemoryOrganizers(), InMemoryAppointmentWatches())
    real = OrganizerTables(table_stores_of(request))
    return Stores(real.organizers, real.watches)


class TestOrganizers:
    async def test_round_trip_with_etag_concurrency(self, tables: Stores) -> None:
        organizer = Organizer(email="rita@contoso.com", activated_at=NOW, subscription_id="s1",
                              client_state="o1~n~m~rita@contoso.com", expires_at=NOW, failing_since=NOW,
                              failure="timer: 503")
        saved = await tables.organizers.save(organizer)
        assert saved.etag and await tables.organizers.get("Rita@Contoso.com") == saved
        with pytest.raises(ConcurrencyConflict):
            await tables.organizers.save(organizer)  # inserting again
        updated = await tables.organizers.save(replace(saved, failure=None, failing_since=None))
        with pytest.raises(ConcurrencyConflict):
            await tables.organizers.save(replace(saved, subscription_id="s2"))  # a stale etag
        assert [o.email for o in await tables.organizers.list()] == ["rita@contoso.com"]
        assert (await tables.organizers.list())[0] == updated
        await tables.organizers.delete("rita@contoso.com")
        await tables.organizers.delete("rita@contoso.com")  # gone already: no error
        assert await tables.organizers.get("rita@contoso.com") is None


class TestAppointmentWatches:
    async def test_upsert_list_per_organizer_and_forget(self, tables: Stores) -> None:
        many = {f"attendee{i}@contoso.com": "tentativelyAccepted|2026-06-01T08:00:00+00:00|2026-06-01T09:00:00+00:00"
                for i in range(500)}  # Graph's most attendees: more than one property holds
        state = AppointmentWatch(organizer="rita@contoso.com", event_id="AAMk=/+-_", appointment_id="A-1",
                                 responses=many, start="2026-06-01T08:00:00+00:00", end="2026-06-01T09:00:00+00:00",
                                 written_start="2026-06-02T08:00:00+00:00", written_end="2026-06-02T09:00:00+00:00",
                                 change_key="ck1")
        await tables.watches.save(state)
        await tables.watches.save(replace(state, change_key="ck2"))
        await tables.watches.save(replace(state, organizer="otto@contoso.com"))
        found = await tables.watches.get("rita@contoso.com", "AAMk=/+-_")
        assert found is not None and replace(found, etag=None) == replace(state, change_key="ck2")
        assert [s.event_id for s in await tables.watches.list("rita@contoso.com")] == ["AAMk=/+-_"]
        await tables.watches.forget("rita@contoso.com")
        assert await tables.watches.get("rita@contoso.com", "AAMk=/+-_") is None
        assert await tables.watches.list("otto@contoso.com")


class TestTenants:
    A = TenantId("11111111-1111-1111-1111-111111111111")
    B = TenantId("22222222-2222-2222-2222-222222222222")

    async def test_organizers_and_watches_of_two_tenants_and_a_purge_of_one(self, tables: Stores) -> None:
        views = [(tables.organizers, tables.watches, "default")] + [
            (ScopedCalendars(tables.organizers, t), ScopedWatches(tables.watches, t), t) for t in (self.A, self.B)]
        for organizers, watches, name in views:
            await organizers.save(Organizer(email="rita@contoso.com", activated_at=NOW, subscription_id=name))
            await watches.save(AppointmentWatch(organizer="rita@contoso.com", event_id="E1", appointment_id=name))
        for organizers, watches, name in views:
            found = await organizers.get("Rita@Contoso.com")
            assert found is not None and found.subscription_id == name and found.email == "rita@contoso.com"
            [watch] = await watches.list("rita@contoso.com")
            assert watch.appointment_id == name and watch.organizer == "rita@contoso.com"
        assert len(await tables.organizers.list()) == 3
        assert await tables.organizers.purge(self.A) == 1 and await tables.watches.purge(self.A) == 1
        assert await tables.organizers.purge(self.A) == 0 and await tables.watches.purge(self.A) == 0
        assert await views[1][0].get("rita@contoso.com") is None and await views[1][1].list("rita@contoso.com") == []
        for organizers, watches, name in (views[0], views[2]):
            found = await organizers.get("rita@contoso.com")
            assert found is not None and found.subscription_id == name
            assert [w.appointment_id for w in await watches.list("rita@contoso.com")] == [name]
