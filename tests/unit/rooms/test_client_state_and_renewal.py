from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.domain.rooms import client_state, renewal

KEY = b"k" * 32
OTHER = b"o" * 32


class TestClientState:
    def test_a_minted_state_verifies_and_names_its_room(self) -> None:
        value = client_state.mint(KEY, "Room.Alpha@Contoso.com")
        assert len(value) <= client_state.MAX_LENGTH
        assert client_state.verify((KEY,), value) == "room.alpha@contoso.com"

    def test_each_subscription_gets_a_fresh_state(self) -> None:
        assert client_state.mint(KEY, "r@contoso.com") != client_state.mint(KEY, "r@contoso.com")

    @pytest.mark.parametrize("forged", [None, "", "secret", "r1~abc~def~r@contoso.com", 42, "x" * 500])
    def test_forged_states_do_not_verify(self, forged: object) -> None:
        assert client_state.verify((KEY,), forged) is None

    def test_another_key_or_another_room_does_not_verify(self) -> None:
        value = client_state.mint(KEY, "r@contoso.com")
        assert client_state.verify((OTHER,), value) is None
        assert client_state.verify((KEY,), value.replace("r@contoso.com", "s@contoso.com")) is None

    def test_a_rotated_key_still_verifies_old_states(self) -> None:
        value = client_state.mint(OTHER, "r@contoso.com")
        assert client_state.verify((KEY, OTHER), value) == "r@contoso.com"

    def test_a_mailbox_too_long_for_graph_is_refused(self) -> None:
        with pytest.raises(client_state.ClientStateError):
            client_state.mint(KEY, "x" * 100 + "@contoso.com")

    def test_an_old_format_state_still_verifies_as_the_default_tenants(self) -> None:
        # Minted before there were tenants: r1~nonce~mac~mailbox, the MAC over version, nonce and mailbox.
        nonce = "AAAAAAAAAAAAAAAA"
        mac = client_state._mac(KEY, nonce, "r@contoso.com", "r1")
        old = f"r1~{nonce}~{mac}~r@contoso.com"
        assert client_state.identify((KEY,), old) == ("room", "r@contoso.com", None)
        assert client_state.verify((KEY,), old) == "r@contoso.com"
        assert client_state.mint(KEY, "r@contoso.com", nonce) == old  # the default tenant's are minted so still

    def test_a_tenants_state_carries_its_tenant_inside_the_mac(self) -> None:
        tenant = "5f0c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e2f"
        value = client_state.mint(KEY, "Boss@Fabrikam.com", kind=client_state.ORGANIZER, tenant=tenant)
        assert len(value) <= client_state.MAX_LENGTH and tenant not in value
        assert client_state.identify((KEY,), value) == ("organizer", "boss@fabrikam.com", tenant)
        other = client_state.mint(KEY, "boss@fabrikam.com", tenant="6f0c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e2f")
        moved = value.replace(value.split("~")[3], other.split("~")[3])  # another tenant, this MAC
        assert client_state.identify((KEY,), moved) is None
        assert client_state.identify((KEY,), value.replace("o2~", "o1~", 1)) is None
        assert client_state.verify((KEY,), value) is None  # an organizer's, not a room's

    def test_a_tenants_room_keeps_room_for_a_long_mailbox(self) -> None:
        tenant = "5f0c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e2f"
        mailbox = "x" * 50 + "@contoso.com"
        assert client_state.identify((KEY,), client_state.mint(KEY, mailbox, tenant=tenant)) == (
            "room", mailbox, tenant)


class TestRenewal:
    now = datetime(2026, 5, 1, tzinfo=UTC)

    def test_expiry_asked_for_stays_within_graphs_maximum(self) -> None:
        assert renewal.next_expiry(self.now) - self.now < timedelta(minutes=10_080)

    def test_a_fresh_subscription_is_not_due(self) -> None:
        assert not renewal.due_for_renewal(renewal.next_expiry(self.now), self.now)

    def test_less_than_half_the_lifetime_left_is_due(self) -> None:
        expires = renewal.next_expiry(self.now)
        assert renewal.due_for_renewal(expires, self.now + renewal.LIFETIME / 2 + timedelta(minutes=1))

    def test_expired_is_due_and_expired(self) -> None:
        assert renewal.due_for_renewal(self.now, self.now)
        assert renewal.expired(self.now, self.now)
