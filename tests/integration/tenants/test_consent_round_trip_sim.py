"""Onboarding through the consent callback against the simulator: the connector's link goes to Entra's
/adminconsent, the administrator's answer comes back to the callback and becomes the tenant's consent state, and
the tenant's tokens are issued from then on."""

from __future__ import annotations

import json
import ssl
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from local.graphsim.server import RunningSimulator
from shared.app.tenants import consent, registry
from shared.app.tenants.registry import TenantDeps
from shared.config import RoomSettings, Settings
from tests.fakes.tenants import InMemoryTenantStore

PUBLIC = "https://connector.example.com"
KEY = b"a-client-state-key-of-enough-length"


@pytest.fixture
def deps(simulator: RunningSimulator) -> Iterator[TenantDeps]:
    settings = Settings(tenant_id=next(iter(simulator.state.tenants())), client_id="client-1",
                        auth_endpoint=simulator.auth_endpoint,
                        rooms=RoomSettings(public_base_url=PUBLIC, client_state_keys=(KEY,)))
    store = InMemoryTenantStore()
    simulator.state.tenancy.multi_tenant("client-1", [PUBLIC + consent.CALLBACK_PATH])
    yield TenantDeps(settings=settings, store=store, nonces=store, purgeables=(store,),
                     clock=lambda: datetime.now(UTC))


def follow(simulator: RunningSimulator, url: str) -> dict[str, str]:
    """What the administrator's browser does: open the link, and land on the callback with Entra's answer."""
    with httpx.Client(verify=ssl.create_default_context(cafile=str(simulator.ca_path))) as client:
        response = client.get(url)
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == PUBLIC + consent.CALLBACK_PATH
    return {k: v[0] for k, v in parse_qs(location.query).items()}


def token_status(simulator: RunningSimulator, tenant: str) -> int:
    with httpx.Client(verify=ssl.create_default_context(cafile=str(simulator.ca_path))) as client:
        return client.post(f"{simulator.auth_endpoint}/{tenant}/oauth2/v2.0/token", data={
            "grant_type": "client_credentials", "client_id": "client-1", "client_secret": "secret-1",
            "scope": "https://graph.microsoft.com/.default"}).status_code


async def onboard(deps: TenantDeps, tenant: str) -> str:
    body = json.dumps({"displayName": "Fabrikam", "sources": [f"https://planning.example.com/{tenant}"],
                       "credential": {"kind": "secret", "secretName": "fabrikam-graph"}}).encode()
    assert (await registry.put_tenant(tenant, body, deps)).status == 201
    link = await consent.consent_url(tenant, deps)
    return str(link.json()["url"])


async def test_a_customer_administrator_consents_and_the_tenant_is_served(simulator: RunningSimulator,
                                                                          deps: TenantDeps) -> None:
    tenant = str(uuid.uuid4())
    simulator.state.tenancy.add_tenant(tenant)
    url = await onboard(deps, tenant)
    assert token_status(simulator, tenant) == 401, "no service principal before consent"
    answer = follow(simulator, url)
    page = await consent.consent_callback(answer, deps)
    assert page.status == 200 and b"Consent recorded" in page.body
    shown = (await registry.get_tenant(tenant, deps)).json()
    assert shown["consent"]["status"] == "granted"
    assert token_status(simulator, tenant) == 200
    assert (await consent.consent_callback(answer, deps)).status == 409, "the link's state is spent"


async def test_a_declined_consent_is_recorded_with_entras_error(simulator: RunningSimulator,
                                                                deps: TenantDeps) -> None:
    tenant = str(uuid.uuid4())
    simulator.state.tenancy.add_tenant(tenant)
    simulator.state.tenancy.answer_consent(tenant, "access_denied", "The admin canceled the request")
    answer = follow(simulator, await onboard(deps, tenant))
    assert (await consent.consent_callback(answer, deps)).status == 200
    shown = (await registry.get_tenant(tenant, deps)).json()["consent"]
    assert (shown["status"], shown["error"], shown["description"]) == (
        "denied", "access_denied", "The admin canceled the request")
    assert token_status(simulator, tenant) == 401
