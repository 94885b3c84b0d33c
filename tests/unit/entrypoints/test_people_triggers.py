"""The people triggers, called as the worker calls them: start, Entra's callback (form post and query), status,
forget and the operator's list."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from entrypoints import people
from shared.config import PeopleSettings
from tests.unit.entrypoints.conftest import Stage, request, user_function

RETURN = "http://127.0.0.1:7071/done"


def _people(stage: Stage) -> None:
    from dataclasses import replace

    settings = stage.container.settings
    stage.container.settings = replace(settings, people=PeopleSettings(token_keys=(bytes(32),),
                                                                       return_urls=("http://127.0.0.1:7071/",)))


async def _call(trigger: Any, req: Any) -> Any:
    return await user_function(trigger)(req)


async def test_connect_status_forget_and_list(stage: Stage) -> None:
    _people(stage)
    started = await _call(people.connections_start, request(
        "POST", "/api/connections", json.dumps({"user": "anna@contoso.com", "returnUrl": RETURN}).encode()))
    assert started.status_code == 200
    state = dict(parse_qsl(urlsplit(json.loads(started.get_body())["authorizeUrl"]).query))["state"]
    form = urlencode({"code": "c1", "state": state}).encode()
    back = await _call(people.connections_callback, request(
        "POST", "/api/connections/callback", form, content_type="application/x-www-form-urlencoded", token=None))
    assert back.status_code == 302 and back.headers["Location"] == f"{RETURN}?connection=connected"
    got = await _call(people.connection, request("GET", "/api/connections/anna@contoso.com",
                                                 route_params={"email": "anna@contoso.com"}))
    assert json.loads(got.get_body())["state"] == "connected"
    listed = await _call(people.manage_connections, request("GET", "/api/manage/connections"))
    assert [c["user"] for c in json.loads(listed.get_body())["value"]] == ["anna@contoso.com"]
    gone = await _call(people.connection, request("DELETE", "/api/connections/anna@contoso.com",
                                                  route_params={"email": "anna@contoso.com"}))
    assert gone.status_code == 204


async def test_a_callback_without_state_is_a_problem_not_a_redirect(stage: Stage) -> None:
    _people(stage)
    answer = await _call(people.connections_callback, request("GET", "/api/connections/callback",
                                                              params={"code": "x"}, token=None))
    assert answer.status_code == 400 and answer.mimetype == "application/problem+json"


async def test_the_connection_routes_pass_the_tenant_parameter_on(stage: Stage) -> None:
    _people(stage)
    unknown = {"tenant": "33333333-3333-3333-3333-333333333333"}
    for method in ("GET", "DELETE"):
        answer = await _call(people.connection, request(method, "/api/connections/anna@contoso.com", params=unknown,
                                                        route_params={"email": "anna@contoso.com"}))
        assert answer.status_code == 404 and json.loads(answer.get_body())["parameter"] == "tenant"
    listed = await _call(people.manage_connections, request("GET", "/api/manage/connections",
                                                            params={"tenant": "not-a-tenant"}))
    assert listed.status_code == 400 and json.loads(listed.get_body())["parameter"] == "tenant"
