"""Every operator route is anonymous at the host and admits an Entra access token with an app role instead:
Connector.Operator for everything, Connector.Reader for reading; 401 without a token the connector accepts,
403 without the role. The master key is the host's, for its own admin API, and opens no operator route."""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func
import pytest

from entrypoints._operator import GUARD_MARK
from tests.fakes.operator import NO_ROLE_TOKEN, READER_TOKEN, StaticOperatorAuth
from tests.support.functions import app_functions
from tests.unit.entrypoints.conftest import Stage, request

ROUTE_PARAMS = {"email": "room1@contoso.com", "id": "dl-1", "tenantId": "0f0e0d0c-0b0a-4908-8706-050403020100"}


def operator_routes() -> list[tuple[str, str, Any]]:
    """(function name, route, function) of every HTTP function under manage/."""
    routes = []
    for fn in app_functions():
        [trigger] = [b for b in fn.get_bindings() if b.type == "httpTrigger"] or [None]
        if trigger is not None and (trigger.route or "").lower().startswith("manage/"):
            routes.append((fn.get_function_name(), trigger, fn))
    return routes


def calls() -> list[tuple[str, str, str, Any]]:
    return [(name, method.upper() if isinstance(method, str) else method.value, trigger.route,
             fn.get_user_function()) for name, trigger, fn in operator_routes() for method in trigger.methods]


def url(route: str) -> str:
    for name, value in ROUTE_PARAMS.items():
        route = route.replace("{" + name + "}", value)
    return "/api/" + route


def test_every_operator_route_is_anonymous_at_the_host_and_guarded_in_the_app() -> None:
    routes = operator_routes()
    assert len(routes) >= 12
    for name, trigger, fn in routes:
        assert str(trigger.auth_level.value if hasattr(trigger.auth_level, "value") else trigger.auth_level).lower() \
            == "anonymous", f"{name}: the host would refuse a bearer token without a key"
        assert getattr(fn.get_user_function(), GUARD_MARK, False), f"{name} is not behind manage_route"


@pytest.mark.parametrize(("name", "method", "route", "handler"), calls(), ids=lambda v: v if isinstance(v, str) else "")
class TestEveryOperatorRoute:
    async def test_no_token_is_401_with_a_bearer_challenge(self, stage: Stage, name: str, method: str, route: str,
                                                           handler: Any) -> None:
        response = await handler(request(method, url(route), route_params=ROUTE_PARAMS, token=None))
        assert (response.status_code, response.mimetype) == (401, "application/problem+json")
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="calendar-connector"'

    async def test_a_token_it_does_not_accept_is_401_invalid_token(self, stage: Stage, name: str, method: str,
                                                                   route: str, handler: Any) -> None:
        response = await handler(request(method, url(route), route_params=ROUTE_PARAMS, token="forged"))
        assert response.status_code == 401
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
        assert "forged" not in response.get_body().decode()

    async def test_a_token_without_a_role_is_403(self, stage: Stage, name: str, method: str, route: str,
                                                 handler: Any) -> None:
        response = await handler(request(method, url(route), route_params=ROUTE_PARAMS, token=NO_ROLE_TOKEN))
        assert (response.status_code, response.mimetype) == (403, "application/problem+json")

    async def test_a_reader_reads_and_changes_nothing(self, stage: Stage, name: str, method: str, route: str,
                                                      handler: Any) -> None:
        response = await handler(request(method, url(route), route_params=ROUTE_PARAMS, token=READER_TOKEN))
        if method == "GET":
            assert response.status_code not in (401, 403)
        else:
            assert response.status_code == 403
            assert "Connector.Operator" in json.loads(response.get_body())["detail"]

    async def test_the_master_key_alone_is_not_an_operator(self, stage: Stage, name: str, method: str, route: str,
                                                           handler: Any) -> None:
        req = func.HttpRequest(method, url(route), body=b"", route_params=ROUTE_PARAMS,
                               headers={"x-functions-key": "the-master-key"}, params={"code": "the-master-key"})
        assert (await handler(req)).status_code == 401


async def test_an_operator_writes(stage: Stage) -> None:
    from entrypoints.operator import manage_resource

    put = await manage_resource._function.get_user_function()(request(
        "PUT", "/api/manage/resources/anna@contoso.com", b'{"active": false}',
        route_params={"email": "anna@contoso.com"}))
    assert put.status_code == 200


async def test_the_token_is_checked_before_the_use_case_runs(stage: Stage) -> None:
    from entrypoints.operator import manage_resource

    auth = stage.container.operator_access()
    assert isinstance(auth, StaticOperatorAuth)
    refused = await manage_resource._function.get_user_function()(request(
        "PUT", "/api/manage/resources/anna@contoso.com", b'{"active": false}',
        route_params={"email": "anna@contoso.com"}, token=READER_TOKEN))
    assert refused.status_code == 403 and auth.checked == 1
    assert await stage.container.resources().list() == []


async def test_unreadable_signing_keys_are_503_not_a_refusal(stage: Stage) -> None:
    from entrypoints.operator import manage_deadletters
    from shared.bootstrap.lazy import Lazy
    from shared.errors import TransientError

    class KeysUnreachable(StaticOperatorAuth):
        async def verify(self, authorization: str | None) -> Any:
            raise TransientError("the tenant's signing keys cannot be read: ConnectError")

    stage.container.operator_auth = Lazy.given(KeysUnreachable())
    response = await manage_deadletters._function.get_user_function()(request("GET", "/api/manage/deadletters"))
    assert (response.status_code, response.mimetype) == (503, "application/problem+json")
