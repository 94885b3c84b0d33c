"""The simulator's directory listings answer per tenant, as Graph does: ``/users``, ``/users/delta`` and
``/places/microsoft.graph.room`` list only the users and rooms of the token's tenant (``tid``)."""

from __future__ import annotations

import ssl
import uuid

import httpx

from local.graphsim.server import RunningSimulator

from .simdata import ALICE, CLIENT_ID, CLIENT_SECRET, TENANT, fetch_token
from .test_graphsim_tenants import guest as guest  # noqa: F401 - the fixture
from .test_graphsim_tenants import token_in


def listed(sim: RunningSimulator, ssl_ctx: ssl.SSLContext, token: str, path: str) -> list[dict[str, object]]:
    items: list[dict[str, object]] = []
    url: str | None = f"{sim.graph_endpoint}{path}"
    with httpx.Client(verify=ssl_ctx) as client:
        while url:
            response = client.get(url, headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200, response.text
            items += response.json()["value"]
            url = response.json().get("@odata.nextLink")
    return items


def test_users_and_rooms_are_listed_to_their_own_tenant_only(sim: RunningSimulator, ssl_ctx: ssl.SSLContext,
                                                             guest: str) -> None:
    roles = ["Calendars.ReadWrite", "User.Read.All", "Place.Read.All"]
    sim.state.add_app(CLIENT_ID, CLIENT_SECRET, TENANT, roles=roles)
    tag = uuid.uuid4().hex[:6]
    person, room = f"mira-{tag}@fabrikam.example", f"room-{tag}@fabrikam.example"
    sim.state.tenancy.assign(sim.state.add_user(person)["id"], guest)
    sim.state.add_room(room, f"Room {tag}")
    sim.state.tenancy.assign(sim.state.find_user(room)["id"], guest)
    guest_token = token_in(sim, ssl_ctx, guest).json()["access_token"]
    home_token = fetch_token(sim, ssl_ctx).json()["access_token"]

    def mails(token: str, path: str) -> set[str]:
        return {str(u.get("userPrincipalName") or u.get("emailAddress")).lower() for u in listed(sim, ssl_ctx, token,
                                                                                                  path)}

    for path in ("/users", "/users/delta"):
        theirs, ours = mails(guest_token, path), mails(home_token, path)
        assert person in theirs and ALICE.lower() not in theirs
        assert ALICE.lower() in ours and person not in ours
    theirs, ours = mails(guest_token, "/places/microsoft.graph.room"), mails(home_token, "/places/microsoft.graph.room")
    assert theirs == {room} and room not in ours
