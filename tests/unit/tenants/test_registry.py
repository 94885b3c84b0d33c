"""The registry's use cases against the in-memory store: register, list, show, stop, purge, consent."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from shared.app.tenants import consent, registry
from shared.app.tenants.directory import RegisteredTenants
from shared.app.tenants.registry import TenantDeps
from shared.config import RoomSettings, Settings
from shared.domain.tenants.model import TenantId
from tests.fakes.tenants import InMemoryTenantStore

DEFAULT = "11111111-2222-3333-4444-555555555555"
A = "0a0b0c0d-1111-4222-8333-444455556666"
B = "9f8e7d6c-1111-4222-8333-444455556666"
KEY = b"a-client-state-key-of-enough-length"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 5, 1, 12, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class Recording:
    """A second purgeable store, as the isolation work will add."""

    purge_name = "mappings"

    def __init__(self) -> None:
        self.purged: list[str] = []

    async def purge(self, tenant_id: TenantId) -> int:
        self.purged.append(tenant_id)
        return 3


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store() -> InMemoryTenantStore:
    return InMemoryTenantStore()


@pytest.fixture
def extra() -> Recording:
    return Recording()


@pytest.fixture
def deps(store: InMemoryTenantStore, clock: Clock, extra: Recording) -> TenantDeps:
    settings = Settings(tenant_id=DEFAULT, client_id="c0ffee00-0000-4000-8000-000000000001",
                        rooms=RoomSettings(public_base_url="https://connector.example.com", client_state_keys=(KEY,)))
    return TenantDeps(settings=settings, store=store, nonces=store, purgeables=(store, extra), clock=clock)


def body(name: str = "Contoso", *sources: str) -> bytes:
    return json.dumps({"displayName": name, "sources": list(sources) or [f"https://planning.example.com/{name}"],
                       "credential": {"kind": "secret", "secretName": f"{name.split()[0].lower()}-graph"}}).encode()


async def listed(deps: TenantDeps) -> list[dict[str, Any]]:
    return (await registry.list_tenants(deps)).json()["value"]  # type: ignore[no-any-return]


class TestRegister:
    async def test_the_settings_tenant_is_listed_as_the_default_taking_every_source(self, deps: TenantDeps) -> None:
        [default] = await listed(deps)
        assert (default["tenantId"], default["default"], default["takesUnclaimedSources"]) == (DEFAULT, True, True)
        assert default["state"] == "active" and default["consent"]["status"] == "unknown"

    async def test_a_new_tenant_is_201_then_200_and_listed_after_the_default(self, deps: TenantDeps) -> None:
        assert (await registry.put_tenant(A, body("Contoso"), deps)).status == 201
        changed = await registry.put_tenant(A, body("Contoso Ltd", "https://planning.example.com/Contoso"), deps)
        assert changed.status == 200 and changed.json()["displayName"] == "Contoso Ltd"
        assert [t["tenantId"] for t in await listed(deps)] == [DEFAULT, A]

    async def test_a_source_of_another_tenant_is_409_naming_the_source_and_the_tenant(self, deps: TenantDeps) -> None:
        await registry.put_tenant(A, body("Contoso", "https://shared"), deps)
        refused = await registry.put_tenant(B, body("Fabrikam", "https://own", "https://shared"), deps)
        assert refused.status == 409
        assert (refused.json()["source"], refused.json()["tenantId"]) == ("https://shared", A)
        assert "https://shared" in refused.json()["detail"] and A in refused.json()["detail"]

    async def test_an_invalid_body_is_400_with_a_pointer(self, deps: TenantDeps) -> None:
        refused = await registry.put_tenant(A, b'{"displayName": "X", "credential": {"kind": "secret"}}', deps)
        assert (refused.status, refused.json()["pointer"]) == (400, "/credential/secretName")
        assert (await registry.put_tenant("not-a-guid", body(), deps)).status == 400
        assert (await registry.put_tenant(A, b"{", deps)).status == 400

    async def test_the_lookup_finds_a_tenant_by_source_and_by_id(self, deps: TenantDeps,
                                                                store: InMemoryTenantStore) -> None:
        await registry.put_tenant(A, body("Contoso", "https://contoso"), deps)
        lookup = RegisteredTenants(deps.settings, store)
        assert (await lookup.by_source("https://contoso")).id == A  # type: ignore[union-attr]
        assert (await lookup.by_source("https://unknown")).id == DEFAULT  # type: ignore[union-attr]
        assert (await lookup.by_id(A.upper())).display_name == "Contoso"  # type: ignore[union-attr]
        await registry.put_tenant(DEFAULT, body("Home", "https://home"), deps)
        assert await lookup.by_source("https://unknown") is None, "with sources of its own it takes no others"
        assert (await lookup.by_id(DEFAULT)).default  # type: ignore[union-attr]


class TestStopAndPurge:
    async def test_delete_stops_and_keeps_the_tenant(self, deps: TenantDeps, extra: Recording) -> None:
        await registry.put_tenant(A, body(), deps)
        stopped = await registry.delete_tenant(A, deps, purge=False)
        assert stopped.json() == {"tenantId": A, "state": "stopped", "purge": None}
        assert (await registry.get_tenant(A, deps)).json()["state"] == "stopped"
        assert extra.purged == []
        assert (await registry.put_tenant(A, body(), deps)).json()["state"] == "active", "a PUT starts it again"

    async def test_purge_empties_every_purgeable_store_and_records_it(self, deps: TenantDeps, extra: Recording,
                                                                      store: InMemoryTenantStore) -> None:
        await registry.put_tenant(A, body(), deps)
        purged = await registry.delete_tenant(A, deps, purge=True)
        assert purged.json()["purge"]["stores"] == ["tenants", "mappings"]
        assert extra.purged == [A] and await store.get(TenantId(A)) is None
        [record] = await store.purges()
        assert (record.tenant_id, record.stores) == (A, ("tenants", "mappings"))
        gone = await registry.get_tenant(A, deps)
        assert gone.status == 404 and "purged" in gone.json()["detail"]

    async def test_the_default_tenant_can_be_stopped_but_never_purged(self, deps: TenantDeps,
                                                                      extra: Recording) -> None:
        refused = await registry.delete_tenant(DEFAULT, deps, purge=True)
        assert refused.status == 409 and extra.purged == []
        assert (await registry.delete_tenant(DEFAULT, deps, purge=False)).status == 200
        [default] = await listed(deps)
        assert (default["state"], default["default"], default["takesUnclaimedSources"]) == ("stopped", True, True)

    async def test_an_unknown_tenant_is_404(self, deps: TenantDeps) -> None:
        assert (await registry.delete_tenant(A, deps, purge=True)).status == 404
        assert (await registry.get_tenant(A, deps)).status == 404


class TestConsent:
    async def link(self, deps: TenantDeps, tenant: str = A) -> dict[str, str]:
        reply = await consent.consent_url(tenant, deps)
        assert reply.status == 200, reply.body
        url = urlsplit(reply.json()["url"])
        assert url.path == f"/{tenant}/v2.0/adminconsent"
        return {k: v[0] for k, v in parse_qs(url.query).items()}

    async def test_the_link_is_entras_admin_consent_for_the_app(self, deps: TenantDeps) -> None:
        await registry.put_tenant(A, body(), deps)
        query = await self.link(deps)
        assert query["client_id"] == deps.settings.client_id
        assert query["scope"] == "https://graph.microsoft.com/.default"
        assert query["redirect_uri"] == "https://connector.example.com/api/tenants/consent-callback"

    async def test_consent_granted_is_recorded_once(self, deps: TenantDeps, clock: Clock) -> None:
        await registry.put_tenant(A, body(), deps)
        query = await self.link(deps)
        page = await consent.consent_callback({"admin_consent": "True", "tenant": A, "state": query["state"]}, deps)
        assert (page.status, page.content_type) == (200, "text/html")
        assert "Location" not in page.headers
        shown = (await registry.get_tenant(A, deps)).json()["consent"]
        assert (shown["status"], shown["at"]) == ("granted", clock.now.isoformat(timespec="seconds"))
        again = await consent.consent_callback({"admin_consent": "True", "tenant": A, "state": query["state"]},
                                               deps)
        assert again.status == 409

    async def test_a_refusal_is_recorded_with_entras_error(self, deps: TenantDeps) -> None:
        await registry.put_tenant(A, body(), deps)
        query = await self.link(deps)
        page = await consent.consent_callback({"error": "access_denied", "state": query["state"],
                                               "error_description": "<script>The admin canceled</script>"}, deps)
        assert page.status == 200 and b"<script>" not in page.body
        shown = (await registry.get_tenant(A, deps)).json()["consent"]
        assert (shown["status"], shown["error"]) == ("denied", "access_denied")

    async def test_an_expired_or_forged_state_records_nothing(self, deps: TenantDeps, clock: Clock) -> None:
        await registry.put_tenant(A, body(), deps)
        query = await self.link(deps)
        clock.now += timedelta(hours=2)
        expired = await consent.consent_callback({"admin_consent": "True", "tenant": A, "state": query["state"]},
                                                 deps)
        assert expired.status == 400 and b"expired" in expired.body
        forged = await consent.consent_callback({"admin_consent": "True", "tenant": A, "state": "v1.e30.AAAA"}, deps)
        assert forged.status == 400
        assert (await registry.get_tenant(A, deps)).json()["consent"]["status"] == "unknown"

    async def test_consent_from_another_organisation_is_not_recorded(self, deps: TenantDeps) -> None:
        await registry.put_tenant(A, body(), deps)
        query = await self.link(deps)
        page = await consent.consent_callback({"admin_consent": "True", "tenant": B, "state": query["state"]}, deps)
        assert page.status == 400
        assert (await registry.get_tenant(A, deps)).json()["consent"]["status"] == "unknown"

    async def test_the_default_tenant_consents_without_a_row_of_its_own(self, deps: TenantDeps) -> None:
        query = await self.link(deps, DEFAULT)
        await consent.consent_callback({"admin_consent": "True", "tenant": DEFAULT, "state": query["state"]}, deps)
        [default] = await listed(deps)
        assert (default["consent"]["status"], default["takesUnclaimedSources"]) == ("granted", True)

    async def test_no_link_for_an_unknown_tenant_or_without_a_signing_key(self, deps: TenantDeps) -> None:
        assert (await consent.consent_url(A, deps)).status == 404
        from dataclasses import replace

        unsigned = replace(deps, settings=replace(deps.settings, rooms=RoomSettings()))
        reply = await consent.consent_url(DEFAULT, unsigned)
        assert reply.status == 503 and "CONNECTOR_CLIENT_STATE_KEY" in reply.json()["detail"]


@pytest.mark.parametrize(("credential", "pointer"), [
    ({"kind": "secret", "secretName": "x", "rotateDaysBefore": 0}, "/credential/rotateDaysBefore"),
    ({"kind": "secret", "secretName": "x", "rotateDaysBefore": "30"}, "/credential/rotateDaysBefore"),
    ({"kind": "secret", "secretName": "x", "lifetimeDays": 731}, "/credential/lifetimeDays"),
    ({"kind": "secret", "secretName": "x", "lifetimeDays": True}, "/credential/lifetimeDays"),
    ({"kind": "secret", "secretName": "x", "rotateDaysBefore": 60, "lifetimeDays": 60}, "/credential/rotateDaysBefore"),
    ({"kind": "secret", "secretName": "x", "lifetimeDays": 20}, "/credential/lifetimeDays"),  # the settings' 30 days
    ({"kind": "federated", "lifetimeDays": 90}, "/credential/lifetimeDays"),
])
async def test_a_tenant_s_rotation_policy_is_validated_naming_the_field(deps: TenantDeps, credential: dict[str, Any],
                                                                       pointer: str) -> None:
    payload = json.dumps({"displayName": "Contoso", "credential": credential}).encode()
    reply = await registry.put_tenant(A, payload, deps)
    assert reply.status == 400 and json.loads(reply.body)["pointer"] == pointer


async def test_a_tenant_s_rotation_policy_is_kept_and_shown(deps: TenantDeps) -> None:
    payload = json.dumps({"displayName": "Contoso", "credential": {
        "kind": "certificate", "secretName": "contoso-cert", "rotateDaysBefore": 14, "lifetimeDays": 90}}).encode()
    assert (await registry.put_tenant(A, payload, deps)).status == 201
    shown = json.loads((await registry.get_tenant(A, deps)).body)["credential"]
    assert shown == {"kind": "certificate", "secretName": "contoso-cert", "rotateDaysBefore": 14, "lifetimeDays": 90}
