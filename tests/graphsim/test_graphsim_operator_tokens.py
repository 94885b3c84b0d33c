"""Operator tokens minted by the simulator (POST /_sim/operator-tokens), checked by the connector's adapter
against the simulator's JWKS over TLS, as the deployed app checks Entra's."""

from __future__ import annotations

import ssl
from typing import Any

import httpx
import pytest

from local.graphsim.server import RunningSimulator
from shared.adapters.operator_auth import EntraOperatorAuth
from shared.app.operator.access import admit
from shared.app.ports.operator import Principal
from shared.config import Settings

from .simdata import CLIENT_ID, TENANT

AUDIENCE = f"api://{CLIENT_ID}"


def mint(sim: RunningSimulator, **body: Any) -> str:
    body = {"audience": AUDIENCE, "roles": ["Connector.Operator"], "user": "ops@contoso.com"} | body
    response = httpx.post(f"{sim.base_url}/_sim/operator-tokens", json=body,
                          verify=ssl.create_default_context(cafile=str(sim.ca_path)))
    assert response.status_code == 201, response.text
    return str(response.json()["access_token"])


@pytest.fixture
def auth(sim: RunningSimulator) -> EntraOperatorAuth:
    settings = Settings.from_env({"CALENDAR_MSGRAPH_TENANT_GUID": TENANT, "CALENDAR_MSGRAPH_CLIENT_ID": CLIENT_ID,
                                  "CALENDAR_MSGRAPH_AUTH_ENDPOINT": sim.auth_endpoint,
                                  "SSL_CERT_FILE": str(sim.ca_path), "TableStorage": "UseDevelopmentStorage=true",
                                  "CONNECTOR_LOCAL_QUEUE_PATH": "unused"})
    return EntraOperatorAuth(tenant_id=settings.tenant_id, audiences=settings.operator_audiences,
                             issuers=settings.operator_issuers, auth_endpoint=settings.auth_endpoint,
                             ca_file=settings.ca_file, refetch_floor=0)


async def status(auth: EntraOperatorAuth, token: str | None, method: str) -> int:
    verdict = await admit(auth, f"Bearer {token}" if token else None, method)
    return 200 if isinstance(verdict, Principal) else verdict.status


async def test_an_operator_reads_and_writes(sim: RunningSimulator, auth: EntraOperatorAuth) -> None:
    token = mint(sim)
    assert [await status(auth, token, m) for m in ("GET", "POST", "PUT", "DELETE")] == [200] * 4
    v1 = mint(sim, version="1.0")
    assert await status(auth, v1, "POST") == 200
    await auth.close()


async def test_a_reader_reads_only(sim: RunningSimulator, auth: EntraOperatorAuth) -> None:
    token = mint(sim, roles=["Connector.Reader"])
    assert [await status(auth, token, m) for m in ("GET", "POST", "PUT", "DELETE")] == [200, 403, 403, 403]
    await auth.close()


@pytest.mark.parametrize("body", [
    {"audience": "https://graph.microsoft.com"},
    {"expiresIn": -300},
    {"signedBy": "stranger"},
    {"signedBy": "stranger", "kid": "unknown-kid"},
    {"kid": "unknown-kid"},
], ids=["wrong audience", "expired", "bad signature", "unknown kid", "unpublished kid"])
async def test_a_bad_token_is_401(sim: RunningSimulator, auth: EntraOperatorAuth, body: dict[str, Any]) -> None:
    assert await status(auth, mint(sim, **body), "GET") == 401
    await auth.close()


async def test_no_token_is_401(auth: EntraOperatorAuth) -> None:
    assert await status(auth, None, "GET") == 401
    await auth.close()
