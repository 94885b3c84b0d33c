"""The app indexes as the Functions worker indexes it, and every HTTP route is documented."""

from __future__ import annotations

import json
from importlib import resources

import azure.functions as func
import pytest

import entrypoints._deps
import entrypoints.credentials
from tests.fakes.operator import OPERATOR_TOKEN, StaticOperatorAuth
from tests.support.functions import app_functions as _functions


def _routes() -> dict[str, str]:
    found = {}
    for function in _functions():
        for binding in function.get_raw_bindings():
            data = json.loads(binding)
            if data.get("type") == "httpTrigger":
                found[function.get_function_name()] = data.get("route") or function.get_function_name()
    return found


def test_no_function_name_or_route_begins_with_admin() -> None:
    for function in _functions():
        assert not function.get_function_name().lower().startswith("admin")
    assert not [route for route in _routes().values() if route.lower().lstrip("/").startswith("admin")]


def test_every_http_route_is_in_the_openapi_document() -> None:
    document = json.loads(resources.files("shared.schemas").joinpath("openapi.json").read_text())
    routes = _routes()
    assert routes.pop("unrouted") == "{*path}", "the catch-all answers 404/405 as problem+json"
    for route in routes.values():
        assert f"/api/{route}" in document["paths"], route


def test_the_sync_trigger_uses_sessions_on_the_planning_queue() -> None:
    [sync] = [f for f in _functions() if f.get_function_name() == "planning_sync"]
    [binding] = [json.loads(b) for b in sync.get_raw_bindings()]
    assert binding["type"] == "serviceBusTrigger" and binding["queueName"] == "planning-events"
    assert binding["isSessionsEnabled"] is True and binding["connection"] == "ServiceBusConnection"


async def test_rotation_refuses_a_revoke_old_that_is_neither_true_nor_false(monkeypatch: pytest.MonkeyPatch) -> None:
    class SignInOnly:  # the operator's sign-in is all the trigger may ask of the container before it refuses
        def operator_access(self) -> StaticOperatorAuth:
            return StaticOperatorAuth()

    async def provider() -> SignInOnly:
        return SignInOnly()

    monkeypatch.setattr(entrypoints._deps, "provider", provider)
    handler = entrypoints.credentials.manage_credentials_rotate._function.get_user_function()
    request = func.HttpRequest("POST", "/api/manage/credentials/rotate", params={"revokeOld": "yes please"}, body=b"",
                               headers={"authorization": f"Bearer {OPERATOR_TOKEN}"})
    response = await handler(request)
    assert (response.status_code, response.mimetype) == (400, "application/problem+json")
    assert b"revokeOld" in response.get_body()
