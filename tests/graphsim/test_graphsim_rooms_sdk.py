"""The real msgraph-sdk against the room features: subscriptions, delta paging, users delta,
places."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import pytest_asyncio
from azure.identity.aio import ClientSecretCredential
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.subscription import Subscription
from msgraph.generated.users.delta.delta_request_builder import (
    DeltaRequestBuilder as UsersDeltaRequestBuilder,
)
from msgraph.generated.users.item.calendar_view.delta.delta_request_builder import DeltaRequestBuilder
from msgraph_core import GraphClientFactory

from local.graphsim.server import RunningSimulator

from .receiver import Receiver, running_receiver
from .simdata import ALICE, CLIENT_ID, CLIENT_SECRET, GRAPH_SCOPE, TENANT, event_body

pytestmark = pytest.mark.asyncio

ROOM = "room-sdk@contoso.example"
ROLES = ["Calendars.ReadWrite", "User.Read.All", "Place.Read.All"]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as rx:
        yield rx


@pytest_asyncio.fixture
async def client(sim: RunningSimulator, ssl_ctx: ssl.SSLContext) -> AsyncIterator[GraphServiceClient]:
    sim.state.add_app(CLIENT_ID, CLIENT_SECRET, TENANT, roles=ROLES)
    async with ClientSecretCredential(TENANT, CLIENT_ID, CLIENT_SECRET, authority=sim.auth_endpoint,
                                      connection_verify=str(sim.ca_path)) as cred:
        http = GraphClientFactory.create_with_default_middleware(
            client=httpx.AsyncClient(verify=ssl_ctx))
        auth = AzureIdentityAuthenticationProvider(cred, scopes=[GRAPH_SCOPE],
                                                   allowed_hosts=["127.0.0.1"])
        adapter = GraphRequestAdapter(auth, client=http)
        adapter.base_url = sim.graph_endpoint
        yield GraphServiceClient(request_adapter=adapter)
        await http.aclose()


async def test_subscription_create_renew_delete(client: GraphServiceClient, sim: RunningSimulator,
                                                receiver: Receiver) -> None:
    sim.state.add_room(ROOM, "SDK room")
    created = await client.subscriptions.post(Subscription(
        change_type="created,updated,deleted", notification_url=receiver.url("/api/graph/notifications"),
        lifecycle_notification_url=receiver.url("/api/graph/lifecycle"), resource=f"/users/{ROOM}/events",
        expiration_date_time=datetime.now(UTC) + timedelta(days=3), client_state="sdk-state"))
    assert created is not None and created.id
    assert created.client_state == "sdk-state" and created.application_id == CLIENT_ID
    assert len(receiver.validations) == 2
    until = datetime.now(UTC) + timedelta(days=6)
    renewed = await client.subscriptions.by_subscription_id(created.id).patch(
        Subscription(expiration_date_time=until))
    assert renewed is not None and renewed.expiration_date_time is not None
    assert abs(renewed.expiration_date_time - until) < timedelta(seconds=1)
    await client.subscriptions.by_subscription_id(created.id).reauthorize.post()
    await client.subscriptions.by_subscription_id(created.id).delete()
    with pytest.raises(ODataError) as gone:
        await client.subscriptions.by_subscription_id(created.id).get()
    assert gone.value.response_status_code == 404


async def test_calendar_view_delta_paging_with_the_sdk(client: GraphServiceClient,
                                                       sim: RunningSimulator) -> None:
    for day in range(2, 7):
        sim.state.outlook_create(ALICE, event_body(f"Day {day}", start=f"2025-06-0{day}T09:00:00",
                                                   end=f"2025-06-0{day}T10:00:00"))
    config = RequestConfiguration(query_parameters=DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(
        start_date_time="2025-06-01T00:00:00Z", end_date_time="2025-07-01T00:00:00Z"))
    config.headers.add("Prefer", "odata.maxpagesize=2")
    delta = client.users.by_user_id(ALICE).calendar_view.delta
    page = await delta.get(request_configuration=config)
    subjects = []
    while True:
        assert page is not None
        subjects += [e.subject for e in page.value or []]
        if not page.odata_next_link:
            break
        page = await delta.with_url(page.odata_next_link).get()
    assert subjects == [f"Day {d}" for d in range(2, 7)]
    assert page.odata_delta_link
    removed_id = sim.state.list_events(ALICE)[0].id
    sim.state.outlook_delete(ALICE, removed_id)
    later = await delta.with_url(page.odata_delta_link).get()
    assert later is not None and [e.id for e in later.value or []] == [removed_id]
    assert later.value[0].additional_data["@removed"] == {"reason": "deleted"}


async def test_users_delta_and_places_with_the_sdk(client: GraphServiceClient,
                                                   sim: RunningSimulator) -> None:
    sim.state.add_room(ROOM, "SDK room", capacity=6)
    config = RequestConfiguration(query_parameters=UsersDeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(
        select=["displayName", "accountEnabled"]))
    page = await client.users.delta.get(request_configuration=config)
    while page is not None and page.odata_next_link:
        page = await client.users.delta.with_url(page.odata_next_link).get()
    assert page is not None and page.odata_delta_link
    sim.state.update_user(ALICE, account_enabled=False)
    later = await client.users.delta.with_url(page.odata_delta_link).get()
    assert later is not None
    assert [(u.display_name, u.account_enabled) for u in later.value or []] == [("Alice Example", False)]
    rooms = await client.places.graph_room.get()
    assert rooms is not None
    sdk_room = next(r for r in rooms.value or [] if r.email_address == ROOM)
    assert sdk_room.capacity == 6 and sdk_room.display_name == "SDK room"
