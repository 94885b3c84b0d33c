"""The credential APIs through msgraph-sdk, the way the connector's rotation will call them:
read by appId, then act on the object id (the SDK has addPassword/addKey only under /applications/{id})."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import pytest_asyncio
from azure.identity.aio import ClientSecretCredential
from cryptography.hazmat.primitives import serialization
from kiota_authentication_azure.azure_identity_authentication_provider import AzureIdentityAuthenticationProvider
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.applications.item.add_key.add_key_post_request_body import AddKeyPostRequestBody
from msgraph.generated.applications.item.add_password.add_password_post_request_body import (
    AddPasswordPostRequestBody,
)
from msgraph.generated.applications.item.remove_password.remove_password_post_request_body import (
    RemovePasswordPostRequestBody,
)
from msgraph.generated.models.federated_identity_credential import FederatedIdentityCredential
from msgraph.generated.models.key_credential import KeyCredential
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.password_credential import PasswordCredential
from msgraph.generated.models.service_principal import ServicePrincipal
from msgraph_core import GraphClientFactory

from local.graphsim.server import RunningSimulator

from .credsdata import GRAPH_SCOPE, make_cert, new_app, proof, token_response
from .simdata import TENANT

OWNED_BY = "Application.ReadWrite.OwnedBy"


@pytest_asyncio.fixture
async def owned(sim: RunningSimulator) -> AsyncIterator[tuple[GraphServiceClient, str, str]]:
    """An app that may rotate its own secrets (OwnedBy, owner of itself), and its SDK client."""
    client_id, secret = new_app(sim, roles=[OWNED_BY])
    sim.state.creds.add_owner(client_id, owner_client_id=client_id)
    async with ClientSecretCredential(TENANT, client_id, secret, authority=sim.auth_endpoint,
                                      connection_verify=str(sim.ca_path)) as cred:
        http = GraphClientFactory.create_with_default_middleware(
            client=httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(sim.ca_path))))
        adapter = GraphRequestAdapter(AzureIdentityAuthenticationProvider(
            cred, scopes=[GRAPH_SCOPE], allowed_hosts=["127.0.0.1"]), client=http)
        adapter.base_url = sim.graph_endpoint
        yield GraphServiceClient(request_adapter=adapter), client_id, secret
        await http.aclose()


async def test_rotation_calls_through_the_sdk(sim: RunningSimulator,
                                              owned: tuple[GraphServiceClient, str, str]) -> None:
    client, client_id, secret = owned
    app = await client.applications_with_app_id(client_id).get()
    assert app is not None and app.id and app.password_credentials
    (initial,) = app.password_credentials
    assert initial.hint == secret[:3] and initial.secret_text is None
    end = datetime.now(UTC).replace(microsecond=0) + timedelta(days=180)
    created = await client.applications.by_application_id(app.id).add_password.post(AddPasswordPostRequestBody(
        password_credential=PasswordCredential(display_name="calendar-connector rotation", end_date_time=end)))
    assert created is not None and created.secret_text and created.end_date_time == end
    assert token_response(sim, client_id, client_secret=created.secret_text).status_code == 200
    await client.applications.by_application_id(app.id).remove_password.post(
        RemovePasswordPostRequestBody(key_id=initial.key_id))
    assert token_response(sim, client_id, client_secret=secret).json()["error_codes"] == [7000215]
    owners = await client.applications.by_application_id(app.id).owners.get()
    assert owners is not None and owners.value
    assert isinstance(owners.value[0], ServicePrincipal) and owners.value[0].app_id == client_id


async def test_add_key_and_federated_credentials_through_the_sdk(sim: RunningSimulator,
                                                                 owned: tuple[GraphServiceClient, str, str]) -> None:
    client, client_id, _ = owned
    key, cert = make_cert("current")
    sim.state.creds.add_key(client_id, cert)
    _, new_cert = make_cert("next")
    app = await client.applications_with_app_id(client_id).get()
    assert app is not None and app.id
    added = await client.applications.by_application_id(app.id).add_key.post(AddKeyPostRequestBody(
        key_credential=KeyCredential(type="AsymmetricX509Cert", usage="Verify",
                                     key=new_cert.public_bytes(serialization.Encoding.DER)),
        proof=proof(key, cert, app.id)))
    assert added is not None and added.key_id and added.end_date_time is not None
    fic = await client.applications.by_application_id(app.id).federated_identity_credentials.post(
        FederatedIdentityCredential(name="function-app", issuer=f"https://login.microsoftonline.com/{TENANT}/v2.0",
                                    subject="6c3e6d1a-0000-4000-8000-000000000001",
                                    audiences=["api://AzureADTokenExchange"]))
    assert fic is not None and fic.id
    listed = await client.applications.by_application_id(app.id).federated_identity_credentials.get()
    assert listed is not None and [f.name for f in listed.value or []] == ["function-app"]


async def test_a_refusal_reaches_the_sdk_as_odata_error(sim: RunningSimulator,
                                                        owned: tuple[GraphServiceClient, str, str]) -> None:
    client, client_id, _ = owned
    other, _ = new_app(sim)  # not owned by the caller
    target = sim.state.creds.public(other)["id"]
    with pytest.raises(ODataError) as refused:
        await client.applications.by_application_id(target).add_password.post(
            AddPasswordPostRequestBody(password_credential=PasswordCredential(display_name="x")))
    assert refused.value.response_status_code == 403
    assert refused.value.error is not None and refused.value.error.code == "Authorization_RequestDenied"
