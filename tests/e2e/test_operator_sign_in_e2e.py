"""Operators sign in with Entra access tokens (minted here by the Graph simulator, checked by the app against
its JWKS); the master key stays the host's, for its admin API, and opens no operator route."""

from __future__ import annotations

import pytest

from local.stack import LocalStack

pytestmark = pytest.mark.e2e


def call(stack: LocalStack, method: str, path: str, token: str | None = None, key: str | None = None) -> int:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    if key:
        headers["x-functions-key"] = key
    with stack.client() as client:
        return client.request(method, path, headers=headers).status_code


def test_an_operator_writes_and_a_reader_only_reads(stack: LocalStack) -> None:
    operator, reader = stack.operator_token(), stack.operator_token(roles=("Connector.Reader",))
    path = "/api/manage/resources/worker42@contoso.com"
    assert call(stack, "GET", "/api/manage/deadletters", reader) == 200
    assert call(stack, "GET", "/api/manage/doctor", reader) == 200
    with stack.client() as client:
        refused = client.put(path, json={"active": False}, headers={"authorization": f"Bearer {reader}"})
        assert refused.status_code == 403 and refused.headers["content-type"].startswith("application/problem+json")
        done = client.put(path, json={"active": True}, headers={"authorization": f"Bearer {operator}"})
        assert done.status_code == 200


@pytest.mark.parametrize("claims", [{"audience": "https://graph.microsoft.com"}, {"expiresIn": -600},
                                    {"signedBy": "stranger"}, {"signedBy": "stranger", "kid": "rolled-key"}],
                         ids=["wrong audience", "expired", "bad signature", "unknown kid"])
def test_a_token_it_does_not_accept_is_401(stack: LocalStack, claims: dict[str, object]) -> None:
    token = stack.operator_token(**claims)
    with stack.client() as client:
        response = client.get("/api/manage/deadletters", headers={"authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer ")


def test_the_master_key_runs_the_host_and_is_no_operator(stack: LocalStack) -> None:
    assert stack.host is not None
    assert call(stack, "GET", "/admin/host/status", key=stack.host.master_key) == 200
    assert call(stack, "GET", "/api/manage/deadletters", key=stack.host.master_key) == 401
    assert call(stack, "GET", "/api/manage/deadletters", key=stack.host.function_key) == 401
    assert call(stack, "GET", "/api/manage/deadletters") == 401
