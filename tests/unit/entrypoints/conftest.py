"""Trigger tests: every trigger is called as the Functions worker calls it, with a stub request, message or
timer, and gets its dependencies from ``entrypoints._deps``, replaced here by a container over fakes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import azure.functions as func
import pytest

import entrypoints._deps
from shared.app.messaging import OutboundMessage
from shared.bootstrap import Container
from shared.bootstrap.adapters import PeopleStores
from shared.bootstrap.lazy import Lazy
from tests.fakes.connections import FakeAuthority, InMemoryConnectAttempts, InMemoryConnectionStore, InMemoryWaitingWork
from tests.fakes.credentials import FakeTenantCredentialRows
from tests.fakes.operator import OPERATOR_TOKEN, StaticOperatorAuth
from tests.fakes.tenants import InMemoryTenantStore
from tests.support.credential_fakes import CredentialWorld
from tests.unit.rooms.fakes_rooms import RoomWorld


@dataclass
class Stage:
    """The fakes behind the container every trigger gets."""

    world: RoomWorld
    creds: CredentialWorld
    container: Container


@pytest.fixture
def stage(monkeypatch: pytest.MonkeyPatch) -> Stage:
    world, creds = RoomWorld(), CredentialWorld()
    container = world.services(credentials=creds.runtime())
    container.operator_auth = Lazy.given(StaticOperatorAuth())  # operator routes: tokens by role
    container.tenant_store = Lazy.given(InMemoryTenantStore())
    # People: connections and parked work in memory, Entra scripted.
    container.people_stores = Lazy.given(PeopleStores(InMemoryConnectionStore(), InMemoryConnectAttempts()))
    container.waiting = Lazy.given(InMemoryWaitingWork(world.queue))
    container.token_authority = Lazy.given(FakeAuthority())
    container.credential_rows = Lazy.given(FakeTenantCredentialRows(creds.lease))

    async def provider() -> Container:
        return container

    monkeypatch.setattr(entrypoints._deps, "provider", provider)
    return Stage(world, creds, container)


def user_function(trigger: Any) -> Callable[..., Any]:
    """The function the worker calls for a decorated trigger."""
    return trigger._function.get_user_function()  # type: ignore[no-any-return]


def request(method: str, url: str, body: bytes = b"", *, params: dict[str, str] | None = None,
            route_params: dict[str, str] | None = None, content_type: str | None = None,
            token: str | None = OPERATOR_TOKEN) -> func.HttpRequest:
    """A request as the host passes it on; operator routes read ``token`` (an operator's, unless said)."""
    headers = {"content-type": content_type} if content_type else {}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return func.HttpRequest(method, url, body=body, params=params or {}, route_params=route_params or {},
                            headers=headers)


def message(sent: OutboundMessage, delivery_count: int = 1) -> func.ServiceBusMessage:
    """What the Service Bus trigger binding hands the function for a message the connector queued."""
    from azure.functions.servicebus import ServiceBusMessage

    return ServiceBusMessage(body=sent.body, message_id=sent.message_id, session_id=sent.session_id,
                             delivery_count=delivery_count, content_type=sent.content_type,
                             application_properties=dict(sent.application_properties), user_properties={})


def timer(*, past_due: bool = False) -> func.TimerRequest:
    from azure.functions.timer import TimerRequest

    return TimerRequest(past_due=past_due)
