"""The Entra operator-token adapter, over an in-memory JWKS endpoint (httpx.MockTransport): what it accepts,
what it refuses and why, and how often it asks for the tenant's keys."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from shared.adapters.operator_auth import EntraOperatorAuth
from shared.config import Settings
from shared.errors import NotSignedIn, TransientError

TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT = "99999999-8888-7777-6666-555555555555"
AUTHORITY = "https://login.example.test"
SETTINGS = Settings.from_env({"CALENDAR_MSGRAPH_TENANT_GUID": TENANT, "CALENDAR_MSGRAPH_CLIENT_ID": CLIENT,
                              "CALENDAR_MSGRAPH_AUTH_ENDPOINT": AUTHORITY, "TableStorage": "UseDevelopmentStorage=true",
                              "CONNECTOR_LOCAL_QUEUE_PATH": "/tmp/q"})


class Tenant:
    """The tenant's signing keys, published at its JWKS address; counts the fetches."""

    def __init__(self) -> None:
        self.key, self.kid = rsa.generate_private_key(public_exponent=65537, key_size=2048), "key-1"
        self.fetches = 0
        self.down = False

    def handler(self, request: httpx.Request) -> httpx.Response:
        assert str(request.url) == f"{AUTHORITY}/{TENANT}/discovery/v2.0/keys"
        self.fetches += 1
        if self.down:
            return httpx.Response(503)
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key())) | {"kid": self.kid, "use": "sig"}
        return httpx.Response(200, json={"keys": [jwk]})

    def token(self, *, key: Any = None, kid: str | None = None, **claims: Any) -> str:
        now = int(time.time())
        body = {"aud": CLIENT, "iss": f"{AUTHORITY}/{TENANT}/v2.0", "tid": TENANT, "iat": now, "nbf": now,
                "exp": now + 3600, "oid": "oid-1", "preferred_username": "ops@contoso.com",
                "roles": ["Connector.Operator"]} | claims
        return jwt.encode({k: v for k, v in body.items() if v is not None}, key or self.key, algorithm="RS256",
                          headers={"kid": kid or self.kid})


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def tenant() -> Tenant:
    return Tenant()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def auth(tenant: Tenant, clock: Clock) -> EntraOperatorAuth:
    return EntraOperatorAuth(tenant_id=SETTINGS.tenant_id, audiences=SETTINGS.operator_audiences,
                             issuers=SETTINGS.operator_issuers, auth_endpoint=SETTINGS.auth_endpoint,
                             transport=httpx.MockTransport(tenant.handler), monotonic=clock)


async def refused(auth: EntraOperatorAuth, token: str) -> str:
    with pytest.raises(NotSignedIn) as caught:
        await auth.verify(f"Bearer {token}")
    assert token not in str(caught.value)
    return caught.value.reason


def test_the_default_audiences_are_the_client_id_and_its_app_id_uri() -> None:
    assert SETTINGS.operator_audiences == (CLIENT, f"api://{CLIENT}")
    given = Settings.from_env({"CONNECTOR_OPERATOR_AUDIENCE": "api://connector, x", "TableStorage":
                               "UseDevelopmentStorage=true", "CONNECTOR_LOCAL_QUEUE_PATH": "/tmp/q"})
    assert given.operator_audiences == ("api://connector", "x")


async def test_an_operator_token_is_accepted_with_its_roles(auth: EntraOperatorAuth, tenant: Tenant) -> None:
    principal = await auth.verify(f"Bearer {tenant.token()}")
    assert principal.roles == {"Connector.Operator"} and principal.name == "ops@contoso.com"
    await auth.verify(f"bearer {tenant.token(roles=['Connector.Reader'])}")
    assert tenant.fetches == 1, "the keys are cached"


async def test_a_v1_token_for_the_app_id_uri_is_accepted(auth: EntraOperatorAuth, tenant: Tenant) -> None:
    token = tenant.token(aud=f"api://{CLIENT}", iss=f"https://sts.windows.net/{TENANT}/", preferred_username=None,
                         upn="ops@contoso.com")
    assert (await auth.verify(f"Bearer {token}")).name == "ops@contoso.com"


async def test_an_app_only_token_names_the_calling_app(auth: EntraOperatorAuth, tenant: Tenant) -> None:
    token = tenant.token(preferred_username=None, azp="pipeline-app")
    assert (await auth.verify(f"Bearer {token}")).name == "pipeline-app"


@pytest.mark.parametrize(("claims", "reason"), [
    ({"aud": "https://graph.microsoft.com"}, "the token is for another audience"),
    ({"exp": -120}, "the token has expired"),  # exp and nbf: seconds from the moment the test runs
    ({"nbf": 600}, "the token is not valid yet"),
    ({"iss": "https://login.example.test/00000000-0000-0000-0000-000000000000/v2.0"},
     "the token is from another issuer"),
    ({"tid": "00000000-0000-0000-0000-000000000000"}, "the token is from another tenant"),
    ({"exp": None}, "the token is not valid"),
])
async def test_a_token_with_a_wrong_claim_is_refused(auth: EntraOperatorAuth, tenant: Tenant, claims: dict[str, Any],
                                                     reason: str) -> None:
    # Times are taken when the test runs, not at collection: the suite may run long before this test.
    now = int(time.time())
    claims = {k: now + v if k in ("exp", "nbf") and v is not None else v for k, v in claims.items()}
    assert await refused(auth, tenant.token(**claims)) == reason


async def test_a_token_signed_by_another_key_is_refused(auth: EntraOperatorAuth, tenant: Tenant) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert await refused(auth, tenant.token(key=stranger)) == "the token's signature does not verify"


async def test_an_unknown_key_id_refetches_the_keys_at_most_once_per_floor(auth: EntraOperatorAuth, tenant: Tenant,
                                                                          clock: Clock) -> None:
    await auth.verify(f"Bearer {tenant.token()}")
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    unknown = tenant.token(key=stranger, kid="key-2")
    assert await refused(auth, unknown) == "the token is signed with a key the tenant does not publish"
    assert tenant.fetches == 1, "right after a fetch a made-up kid costs nothing"
    clock.now += 301
    await refused(auth, unknown)
    await refused(auth, unknown)
    assert tenant.fetches == 2


async def test_a_rolled_key_is_found_by_refetching(auth: EntraOperatorAuth, tenant: Tenant, clock: Clock) -> None:
    await auth.verify(f"Bearer {tenant.token()}")
    tenant.key, tenant.kid = rsa.generate_private_key(public_exponent=65537, key_size=2048), "key-2"
    clock.now += 301
    assert (await auth.verify(f"Bearer {tenant.token()}")).roles == {"Connector.Operator"}


@pytest.mark.parametrize("header", [None, "", "Bearer", "Basic dXNlcjpwYXNz", "the-master-key"])
async def test_no_bearer_token_is_refused_without_fetching(auth: EntraOperatorAuth, tenant: Tenant,
                                                           header: str | None) -> None:
    with pytest.raises(NotSignedIn, match="no bearer token"):
        await auth.verify(header)
    assert tenant.fetches == 0


async def test_an_unsigned_or_symmetric_token_is_refused(auth: EntraOperatorAuth) -> None:
    for token in (jwt.encode({"aud": CLIENT}, "k" * 32, algorithm="HS256"), "e30.e30.", "not-a-jwt"):
        assert await refused(auth, token) in ("the token is not signed with RS256", "the token is not a JWT")


async def test_unreachable_keys_are_transient_until_first_fetched(auth: EntraOperatorAuth, tenant: Tenant,
                                                                  clock: Clock) -> None:
    tenant.down = True
    with pytest.raises(TransientError):
        await auth.verify(f"Bearer {tenant.token()}")
    tenant.down = False
    await auth.verify(f"Bearer {tenant.token()}")
    tenant.down, clock.now = True, clock.now + 13 * 3600
    await auth.verify(f"Bearer {tenant.token()}")  # stale keys, Entra down: the known keys still check


async def test_without_a_tenant_nobody_signs_in(tenant: Tenant) -> None:
    auth = EntraOperatorAuth(tenant_id=None, audiences=(), issuers=(), auth_endpoint=AUTHORITY,
                             transport=httpx.MockTransport(tenant.handler))
    with pytest.raises(NotSignedIn, match="not configured"):
        await auth.verify(f"Bearer {tenant.token()}")
