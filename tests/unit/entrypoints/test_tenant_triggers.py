"""The tenant triggers as the worker calls them: the registry under manage/tenants and the consent callback."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

from entrypoints.tenants import (
    manage_tenant,
    manage_tenant_consent_url,
    manage_tenants,
    tenant_consent_callback,
)
from tests.fakes.operator import READER_TOKEN
from tests.unit.entrypoints.conftest import Stage, request, user_function

A = "0a0b0c0d-1111-4222-8333-444455556666"
BODY = json.dumps({"displayName": "Contoso", "sources": ["https://planning.example.com/contoso"],
                   "credential": {"kind": "secret", "secretName": "contoso-graph"}}).encode()


async def test_an_operator_registers_lists_stops_and_purges_a_tenant(stage: Stage) -> None:
    tenant = user_function(manage_tenant)
    put = await tenant(request("PUT", f"/api/manage/tenants/{A}", BODY, route_params={"tenantId": A}))
    assert put.status_code == 201
    listed = json.loads((await user_function(manage_tenants)(request("GET", "/api/manage/tenants"))).get_body())
    assert [t["tenantId"] for t in listed["value"]][-1] == A
    stopped = await tenant(request("DELETE", f"/api/manage/tenants/{A}", route_params={"tenantId": A}))
    assert json.loads(stopped.get_body())["state"] == "stopped"
    typo = await tenant(request("DELETE", f"/api/manage/tenants/{A}", params={"purge": "yes"},
                                route_params={"tenantId": A}))
    assert typo.status_code == 400
    purged = await tenant(request("DELETE", f"/api/manage/tenants/{A}", params={"purge": "true"},
                                  route_params={"tenantId": A}))
    assert json.loads(purged.get_body())["purge"]["stores"] == [
        "mappings", "deadletters", "rooms", "reservations", "organizers", "appointmentwatch", "connections", "waiting",
        "breakers", "drift", "ownwrites", "credentials",
        "users", "eventlog", "outbox", "tenants"]
    gone = await tenant(request("GET", f"/api/manage/tenants/{A}", route_params={"tenantId": A}))
    assert gone.status_code == 404


async def test_a_reader_may_look_but_not_register(stage: Stage) -> None:
    refused = await user_function(manage_tenant)(request("PUT", f"/api/manage/tenants/{A}", BODY,
                                                         route_params={"tenantId": A}, token=READER_TOKEN))
    assert refused.status_code == 403


async def test_the_consent_round_trip_through_the_triggers(stage: Stage) -> None:
    await user_function(manage_tenant)(request("PUT", f"/api/manage/tenants/{A}", BODY, route_params={"tenantId": A}))
    link = await user_function(manage_tenant_consent_url)(request("GET", f"/api/manage/tenants/{A}/consent-url",
                                                                  route_params={"tenantId": A}))
    state = parse_qs(urlsplit(json.loads(link.get_body())["url"]).query)["state"][0]
    page = await user_function(tenant_consent_callback)(request(
        "GET", "/api/tenants/consent-callback", params={"admin_consent": "True", "tenant": A, "state": state},
        token=None))
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert page.headers["Content-Security-Policy"] == "default-src 'none'"
    assert page.headers.get("Location") is None
    shown = await user_function(manage_tenant)(request("GET", f"/api/manage/tenants/{A}",
                                                       route_params={"tenantId": A}))
    assert json.loads(shown.get_body())["consent"]["status"] == "granted"


async def test_a_callback_without_a_valid_state_is_400(stage: Stage) -> None:
    page = await user_function(tenant_consent_callback)(request(
        "GET", "/api/tenants/consent-callback", params={"admin_consent": "True", "tenant": A}, token=None))
    assert page.status_code == 400
