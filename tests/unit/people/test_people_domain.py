"""The signed connect state (signature, expiry, rotation, constant-time compare) and the AES-GCM cipher of the
token caches (round trip, rotation, binding to the row)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.people.cipher import TokenCipher, Unreadable
from shared.domain.people.connections import allowed_return_url, authorize_error, refusal_reason, with_query
from shared.domain.people.signing import SignedToken, TokenRejected

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)
K1, K2 = bytes(range(32)), bytes(range(1, 33))


class TestSignedState:
    def test_a_state_verifies_until_it_expires(self) -> None:
        signer = SignedToken([K1], "connect state")
        token = signer.sign({"n": "abc"}, expires=NOW + timedelta(minutes=10))
        assert signer.verify(token, NOW + timedelta(minutes=9))["n"] == "abc"
        with pytest.raises(TokenRejected) as refused:
            signer.verify(token, NOW + timedelta(minutes=10))
        assert refused.value.code == "state_expired"

    def test_an_altered_state_is_refused(self) -> None:
        signer = SignedToken([K1], "connect state")
        body, _, signature = signer.sign({"n": "abc"}, expires=NOW + timedelta(minutes=10)).partition(".")
        forged = SignedToken([K1], "connect state").sign({"n": "xyz"}, expires=NOW + timedelta(minutes=10))
        for bad in (f"{forged.split('.')[0]}.{signature}", f"{body}.{signature[:-2]}AA", body, "", "a.b.c"):
            with pytest.raises(TokenRejected) as refused:
                signer.verify(bad, NOW)
            assert refused.value.code == "state_invalid"

    def test_the_purpose_and_the_key_are_part_of_the_signature(self) -> None:
        token = SignedToken([K1], "connect state").sign({"n": "abc"}, expires=NOW + timedelta(minutes=1))
        for other in (SignedToken([K1], "reconnect link"), SignedToken([K2], "connect state")):
            with pytest.raises(TokenRejected):
                other.verify(token, NOW)

    def test_after_a_rotation_the_old_key_still_verifies_and_the_new_one_signs(self) -> None:
        old = SignedToken([K1], "connect state").sign({"n": "a"}, expires=NOW + timedelta(minutes=1))
        rotated = SignedToken([K2, K1], "connect state")
        assert rotated.verify(old, NOW)["n"] == "a"
        with pytest.raises(TokenRejected):
            SignedToken([K1], "connect state").verify(rotated.sign({"n": "b"}, expires=NOW + timedelta(minutes=1)),
                                                      NOW)


class TestTokenCipher:
    @given(st.binary(max_size=4096), st.emails())
    def test_round_trip(self, plaintext: bytes, user: str) -> None:
        cipher = TokenCipher([K1])
        assert cipher.open(cipher.seal(plaintext, bound_to=user), bound_to=user) == plaintext

    def test_a_cache_does_not_open_on_another_persons_row(self) -> None:
        cipher = TokenCipher([K1])
        sealed = cipher.seal(b"cache", bound_to="anna@contoso.com")
        with pytest.raises(Unreadable):
            cipher.open(sealed, bound_to="ben@contoso.com")

    def test_an_altered_value_does_not_open(self) -> None:
        cipher = TokenCipher([K1])
        sealed = cipher.seal(b"cache", bound_to="a")
        flipped = sealed[:-3] + ("A" if sealed[-3] != "A" else "B") + sealed[-2:]
        with pytest.raises(Unreadable):
            cipher.open(flipped, bound_to="a")

    def test_rotation_the_first_key_seals_any_key_opens_and_old_values_are_due_for_resealing(self) -> None:
        old = TokenCipher([K1]).seal(b"cache", bound_to="a")
        rotated = TokenCipher([K2, K1])
        assert rotated.open(old, bound_to="a") == b"cache"
        assert not rotated.is_current(old)
        assert rotated.is_current(rotated.seal(b"cache", bound_to="a"))
        with pytest.raises(Unreadable):
            TokenCipher([K2]).open(old, bound_to="a")

    def test_keys_must_be_32_bytes(self) -> None:
        with pytest.raises(ValueError):
            TokenCipher([b"short"])


class TestReturnUrlsAndErrors:
    @pytest.mark.parametrize(("url", "allowed"), [
        ("https://ebms.example.com/settings?x=1", True),
        ("https://ebms.example.com.evil.com/", False),
        ("https://evil.com/https://ebms.example.com/", False),
        ("javascript:alert(1)", False),
        ("https://ebms.example.com/a#frag", False),
        ("https://ebms.example.com/a\r\nLocation: x", False),
        (None, False),
    ])
    def test_only_configured_prefixes_are_allowed(self, url: object, allowed: bool) -> None:
        assert allowed_return_url(url, ("https://ebms.example.com/",)) is allowed

    def test_query_parameters_are_added_to_an_existing_query(self) -> None:
        assert with_query("https://a.example/x?y=1", {"connection": "connected"}) == \
            "https://a.example/x?y=1&connection=connected"

    @pytest.mark.parametrize(("error", "description", "code"), [
        ("consent_required", "AADSTS65001: The user or administrator has not consented", "consent_required"),
        ("access_denied", "AADSTS90094: The grant requires admin permission.", "consent_required"),
        ("access_denied", "AADSTS65004: User declined to consent", "access_denied"),
        ("invalid_grant", "AADSTS54005: already redeemed", "sign_in_failed"),
    ])
    def test_entra_errors_map_onto_the_browsers_codes(self, error: str, description: str, code: str) -> None:
        assert authorize_error(error, description) == code

    def test_a_refusal_names_its_aadsts_code_and_meaning(self) -> None:
        assert refusal_reason("invalid_grant", "AADSTS50173: The provided grant has expired") == \
            "AADSTS50173: the refresh token was revoked (password changed or sessions revoked)"
        assert refusal_reason("invalid_grant", "AADSTS9999: new") == "invalid_grant (AADSTS9999)"
