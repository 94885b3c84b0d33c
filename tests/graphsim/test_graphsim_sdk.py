"""The real azure-identity and msgraph-sdk run unchanged against the simulator."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import httpx
import jwt
import pytest
import pytest_asyncio
from azure.core.exceptions import ClientAuthenticationError
from azure.identity.aio import ClientSecretCredential
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.body_type import BodyType
from msgraph.generated.models.date_time_time_zone import DateTimeTimeZone
from msgraph.generated.models.event import Event
from msgraph.generated.models.item_body import ItemBody
from msgraph.generated.models.location import Location
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.single_value_legacy_extended_property import (
    SingleValueLegacyExtendedProperty,
)
from msgraph.generated.users.item.events.events_request_builder import EventsRequestBuilder
from msgraph.generated.users.item.events.item.event_item_request_builder import (
    EventItemRequestBuilder,
)
from msgraph_core import GraphClientFactory

from local.graphsim.server import RunningSimulator

from .simdata import ALICE, CLIENT_ID, CLIENT_SECRET, GRAPH_SCOPE, TENANT

pytestmark = pytest.mark.asyncio

PROP_ID = "String {66f5a359-4659-4830-9070-00040ec6ac6e} Name PlanningId"


def credential(sim: RunningSimulator, secret: str = CLIENT_SECRET) -> ClientSecretCredential:
    return ClientSecretCredential(
        TENANT, CLIENT_ID, secret,
        authority=sim.auth_endpoint,  # host of the simulator instead of login.microsoftonline.com
        connection_verify=str(sim.ca_path),  # aiohttp reads SSL_CERT_FILE only at import time
    )


@pytest_asyncio.fixture
async def sdk(sim: RunningSimulator,
              ssl_ctx: ssl.SSLContext) -> AsyncIterator[tuple[GraphServiceClient, list[httpx.Request]]]:
    sent: list[httpx.Request] = []

    async def record(request: httpx.Request) -> None:
        sent.append(request)

    async with credential(sim) as cred:
        http = GraphClientFactory.create_with_default_middleware(
            client=httpx.AsyncClient(verify=ssl_ctx, event_hooks={"request": [record]}))
        auth = AzureIdentityAuthenticationProvider(
            cred, scopes=[GRAPH_SCOPE], allowed_hosts=["127.0.0.1"])
        adapter = GraphRequestAdapter(auth, client=http)
        adapter.base_url = sim.graph_endpoint
        yield GraphServiceClient(request_adapter=adapter), sent
        await http.aclose()


async def test_client_secret_credential_gets_a_graph_token_from_the_simulator(
        sim: RunningSimulator) -> None:
    async with credential(sim) as cred:
        token = await cred.get_token(GRAPH_SCOPE)
    claims = jwt.decode(token.token, options={"verify_signature": False})
    assert claims["aud"] == "https://graph.microsoft.com"
    assert claims["tid"] == TENANT
    assert claims["appid"] == CLIENT_ID
    assert claims["roles"] == ["Calendars.ReadWrite", "User.Read.All"]
    assert jwt.get_unverified_header(token.token)["alg"] == "RS256"


async def test_a_wrong_secret_raises_client_authentication_error_without_echoing_it(
        sim: RunningSimulator) -> None:
    wrong = "not-the-right-secret-4711"
    async with credential(sim, secret=wrong) as cred:
        with pytest.raises(ClientAuthenticationError) as info:
            await cred.get_token(GRAPH_SCOPE)
    text = str(info.value)
    assert "AADSTS7000215" in text
    assert wrong not in text
    body = info.value.response.text() if info.value.response is not None else ""
    assert wrong not in body and CLIENT_SECRET not in body


async def test_the_sdk_creates_reads_filters_patches_and_deletes_an_event(sdk) -> None:
    client, sent = sdk
    events = client.users.by_user_id(ALICE).events
    created = await events.post(Event(
        subject="Sprint review",
        body=ItemBody(content_type=BodyType.Html, content="<p>Demo</p>"),
        start=DateTimeTimeZone(date_time="2025-06-02T09:00:00", time_zone="Europe/Berlin"),
        end=DateTimeTimeZone(date_time="2025-06-02T10:00:00", time_zone="Europe/Berlin"),
        location=Location(display_name="Room 1"),
        transaction_id="tx-sdk-1",
        single_value_extended_properties=[
            SingleValueLegacyExtendedProperty(id=PROP_ID, value="plan-42")],
    ))
    assert created is not None and created.id
    assert created.start.time_zone == "Europe/Berlin"
    assert created.single_value_extended_properties is None
    assert all(r.headers.get("authorization", "").startswith("Bearer ") for r in sent)

    expand = [f"singleValueExtendedProperties($filter=id eq '{PROP_ID}')"]
    got = await events.by_event_id(created.id).get(request_configuration=RequestConfiguration(
        query_parameters=EventItemRequestBuilder.EventItemRequestBuilderGetQueryParameters(
            expand=expand)))
    assert got.subject == "Sprint review"
    assert [(p.id, p.value) for p in got.single_value_extended_properties] == [
        (PROP_ID, "plan-42")]
    assert got.start.date_time.startswith("2025-06-02T07:00:00")  # UTC by default

    found = await events.get(request_configuration=RequestConfiguration(
        query_parameters=EventsRequestBuilder.EventsRequestBuilderGetQueryParameters(
            filter=f"singleValueExtendedProperties/Any(ep: ep/id eq '{PROP_ID}' "
                   "and ep/value eq 'PLAN-42')",
            expand=expand)))
    assert [e.id for e in found.value] == [created.id]

    patched = await events.by_event_id(created.id).patch(Event(subject="Sprint review (moved)"))
    assert patched.subject == "Sprint review (moved)"
    assert patched.change_key != created.change_key

    await events.by_event_id(created.id).delete()
    with pytest.raises(ODataError) as info:
        await events.by_event_id(created.id).get()
    assert info.value.response_status_code == 404
    assert info.value.error.code == "ErrorItemNotFound"
    assert all(r.headers.get("authorization", "").startswith("Bearer ") for r in sent)


async def test_the_sdk_sends_no_token_when_the_simulator_host_is_not_allowed(
        sim: RunningSimulator, ssl_ctx: ssl.SSLContext) -> None:
    async with credential(sim) as cred:
        http = GraphClientFactory.create_with_default_middleware(
            client=httpx.AsyncClient(verify=ssl_ctx))
        # The library default allows only graph.microsoft.com and national clouds.
        auth = AzureIdentityAuthenticationProvider(cred, scopes=[GRAPH_SCOPE],
                                                   allowed_hosts=["graph.microsoft.com"])
        adapter = GraphRequestAdapter(auth, client=http)
        adapter.base_url = sim.graph_endpoint
        client = GraphServiceClient(request_adapter=adapter)
        with pytest.raises(ODataError) as info:
            await client.users.by_user_id(ALICE).get()
        await http.aclose()
    assert info.value.response_status_code == 401
    assert info.value.error.code == "InvalidAuthenticationToken"
