"""Pure tenant rules: what a tenant request may say, which tenant owns a source, the signed consent state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.domain.tenants.consent import InvalidConsentState, sign_consent_state, verify_consent_state
from shared.domain.tenants.model import (
    CredentialRef,
    Tenant,
    TenantId,
    TenantProblem,
    owner_of_source,
    parse_tenant,
    parse_tenant_id,
    source_conflicts,
)

A = "0a0b0c0d-1111-4222-8333-444455556666"
B = "9f8e7d6c-1111-4222-8333-444455556666"
NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)
KEY = b"a-client-state-key-of-enough-length"


def body(**overrides: Any) -> dict[str, Any]:
    return {"displayName": "Contoso", "sources": ["https://planning.example.com/contoso"],
            "credential": {"kind": "secret", "secretName": "contoso-graph-secret"}} | overrides


class TestTenantRequest:
    def test_a_complete_request_describes_the_tenant(self) -> None:
        tenant = parse_tenant(A.upper(), body())
        assert tenant == Tenant(TenantId(A), "Contoso", ("https://planning.example.com/contoso",),
                                CredentialRef("secret", "contoso-graph-secret"))

    @pytest.mark.parametrize("text", ["contoso.onmicrosoft.com", "", "0a0b0c0d11114222833344445555666",
                                      "urn:uuid:" + A, A + "0"])
    def test_the_tenant_id_must_be_a_guid(self, text: str) -> None:
        with pytest.raises(TenantProblem) as raised:
            parse_tenant_id(text)
        assert raised.value.pointer == "/tenantId"

    @pytest.mark.parametrize(("change", "pointer"), [
        ({"displayName": ""}, "/displayName"),
        ({"displayName": None}, "/displayName"),
        ({"sources": "https://one"}, "/sources"),
        ({"sources": ["https://one", "https://one"]}, "/sources/1"),
        ({"sources": ["has space"]}, "/sources/0"),
        ({"credential": None}, "/credential"),
        ({"credential": {"kind": "password", "secretName": "x"}}, "/credential/kind"),
        ({"credential": {"kind": "secret"}}, "/credential/secretName"),
        ({"credential": {"kind": "certificate", "secretName": "no_underscores"}}, "/credential/secretName"),
        ({"credential": {"kind": "secret", "secretName": "x" * 128}}, "/credential/secretName"),
        ({"credential": {"kind": "federated", "secretName": "x"}}, "/credential/secretName"),
        ({"credential": {"kind": "secret", "secretName": "x", "value": "s3cret"}}, "/credential/value"),
        ({"extra": 1}, "/extra"),
    ])
    def test_an_invalid_member_is_named(self, change: dict[str, Any], pointer: str) -> None:
        with pytest.raises(TenantProblem) as raised:
            parse_tenant(A, body(**change))
        assert raised.value.pointer == pointer
        assert "s3cret" not in str(raised.value)

    def test_a_federated_credential_names_no_secret(self) -> None:
        assert parse_tenant(A, body(credential={"kind": "federated"})).credential == CredentialRef("federated")


class TestSources:
    def test_a_source_another_tenant_has_is_a_conflict_naming_both(self) -> None:
        mine = parse_tenant(A, body(sources=["https://x", "https://shared"]))
        theirs = parse_tenant(B, body(sources=["https://shared"]))
        assert source_conflicts(mine, [theirs, mine]) == [("https://shared", theirs)]
        assert source_conflicts(mine, [mine]) == []

    def test_the_tenant_naming_a_source_owns_it_before_the_catch_all_default(self) -> None:
        default = Tenant(TenantId(A), "Default", default=True, catch_all=True)
        named = Tenant(TenantId(B), "Fabrikam", sources=("https://fabrikam",))
        assert owner_of_source([default, named], "https://fabrikam") is named
        assert owner_of_source([default, named], "https://anything-else") is default
        assert owner_of_source([named], "https://anything-else") is None


class TestConsentState:
    def test_a_state_names_its_tenant_and_nonce_until_it_expires(self) -> None:
        state = sign_consent_state(TenantId(A), "n-1", NOW, KEY)
        verified = verify_consent_state(state, [KEY], NOW + timedelta(minutes=59))
        assert (verified.tenant_id, verified.nonce) == (A, "n-1")
        with pytest.raises(InvalidConsentState, match="expired"):
            verify_consent_state(state, [KEY], NOW + timedelta(hours=1))

    def test_a_state_signed_with_another_key_or_changed_is_refused(self) -> None:
        state = sign_consent_state(TenantId(A), "n-1", NOW, KEY)
        with pytest.raises(InvalidConsentState, match="not issued"):
            verify_consent_state(state, [b"another-key-of-enough-length!!"], NOW)
        head, payload, mac = state.split(".")
        forged = sign_consent_state(TenantId(B), "n-1", NOW, b"attacker-key-of-enough-length")
        with pytest.raises(InvalidConsentState):
            verify_consent_state(f"{head}.{forged.split('.')[1]}.{mac}", [KEY], NOW)

    def test_any_of_the_rotated_keys_verifies(self) -> None:
        state = sign_consent_state(TenantId(A), "n-1", NOW, KEY)
        assert verify_consent_state(state, [b"the-new-key-of-enough-length!!", KEY], NOW).tenant_id == A

    @pytest.mark.parametrize("state", ["", "v1", "v1.a.b.c", "v2.abc.def", "v1.!!!.###", "x" * 2000])
    def test_a_malformed_state_is_refused(self, state: str) -> None:
        with pytest.raises(InvalidConsentState):
            verify_consent_state(state, [KEY], NOW)
