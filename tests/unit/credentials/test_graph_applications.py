"""The applications adapter's requests, answers and error mapping, through httpx.MockTransport."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest
from azure.core.credentials import AccessToken

from shared.adapters.graph.applications import GraphApplicationGateway
from shared.config import Settings
from shared.errors import Forbidden, RejectedByGraph

SETTINGS = Settings(client_id="11111111-2222-3333-4444-555555555555", graph_endpoint="https://graph.test/v1.0")


class Tokens:
    def __init__(self) -> None:
        self.issued = 0
        self.invalidated = 0

    async def get_token(self, *scopes: str) -> AccessToken:
        self.issued += 1
        return AccessToken(f"token-{self.issued}", 4102444800)

    async def invalidate(self, refused: str | None = None) -> None:
        assert refused == f"token-{self.issued}"  # the token Graph refused
        self.invalidated += 1


def gateway(handler, tokens: Tokens | None = None) -> GraphApplicationGateway:  # type: ignore[no-untyped-def]
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return GraphApplicationGateway(SETTINGS, tokens or Tokens(), http=http)


def error(status: int, code: str, message: str = "m") -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": message}})


async def test_the_registration_is_read_by_app_id_with_both_credential_lists() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={
            "id": "obj", "appId": SETTINGS.client_id,
            "passwordCredentials": [{"keyId": "k1", "displayName": "calendar-connector x", "hint": "abc",
                                     "startDateTime": "2026-01-01T00:00:00Z",
                                     "endDateTime": "2026-07-01T00:00:00.1234567Z"}],
            "keyCredentials": [{"keyId": "c1", "customKeyIdentifier": "UkmbUDikd54uIZBxXMI4NZ1Pj3M=",
                                "endDateTime": "2027-01-01T00:00:00Z"},
                               {"keyId": "c2", "customKeyIdentifier": "52ED9B5038A47B9E2E2190715CC238359D4F8F73"}],
        })
    app = await gateway(handler).get()
    assert seen[0].url.path == f"/v1.0/applications(appId='{SETTINGS.client_id}')"
    assert seen[0].headers["authorization"] == "Bearer token-1"
    [password] = app.passwords
    assert password.ours and password.end == datetime(2026, 7, 1, 0, 0, 0, 123456, tzinfo=UTC)
    # customKeyIdentifier as base64 of the thumbprint bytes, or as hex: the same hex either way.
    assert [k.thumbprint for k in app.keys] == ["52499B5038A4779E2E2190715CC238359D4F8F73",
                                                "52ED9B5038A47B9E2E2190715CC238359D4F8F73"]


async def test_add_password_sends_display_name_and_end_and_keeps_the_secret_out_of_repr() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        assert request.url.path.endswith("/addPassword")
        assert body == {"passwordCredential": {"displayName": "calendar-connector n",
                                               "endDateTime": "2027-01-01T00:00:00Z"}}
        return httpx.Response(200, json={"keyId": "new", "secretText": "s3cr3t-value", "hint": "s3c",
                                          "endDateTime": "2027-01-01T00:00:00Z"})
    new = await gateway(handler).add_password("calendar-connector n", datetime(2027, 1, 1, tzinfo=UTC))
    assert new.secret_text == "s3cr3t-value" and "s3cr3t-value" not in repr(new)


async def test_forbidden_names_the_permission_and_ownership_after_one_fresh_token() -> None:
    tokens = Tokens()
    with pytest.raises(Forbidden) as caught:
        await gateway(lambda r: error(403, "Authorization_RequestDenied"), tokens).remove_password("k")
    assert "Application.ReadWrite.OwnedBy" in str(caught.value) and "az ad app owner add" in str(caught.value)
    assert tokens.invalidated == 1 and tokens.issued == 2


async def test_a_refused_token_is_renewed_once() -> None:
    answers = iter([error(401, "InvalidAuthenticationToken"), httpx.Response(204)])
    tokens = Tokens()
    await gateway(lambda r: next(answers), tokens).remove_password("k")
    assert tokens.invalidated == 1


async def test_a_refused_proof_is_rejected_not_retried() -> None:
    tokens = Tokens()
    with pytest.raises(RejectedByGraph, match="proof"):
        await gateway(lambda r: error(401, "Authentication_MissingOrMalformed"), tokens).remove_key("k", "jwt")
    assert tokens.invalidated == 0
