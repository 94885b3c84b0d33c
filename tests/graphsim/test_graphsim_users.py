"""Users, bearer-token enforcement, response headers and permissions."""

from __future__ import annotations

import ssl

import httpx

from local.graphsim.server import RunningSimulator

from .simdata import ALICE, BOB, TENANT, event_body, fetch_token

ALICE_ID = "0a1b2c3d-0000-4000-8000-00000000a11c"


async def test_a_user_is_found_by_id_and_by_upn_in_any_case(graph: httpx.AsyncClient) -> None:
    by_upn = await graph.get(f"/users/{ALICE.upper()}")
    by_id = await graph.get(f"/users/{ALICE_ID}")
    assert by_upn.status_code == by_id.status_code == 200
    assert by_upn.json()["id"] == by_id.json()["id"] == ALICE_ID
    assert by_upn.json()["userPrincipalName"] == ALICE
    assert by_upn.json()["mail"] == ALICE  # mail defaults to the UPN


async def test_users_are_filtered_by_mail_or_upn_with_select(graph: httpx.AsyncClient) -> None:
    by_mail = await graph.get("/users", params={"$filter": "mail eq 'robert@contoso.example'",
                                                "$select": "id,displayName"})
    assert by_mail.status_code == 200
    (user,) = by_mail.json()["value"]
    assert user.keys() == {"id", "displayName"} and user["displayName"] == "Bob Example"
    by_upn = await graph.get("/users", params={"$filter": f"userPrincipalName eq '{BOB}'"})
    assert [u["mail"] for u in by_upn.json()["value"]] == ["robert@contoso.example"]


async def test_an_unknown_user_is_request_resource_not_found(graph: httpx.AsyncClient) -> None:
    response = await graph.get("/users/nobody@contoso.example")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "Request_ResourceNotFound"


async def test_an_unknown_mailbox_is_error_invalid_user(graph: httpx.AsyncClient) -> None:
    for path in ("/users/nobody@contoso.example/events",
                 "/users/nobody@contoso.example/calendarView?startDateTime=2025-01-01T00:00:00Z"
                 "&endDateTime=2025-01-02T00:00:00Z"):
        response = await graph.get(path)
        assert response.status_code == 404
        error = response.json()["error"]
        assert error["code"] == "ErrorInvalidUser"
        assert error["message"] == "The requested user 'nobody@contoso.example' is invalid."


async def test_a_disabled_user_still_has_a_mailbox(
        sim: RunningSimulator, graph: httpx.AsyncClient, control: httpx.AsyncClient) -> None:
    put = await control.put("/users/former@contoso.example",
                            json={"displayName": "Former", "accountEnabled": False})
    assert put.json()["accountEnabled"] is False
    created = await graph.post("/users/former@contoso.example/events", json=event_body())
    assert created.status_code == 201
    selected = await graph.get("/users/former@contoso.example",
                               params={"$select": "accountEnabled"})
    assert selected.json()["accountEnabled"] is False


async def test_graph_rejects_requests_without_a_valid_token(
        sim: RunningSimulator, ssl_ctx: ssl.SSLContext) -> None:
    async with httpx.AsyncClient(base_url=sim.graph_endpoint, verify=ssl_ctx) as client:
        missing = await client.get(f"/users/{ALICE}")
        forged = await client.get(f"/users/{ALICE}", headers={"Authorization": "Bearer a.b.c"})
    for response in (missing, forged):
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "InvalidAuthenticationToken"
        assert response.headers["request-id"]


async def test_every_response_carries_request_ids_and_echoes_the_client_one(
        graph: httpx.AsyncClient) -> None:
    ok = await graph.get(f"/users/{ALICE}", headers={"client-request-id": "my-correlation"})
    failed = await graph.get("/users/nobody@contoso.example",
                             headers={"client-request-id": "other-correlation"})
    assert ok.headers["client-request-id"] == "my-correlation" and ok.headers["request-id"]
    inner = failed.json()["error"]["innerError"]
    assert inner["client-request-id"] == "other-correlation"
    assert inner["request-id"] == failed.headers["request-id"]
    assert inner["date"]


async def test_an_app_without_calendar_roles_is_denied_mailbox_access(
        sim: RunningSimulator, ssl_ctx: ssl.SSLContext) -> None:
    sim.state.add_app("user-only-app", "secret-2", TENANT, roles=["User.Read.All"])
    token = fetch_token(sim, ssl_ctx, client_id="user-only-app",
                        client_secret="secret-2").json()["access_token"]
    async with httpx.AsyncClient(base_url=sim.graph_endpoint, verify=ssl_ctx,
                                 headers={"Authorization": f"Bearer {token}"}) as client:
        events = await client.get(f"/users/{ALICE}/events")
        user = await client.get(f"/users/{ALICE}")
    assert events.status_code == 403
    assert events.json()["error"]["code"] == "ErrorAccessDenied"
    assert user.status_code == 200


async def test_the_request_log_lists_graph_calls_in_order(
        graph: httpx.AsyncClient, control: httpx.AsyncClient) -> None:
    await graph.get(f"/users/{ALICE}")
    await graph.get(f"/users/{ALICE}/events", params={"$top": "5"})
    log = (await control.get("/requests")).json()["value"]
    assert [(e["method"], e["path"], e["status"]) for e in log] == [
        ("GET", f"/v1.0/users/{ALICE}", 200), ("GET", f"/v1.0/users/{ALICE}/events", 200)]
    assert log[1]["mailbox"] == ALICE_ID and log[1]["query"] == "$top=5"
    assert (await control.delete("/requests")).status_code == 204
    assert (await control.get("/requests")).json()["value"] == []
