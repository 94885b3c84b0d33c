from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.domain.credentials.policy import (
    AppCredential,
    RotationPolicy,
    credentials_to_retire,
    days_left,
    display_name_for,
    identify_in_use,
    next_rotation,
    rotation_due,
    warning_due,
)

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
POLICY = RotationPolicy(days_before=30, lifetime_days=180, grace_hours=24)
OURS = display_name_for(NOW)


def password(key: str, *, start_days: float, end_days: float | None, ours: bool = True) -> AppCredential:
    return AppCredential(key, "password", OURS if ours else "portal", NOW + timedelta(days=start_days),
                         None if end_days is None else NOW + timedelta(days=end_days))


class TestRotationDue:
    @pytest.mark.parametrize("days,due", [(31, False), (30, True), (1, True), (-3, True)])
    def test_due_within_the_configured_days_before_expiry(self, days: int, due: bool) -> None:
        assert rotation_due(NOW + timedelta(days=days), NOW, POLICY) is due

    def test_a_credential_that_never_expires_is_never_due(self) -> None:
        assert rotation_due(None, NOW, POLICY) is False
        assert next_rotation(None, POLICY) is None and days_left(None, NOW) is None

    def test_next_rotation_and_days_left(self) -> None:
        end = NOW + timedelta(days=100, hours=3)
        assert next_rotation(end, POLICY) == end - timedelta(days=30)
        assert days_left(end, NOW) == 100
        assert days_left(NOW - timedelta(hours=1), NOW) == -1


class TestWarnings:
    def test_no_warning_earlier_than_sixty_days_before_expiry(self) -> None:
        assert not warning_due(NOW + timedelta(days=61), NOW, None, POLICY)
        assert warning_due(NOW + timedelta(days=60), NOW, None, POLICY)

    def test_once_a_day(self) -> None:
        end = NOW + timedelta(days=10)
        assert not warning_due(end, NOW, NOW - timedelta(hours=2), POLICY)
        assert warning_due(end, NOW, NOW - timedelta(days=1), POLICY)

    def test_after_expiry_the_warning_goes_on(self) -> None:
        assert warning_due(NOW - timedelta(days=2), NOW, NOW - timedelta(days=1), POLICY)


class TestWhatToRetire:
    def test_older_ones_of_ours_go_after_the_grace_period(self) -> None:
        old = password("old", start_days=-170, end_days=10)
        new = password("new", start_days=-0.5, end_days=180)
        assert credentials_to_retire([old, new], new, NOW, POLICY) == []
        settled = password("new", start_days=-1.5, end_days=180)
        assert credentials_to_retire([old, settled], settled, NOW, POLICY) == [old]

    def test_revoke_old_removes_them_at_once(self) -> None:
        old = password("old", start_days=-170, end_days=10)
        new = password("new", start_days=0, end_days=180)
        assert credentials_to_retire([old, new], new, NOW, POLICY, revoke_old=True) == [old]

    def test_a_secret_a_person_added_is_never_removed(self) -> None:
        theirs = password("portal", start_days=-300, end_days=-1, ours=False)
        new = password("new", start_days=-5, end_days=180)
        assert credentials_to_retire([theirs, new], new, NOW, POLICY, revoke_old=True) == []

    def test_revoke_old_removes_the_previous_one_in_use_even_a_persons(self) -> None:
        theirs = password("portal", start_days=-300, end_days=60, ours=False)
        unrelated = password("other", start_days=-300, end_days=60, ours=False)
        new = password("new", start_days=0, end_days=180)
        both = [theirs, unrelated, new]
        assert credentials_to_retire(both, new, NOW, POLICY, revoke_old=True, previous=theirs) == [theirs]
        assert credentials_to_retire(both, new, NOW, POLICY, previous=theirs) == []  # the timer: never a person's
        assert credentials_to_retire(both, theirs, NOW, POLICY, revoke_old=True, previous=theirs) == []

    def test_an_expired_one_of_ours_goes_at_once(self) -> None:
        expired = password("expired", start_days=-200, end_days=-1)
        new = password("new", start_days=0, end_days=180)
        assert credentials_to_retire([expired, new], new, NOW, POLICY) == [expired]

    def test_a_newer_one_goes_only_as_an_orphan_after_the_grace_period(self) -> None:
        in_use = password("in-use", start_days=-100, end_days=80)
        fresh = password("fresh", start_days=-0.1, end_days=180)  # another instance may be storing it now
        orphan = password("orphan", start_days=-3, end_days=180)
        assert credentials_to_retire([in_use, fresh, orphan], in_use, NOW, POLICY) == [orphan]

    def test_nothing_goes_while_the_credential_in_use_is_unknown(self) -> None:
        assert credentials_to_retire([password("a", start_days=-300, end_days=-1)], None, NOW, POLICY) == []

    def test_other_kinds_are_left_alone(self) -> None:
        cert = AppCredential("cert", "certificate", OURS, NOW - timedelta(days=300), NOW - timedelta(days=1))
        new = password("new", start_days=-5, end_days=180)
        assert credentials_to_retire([cert, new], new, NOW, POLICY) == []


class TestIdentifyInUse:
    def test_by_the_key_id_tag(self) -> None:
        a, b = password("A-1", start_days=-1, end_days=1), password("b", start_days=-1, end_days=1)
        assert identify_in_use([a, b], key_id="a-1") == a

    def test_by_a_unique_hint_when_untagged(self) -> None:
        a = AppCredential("a", "password", hint="abc")
        b = AppCredential("b", "password", hint="xyz")
        assert identify_in_use([a, b], key_id=None, secret_hint="abc~rest") == a
        assert identify_in_use([a, AppCredential("c", "password", hint="abc")], key_id=None, secret_hint="abc") is None
