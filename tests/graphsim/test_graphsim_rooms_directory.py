"""Users delta (disabled, soft and permanently deleted, new), /users paging, /places rooms."""

from __future__ import annotations

import ssl
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from local.graphsim.server import RunningSimulator

from .simdata import ALICE, BOB, CLIENT_ID, CLIENT_SECRET, TENANT, fetch_token

pytestmark = pytest.mark.asyncio


async def pages(graph: httpx.AsyncClient, url: str, **kw: Any) -> tuple[list[dict[str, Any]], dict]:
    items, response = [], await graph.get(url, **kw)
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["value"]
        if "@odata.nextLink" not in body:
            return items, body
        response = await graph.get(body["@odata.nextLink"])


async def test_users_delta_reports_disabled_removed_and_new_users(
        graph: httpx.AsyncClient, control: httpx.AsyncClient, sim: RunningSimulator) -> None:
    # Users outlive resets (the session shares one simulator), so this test uses its own.
    tag = uuid.uuid4().hex[:8]
    erin, frank, gina = (f"{n}-{tag}@contoso.example" for n in ("erin", "frank", "gina"))
    ids = {upn: sim.state.add_user(upn, display_name=upn)["id"] for upn in (erin, frank, gina)}
    first, last = await pages(graph, "/users/delta", params={
        "$select": "displayName,userPrincipalName,accountEnabled"},
        headers={"Prefer": "odata.maxpagesize=2"})
    assert {erin, frank, gina, ALICE, BOB} <= {u["userPrincipalName"] for u in first}
    assert set(first[0]) == {"displayName", "userPrincipalName", "accountEnabled", "id"}
    delta_link = last["@odata.deltaLink"]

    assert (await control.patch(f"/users/{erin}", json={"accountEnabled": False})).status_code == 200
    assert (await control.delete(f"/users/{frank}")).status_code == 204
    assert (await control.delete(f"/users/{gina}", params={"permanent": "true"})).status_code == 204
    hank = sim.state.add_user(f"hank-{tag}@contoso.example", display_name="Hank")
    changes, last = await pages(graph, delta_link)
    by_id = {u["id"]: u for u in changes}
    assert by_id[ids[erin]]["accountEnabled"] is False
    assert by_id[ids[frank]] == {"id": ids[frank], "@removed": {"reason": "changed"}}
    assert by_id[ids[gina]] == {"id": ids[gina], "@removed": {"reason": "deleted"}}
    assert by_id[hank["id"]]["displayName"] == "Hank"
    assert len(changes) == 4
    # Removed users are gone from Graph.
    assert (await graph.get(f"/users/{frank}")).status_code == 404
    again, _ = await pages(graph, last["@odata.deltaLink"])
    assert again == []


async def test_users_delta_latest_and_expired_tokens(graph: httpx.AsyncClient,
                                                     control: httpx.AsyncClient) -> None:
    latest = await graph.get("/users/delta", params={"$deltatoken": "latest"})
    assert latest.json()["value"] == [] and "@odata.deltaLink" in latest.json()
    await control.post("/delta/expire")
    gone = await graph.get(latest.json()["@odata.deltaLink"])
    assert gone.status_code == 410 and gone.json()["error"]["code"] == "SyncStateNotFound"


async def test_users_list_pages_with_top(graph: httpx.AsyncClient, sim: RunningSimulator) -> None:
    for n in range(5):
        sim.state.add_user(f"user{n}@contoso.example")
    users, _ = await pages(graph, "/users", params={"$top": "3"})
    home = [u["id"] for u in sim.state.users() if sim.state.tenancy.owner_of(u["id"], TENANT) == TENANT]
    assert [u["id"] for u in users] == home  # a user of another tenant is not listed to this one
    assert len(users) >= 7


@pytest_asyncio.fixture
async def places_graph(sim: RunningSimulator, ssl_ctx: ssl.SSLContext) -> AsyncIterator[httpx.AsyncClient]:
    sim.state.add_app(CLIENT_ID, CLIENT_SECRET, TENANT,
                      roles=["Calendars.ReadWrite", "User.Read.All", "Place.Read.All"])
    token = fetch_token(sim, ssl_ctx).json()["access_token"]
    async with httpx.AsyncClient(base_url=sim.graph_endpoint, verify=ssl_ctx,
                                 headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


async def test_places_lists_rooms_with_paging(places_graph: httpx.AsyncClient,
                                              sim: RunningSimulator) -> None:
    for n in range(3):
        sim.state.add_room(f"room{n}@contoso.example", f"Room {n}", capacity=4 + n,
                           building="HQ", floorNumber=n, isWheelchairAccessible=True)
    rooms, _ = await pages(places_graph, "/places/microsoft.graph.room", params={"$top": "2"})
    ours = [f"room{n}@contoso.example" for n in range(3)]  # rooms stay across tests: other tests' rooms may be listed
    rooms = [r for r in rooms if r["emailAddress"] in ours]
    assert [r["emailAddress"] for r in rooms] == ours
    first = rooms[0]
    assert first["@odata.type"] == "#microsoft.graph.room"
    assert first["displayName"] == "Room 0" and first["capacity"] == 4 and first["floorNumber"] == 0
    assert first["building"] == "HQ" and first["bookingType"] == "standard"
    assert first["isWheelchairAccessible"] is True
    # The SDK's spelling of the same resource.
    short = await places_graph.get("/places/graph.room")
    assert [r["emailAddress"] for r in short.json()["value"] if r["emailAddress"] in ours] == ours


async def test_places_needs_place_read_all(graph: httpx.AsyncClient) -> None:
    response = await graph.get("/places/microsoft.graph.room")
    assert response.status_code == 403
